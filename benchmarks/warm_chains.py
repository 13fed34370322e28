"""Warm-started measurement chains against fresh ones, on the same models along training.

`rbm_ising` trials (the experiment's own config, default steps) train with `train.sample_warm_steps`
> 0, so each observe after the first continues the previous observe's chains. At every observe the same
model is also measured the old way, with `sample_chains` fresh chains after `sample_steps` Gibbs steps,
drawn from a separate generator so the trial itself is untouched. For each observable O with standard
error s it prints z = (O_warm − O_fresh) / √(s_warm² + s_fresh²) over all observes: if warm starts are as
good as fresh chains, z is about standard normal (mean ≈ 0, sd ≈ 1, |z| > 3 rare), and the errors
themselves agree (ratio s_warm / s_fresh ≈ 1). It also prints the Gibbs steps an observe used and the
time of a warm against a fresh measurement, side by side in the same run.

    python benchmarks/warm_chains.py                          # T = 2.0, 2.269, 2.8; 3 seeds; ≈ 6 min
    python benchmarks/warm_chains.py --seeds 1 --temperatures 2.269 -- train.steps=300
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import torch
from hydra import compose, initialize_config_dir

import pipelines.schema  # noqa: F401  (registers the schemas)
from pipelines.main import CONF_DIR
from pipelines.spec import build_spec
from workers.families.rbm.family import RBMFamily, spin_observables

OBSERVABLES = ("energy", "abs_magnetization", "specific_heat", "susceptibility", "binder")


def fresh_measurement(trial: RBMFamily, seed: int) -> tuple[dict[str, float], float]:
    """The model's observables from fresh chains, as with `sample_warm_steps=0`, on a separate generator
    (seeded anew from `seed`, so successive fresh measurements are independent of each other)."""
    saved, measure = trial.generator.get_state(), trial.measure
    trial.generator.manual_seed(seed)
    steps, trial.cfg.sample_warm_steps = trial.cfg.sample_warm_steps, 0
    start = time.perf_counter()
    v, _, _ = trial.model_samples()
    seconds = time.perf_counter() - start
    trial.cfg.sample_warm_steps, trial.measure = steps, measure
    trial.generator.set_state(saved)
    return spin_observables(v, trial.L, trial.T, "model"), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[2.0, 2.269, 2.8])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--warm", type=int, default=None, help="sample_warm_steps (default: the experiment's)")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, after --")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cache = tempfile.mkdtemp(prefix="warm-chains-cache-")
    z: dict[str, list[float]] = {o: [] for o in OBSERVABLES}
    ratio: dict[str, list[float]] = {o: [] for o in OBSERVABLES}
    used, t_warm, t_fresh = [], [], []
    for T in args.temperatures:
        for seed in range(args.seeds):
            overrides = ["experiment=rbm_ising", f"data.temperature={T}", f"seed={seed}", f"data.cache_dir={cache}"]
            overrides += [f"train.sample_warm_steps={args.warm}"] if args.warm is not None else []
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
                cfg = compose("config", overrides=overrides + args.overrides)
            spec = build_spec(cfg, overrides)
            if not spec.train.sample_warm_steps:
                raise SystemExit("train.sample_warm_steps is 0: nothing warm to compare (pass --warm N)")
            trial = RBMFamily(spec, torch.device("cpu"))
            every, last = spec.train.observe_every, spec.train.steps - 1
            for step in range(spec.train.steps):
                trial.step(step)
                if step % every and step != last:
                    continue
                fresh, seconds = fresh_measurement(trial, 10**6 + 10**4 * seed + step)
                start = time.perf_counter()
                warm = trial.observe(step)
                t_warm.append(time.perf_counter() - start)
                if "chain/drift_z" not in warm:
                    continue  # the first observe is fresh in both
                t_fresh.append(seconds)
                used.append(warm["chain/steps"])
                for o in OBSERVABLES:
                    a, b = warm[f"obs/model_{o}"], fresh[f"obs/model_{o}"]
                    sa, sb = warm[f"obs/model_{o}_err"], fresh[f"obs/model_{o}_err"]
                    z[o].append((a - b) / max(np.hypot(sa, sb), 1e-12))
                    ratio[o].append(sa / sb if sb > 0 else 1.0)
            print(f"T={T} seed={seed}: {len(used)} warm observes so far", flush=True)
    print(f"\nwarm (sample_warm_steps={spec.train.sample_warm_steps}) against fresh "
          f"({spec.train.sample_chains} chains, {spec.train.sample_steps} steps), {len(used)} observes")
    print(f"{'observable':<20s} {'mean z':>8s} {'sd z':>6s} {'max |z|':>8s} {'|z|>3':>6s} {'err ratio':>10s}")
    for o in OBSERVABLES:
        values = np.array(z[o])
        print(f"{o:<20s} {values.mean():8.2f} {values.std(ddof=1):6.2f} {np.abs(values).max():8.2f} "
              f"{int((np.abs(values) > 3).sum()):6d} {statistics.median(ratio[o]):10.3f}")
    print(f"Gibbs steps per warm observe: median {statistics.median(used):.0f}, mean {np.mean(used):.0f}, "
          f"max {max(used):.0f} (fresh: {spec.train.sample_steps})")
    print(f"whole observe, warm: median {statistics.median(t_warm):.3f} s; fresh sampling alone: "
          f"median {statistics.median(t_fresh):.3f} s")


if __name__ == "__main__":
    main()
