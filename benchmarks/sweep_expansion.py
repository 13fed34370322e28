"""Composing and checking a sweep's trials: `pipelines.expand` against Hydra composing every trial.

Hydra's basic sweeper composes each trial to check it, and a launcher that composes each trial again
pays the same; `Expansion` composes once per structure and assigns the values. Both sides run here on
the same grid, in the same process: the per-trial path on a sample of trials (it is linear in their
number), the expansion on all of them. The goal (issue 19) is 10,000 trials in at most 5 s.

    python benchmarks/sweep_expansion.py                 # 10,000 seeds, about 30 s
    python benchmarks/sweep_expansion.py --trials 2000 --sample 20
"""

from __future__ import annotations

import argparse
import time

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from pipelines.expand import Expansion
from pipelines.main import CONF_DIR
from pipelines.spec import build_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=40, help="trials composed one by one, for their rate")
    args = parser.parse_args()
    jobs = [["experiment=rbm_ising", f"seed={s}", f"model.width={8 + s % 3}"] for s in range(args.trials)]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        repository = GlobalHydra.instance().config_loader().repository

        def compose_trial(overrides, job_num):
            return compose(config_name="config", overrides=list(overrides))

        start = time.perf_counter()
        for job in jobs[: args.sample]:
            build_spec(compose_trial(job, 0), job)  # compose, validate, and build the spec
        per_trial = (time.perf_counter() - start) / args.sample

        start = time.perf_counter()
        trials = Expansion(jobs, compose_trial, lambda key: repository.group_exists(key.replace(".", "/")))
        trials.validate()
        checked = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(args.sample):
            trials.spec(i)
        spec_s = (time.perf_counter() - start) / args.sample

    every = per_trial * args.trials
    print(f"{args.trials:,} trials, {len(trials.groups())} structure(s)")
    print(f"  Hydra per trial   {per_trial * 1e3:8.1f} ms/trial  -> {every:8.1f} s for all (from {args.sample})")
    print(f"  expansion check   {checked / args.trials * 1e3:8.3f} ms/trial  -> {checked:8.2f} s for all")
    print(f"  ratio             {every / checked:8.0f}x faster")
    print(f"  a trial's spec, built when it is queued: {spec_s * 1e3:.1f} ms")
    print(f"  goal: <= 5 s for 10,000 trials: {'met' if checked * 10_000 / args.trials <= 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
