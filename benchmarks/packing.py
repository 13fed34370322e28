"""Trial packing: one 64-trial `rbm_ising` (or `ising_mc`) sweep end to end at several `pack.size`s.

`pack.size=P` groups trials that differ only in packable keys (here seed and data.temperature) into
packs of up to P, each run as ONE Ray task that trains its members as one batched model (each still
its own MLflow child run); `pack.size=1` is one trial per task. This runs the same sweep through the
real CLI at each size, one after the other in the same run:

    phasesweep -m experiment=rbm_ising data.L=8 model.width=16 \\
        data.temperature=1.8,2.2,2.6,3.0 seed='range(0,16)' pack.size=P [--quick …] [-- extra overrides]

(`--experiment ising_mc`: `experiment=ising_mc data.L=8 data.algorithm=metropolis`, the same
temperatures and seeds, Metropolis chains being what packs) and times each sweep from process
launch to exit (imports, Ray start-up, the MLflow run tree, the training, the sweep analysis and
the shutdown all count). Each sweep runs in a fresh temporary working directory with its own
sqlite store (`mlflow.db`), as a new user's; afterwards the store is read back and the sweep must
have exited 0 and left one FINISHED child run per trial, else this
script exits non-zero after printing the table.

The data cache: every size trains on the same Ising samples, so all runs share one data cache
(`PHASESWEEP_CACHE`, a temporary directory) and one cheap, untimed warm-up sweep (the same data
overrides, a single training step, tiny sampling) fills it first: generating the training data is
not timed, only what packing changes. The table prints, per size, the Ray tasks the trials ran in
(distinct `phasesweep.pack` tags of the child runs; an untagged run is its own task), the wall time,
trials per hour and their ratio to pack.size=1's (to the smallest size's when 1 is not run), the
exit code and the FINISHED child runs (runs with `tags.mlflow.parentRunId`, read back from the store).
Absolute times on a shared machine are noise and depend on its cores; the ratio is the measurement.

    python benchmarks/packing.py                                   # sizes 1, 16, 64
    python benchmarks/packing.py --sizes 1,4,16,64,256 --gpus 0.5   # a scaling table on a GPU
    python benchmarks/packing.py --quick --seeds 4 --sizes 1,4      # smoke run, a couple of minutes
    python benchmarks/packing.py --experiment ising_mc --seeds 64 --sizes 1,4,16,64,256
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPERATURES = (1.8, 2.2, 2.6, 3.0)
EXPERIMENTS = {
    "rbm_ising": ["experiment=rbm_ising", "data.L=8", "model.width=16"],
    "ising_mc": ["experiment=ising_mc", "data.L=8", "data.algorithm=metropolis"],
}
"""What each experiment's sweep fixes, before the temperatures, seeds and `pack.size`."""
DESCRIBED = {"rbm_ising": "rbm_ising (L=8, width 16)", "ising_mc": "ising_mc (L=8, Metropolis)"}
QUICK = ["train.steps=200", "train.observe_every=50", "train.sample_chains=500", "train.sample_steps=100"]
WARMUP = [
    "train.steps=1",
    "train.observe_every=1",
    "train.checkpoint_every=1",
    "train.sample_chains=16",
    "train.sample_steps=1",
    "analysis.watch=[]",
]


def cli() -> list[str]:
    """The `phasesweep` console script of this interpreter's environment, else its module."""
    script = Path(sys.executable).with_name("phasesweep")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipelines.main"]


def merge(*groups: list[str]) -> list[str]:
    """Overrides in order, a later one of the same key replacing an earlier one in place."""
    out: dict[str, str] = {}
    for override in (o for group in groups for o in group):
        out[override.split("=", 1)[0]] = override
    return list(out.values())


def sweep_overrides(experiment: str, seeds: int, size: int | str, gpus: float, extra: list[str]) -> list[str]:
    base = [
        *EXPERIMENTS[experiment],
        f"data.temperature={','.join(f'{t:g}' for t in TEMPERATURES)}",
        f"seed=range(0,{seeds})",
        f"resources.gpus={gpus:g}",
    ]
    return merge(base, extra, [f"pack.size={size}"])


def env(cache: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI")}
    out["PHASESWEEP_CACHE"] = str(cache)
    return out


def run_sweep(overrides: list[str], cache: Path, trials: int, keep: bool) -> dict:
    """One sweep in a fresh working directory: wall seconds, exit code, FINISHED child runs, log tail."""
    from mlflow.tracking import MlflowClient

    cwd = Path(tempfile.mkdtemp(prefix="packing-bench-"))
    try:
        with open(cwd / "stdout.log", "w") as so, open(cwd / "stderr.log", "w") as se:
            start = time.perf_counter()
            rc = subprocess.run([*cli(), "-m", *overrides], cwd=cwd, env=env(cache), stdout=so, stderr=se).returncode
            wall = time.perf_counter() - start
        finished, children, packs = 0, 0, 0
        db = cwd / "mlflow.db"
        if db.exists():
            client = MlflowClient(tracking_uri=f"sqlite:///{db}")
            ids = [e.experiment_id for e in client.search_experiments()]
            runs = client.search_runs(ids, max_results=10_000) if ids else []
            kids = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
            children, finished = len(kids), sum(r.info.status == "FINISHED" for r in kids)
            packs = len({r.data.tags.get("phasesweep.pack", r.info.run_id) for r in kids})
        tail = ""
        if rc != 0 or finished != trials:
            tail = (cwd / "stdout.log").read_text()[-2000:] + "\n" + (cwd / "stderr.log").read_text()[-3000:]
        return {"wall": wall, "rc": rc, "children": children, "finished": finished, "packs": packs, "tail": tail}
    finally:
        if keep:
            print(f"  (kept {cwd})")
        else:
            shutil.rmtree(cwd, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", choices=sorted(EXPERIMENTS), default="rbm_ising", help="what the sweep runs")
    parser.add_argument("--sizes", default="1,16,64", help="comma list of pack.size values (ints or auto)")
    parser.add_argument("--seeds", type=int, default=16, help="seeds per temperature (trials = 4 × seeds)")
    parser.add_argument("--quick", action="store_true", help="shrink each rbm_ising trial: " + " ".join(QUICK))
    parser.add_argument("--gpus", type=float, default=0.0, help="resources.gpus of every run (per pack task)")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed run that fills the data cache")
    parser.add_argument("--keep", action="store_true", help="keep each run's working directory")
    parser.add_argument("extra", nargs="*", help="Hydra overrides after `--`, appended to every run")
    args = parser.parse_args()

    sizes: list[int | str] = [s if s == "auto" else int(s) for s in args.sizes.split(",") if s]
    if any(s != "auto" and s < 1 for s in sizes):
        sys.exit("--sizes: every pack.size must be an integer ≥ 1 or auto")
    trials = len(TEMPERATURES) * args.seeds
    quick = args.quick and args.experiment == "rbm_ising"
    extra = merge(QUICK if quick else [], args.extra)
    warmup = WARMUP if args.experiment == "rbm_ising" else []
    cache = Path(tempfile.mkdtemp(prefix="packing-cache-"))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs here; {trials} trials a sweep; data cache {cache}")
    shown = sweep_overrides(args.experiment, args.seeds, "P", args.gpus, extra)
    print(f"command: {' '.join(cli())} -m {' '.join(shown)}")
    try:
        if warmup and not args.no_warmup:  # (ising_mc reads no data cache)
            overrides = sweep_overrides(args.experiment, args.seeds, "auto", args.gpus, merge(extra, warmup))
            warm = run_sweep(overrides, cache, trials, False)
            print(f"  warm-up (untimed, {' '.join(warmup)}): {warm['wall']:.1f} s, exit {warm['rc']}")
            if warm["rc"] != 0:
                sys.exit(f"the warm-up sweep exited {warm['rc']}:\n{warm['tail']}")
        results = {}
        for size in sizes:
            overrides = sweep_overrides(args.experiment, args.seeds, size, args.gpus, extra)
            results[size] = r = run_sweep(overrides, cache, trials, args.keep)
            print(f"  pack.size={size}: {r['wall']:.1f} s, exit {r['rc']}, {r['finished']}/{trials} FINISHED")
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    ints = [s for s in sizes if s != "auto"]
    ref = 1 if 1 in sizes else (min(ints) if ints else sizes[0])
    ref_rate = trials / results[ref]["wall"] * 3600
    warmed = "data cache not warmed (--no-warmup)" if args.no_warmup else "data cache warmed first"
    warmed = warmed if warmup else "no data cache"
    print(f"\n{trials} trials of {DESCRIBED[args.experiment]}{', --quick' if quick else ''}; {warmed}")
    print(f"  {'pack.size':>9} {'tasks':>6} {'wall':>9} {'trials/h':>10} {f'× size={ref}':>10} {'exit':>5} FINISHED")
    bad = []
    for size, r in results.items():
        rate = trials / r["wall"] * 3600
        ok = r["rc"] == 0 and r["finished"] == trials
        print(
            f"  {size!s:>9} {r['packs']:>6} {r['wall']:8.1f}s {rate:10.0f} {rate / ref_rate:10.2f} {r['rc']:>5} "
            f"{r['finished']:>4}/{trials}{'' if ok else '  FAIL'}"
        )
        if not ok:
            bad.append(size)
    for size in bad:
        r = results[size]
        print(f"\npack.size={size}: exit {r['rc']}, {r['finished']}/{r['children']} child runs FINISHED:")
        print(r["tail"])
    if bad:
        sys.exit(f"FAIL: pack.size {', '.join(map(str, bad))} did not finish {trials} child runs cleanly")


if __name__ == "__main__":
    main()
