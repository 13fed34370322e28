"""One `phasesweep experiment=rbm_ising` trial, launch to exit: the working tree against a base commit.

A user's first command is a single trial, in-process (no -m, no Ray); its wall time is what they
wait for. This times it from process launch to exit, in a fresh temporary working directory each
time (a new sqlite store, as a new user's), for the code of the working tree ("head") and of a
base commit (`--base`, default f7da238), interleaved A/B (base, head, base, head, …) so that a
change of load on a shared machine hits both sides alike, and prints each side's median and the
ratio head/base next to the acceptance target (≤ 0.60). Times are wall-clock; no assertion.

How the base runs: `git worktree add --detach <tmp> <base>` checks it out (removed again at the end,
`git worktree remove --force`). Both sides run with the SAME interpreter (this venv's python) as
`python -m pipelines.main experiment=rbm_ising …` from the temporary working directory, each with its
own tree first on PYTHONPATH (the head's is /work/main-style: the repository root). The venv holds
the project as a setuptools editable install pointing at the repository; its finder sits after the
regular path finder, so PYTHONPATH wins: before timing, the script imports `pipelines`, `workers`,
`models` and `hydra_plugins.phasesweep` under each side's environment, prints where they resolved,
and stops if any resolved outside that side's tree. `pipelines.main` finds `conf/` next to its own
file, so each side also reads its own configs. One leak remains: `hydra_plugins` is a namespace
package, and the editable install adds the repository's `hydra_plugins/` to it, so a plugin module
that only the head has would be visible to the base as well; the script warns if there is one.

The data cache: `data.cache_dir` is `${PHASESWEEP_CACHE}`; each side gets its own cache directory,
and one untimed warm-up run of each side (`--warmup`, default 1) fills it and the OS's file cache
before the timed runs, so every timed run reads cached training data (a separate directory per side,
so a changed cache format of the head cannot hand it the base's files or fail on them). `--cold`
gives every timed run an empty cache instead: the data is generated each time, as on a first run.

    python benchmarks/single_trial.py                     # 3 + 3 timed runs and 2 warm-ups: ≈ 6 min
    python benchmarks/single_trial.py --repeats 1                  # ≈ 3.5 min
    python benchmarks/single_trial.py --cold --overrides train.steps=200
"""

from __future__ import annotations

import argparse
import os
import pkgutil
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.60

WHERE = """
import importlib, json
mods = ["pipelines", "workers", "models", "hydra_plugins.phasesweep", "pipelines.main"]
out = {m: importlib.import_module(m).__file__ for m in mods}
import hydra_plugins
out["hydra_plugins.__path__"] = list(hydra_plugins.__path__)
out["CONF_DIR"] = str(importlib.import_module("pipelines.main").CONF_DIR)
print(json.dumps(out))
"""


def side_env(tree: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI", "PYTHONPATH")}
    env["PYTHONPATH"] = str(tree)
    env["PHASESWEEP_CACHE"] = str(cache)
    return env


def verify(name: str, tree: Path, env: dict[str, str]) -> None:
    """Stop unless the project's packages import from `tree` under `env`; print where they resolved."""
    import json

    with tempfile.TemporaryDirectory(prefix="where-") as cwd:
        out = subprocess.run([sys.executable, "-c", WHERE], cwd=cwd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{name}: importing the project failed:\n{out.stderr[-3000:]}")
    where = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"  {name:<4} PYTHONPATH={tree}")
    for key, path in where.items():
        print(f"       {key} -> {path}")
    for key, path in where.items():
        if key != "hydra_plugins.__path__" and not Path(path).resolve().is_relative_to(tree.resolve()):
            sys.exit(f"{name}: {key} resolved to {path}, outside {tree}: the timing would not be of {name}'s code")


def plugin_modules(tree: Path) -> set[str]:
    return {m.name for m in pkgutil.iter_modules([str(tree / "hydra_plugins")])}


def run_once(tree: Path, cache: Path, overrides: list[str]) -> tuple[float, float | None]:
    """One trial in a fresh working directory: (launch → exit seconds, the MLflow run's own duration)."""
    from mlflow.tracking import MlflowClient

    cwd = Path(tempfile.mkdtemp(prefix="single-trial-"))
    try:
        cmd = [sys.executable, "-m", "pipelines.main", "experiment=rbm_ising", *overrides]
        start = time.perf_counter()
        out = subprocess.run(cmd, cwd=cwd, env=side_env(tree, cache), capture_output=True, text=True)
        wall = time.perf_counter() - start
        if out.returncode != 0:
            sys.exit(
                f"{' '.join(cmd)} (PYTHONPATH={tree}) exited {out.returncode}:\n{out.stdout[-3000:]}\n"
                f"{out.stderr[-3000:]}"
            )
        run_s = None
        db = cwd / "mlflow.db"
        if db.exists():
            client = MlflowClient(tracking_uri=f"sqlite:///{db}")
            runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
            if len(runs) == 1 and runs[0].info.end_time:
                run_s = (runs[0].info.end_time - runs[0].info.start_time) / 1e3
        return wall, run_s
    finally:
        shutil.rmtree(cwd, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="f7da238", help="commit to compare the working tree against")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side, interleaved")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs of each side first")
    parser.add_argument("--cold", action="store_true", help="an empty data cache for every timed run")
    parser.add_argument("--overrides", nargs="*", default=[], help="extra overrides for both sides")
    args = parser.parse_args()

    base_commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", args.base], capture_output=True, text=True, check=True
    ).stdout.strip()
    head_commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    status = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True)
    changed = [line[3:] for line in status.stdout.splitlines() if not line[3:].startswith("benchmarks/")]
    tmp = Path(tempfile.mkdtemp(prefix="single-trial-bench-"))
    worktree = tmp / "base"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(worktree), args.base],
        check=True,
        capture_output=True,
    )
    try:
        sides = {"base": worktree, "head": REPO}
        caches = {name: tmp / f"cache-{name}" for name in sides}
        edits = f"HEAD {head_commit} + {len(changed)} changed file(s) outside benchmarks/" if changed else "clean"
        print(f"base {base_commit} (worktree {worktree}) vs head: the working tree {REPO} ({edits})")
        print(f"command: {Path(sys.executable)} -m pipelines.main experiment=rbm_ising {' '.join(args.overrides)}")
        for name, tree in sides.items():
            verify(name, tree, side_env(tree, caches[name]))
        leaked = plugin_modules(REPO) - plugin_modules(worktree)
        if leaked:
            print(f"  warning: hydra_plugins.{', '.join(sorted(leaked))} of the head is visible to the base too")

        for i in range(args.warmup):
            for name, tree in sides.items():
                wall, _ = run_once(tree, caches[name], args.overrides)
                print(f"  warm-up {i + 1} {name}: {wall:6.2f} s")
        times: dict[str, list[float]] = {name: [] for name in sides}
        runs: dict[str, list[float]] = {name: [] for name in sides}
        for i in range(args.repeats):
            for name, tree in sides.items():
                cache = caches[name]
                if args.cold:
                    shutil.rmtree(cache, ignore_errors=True)
                wall, run_s = run_once(tree, cache, args.overrides)
                times[name].append(wall)
                if run_s is not None:
                    runs[name].append(run_s)
                inside = f"   (MLflow run {run_s:6.2f} s)" if run_s is not None else ""
                print(f"  run {i + 1} {name}: {wall:6.2f} s{inside}")

        med = {name: statistics.median(t) for name, t in times.items()}
        print(
            f"\ndata cache: {'empty for every timed run (cold)' if args.cold else 'warm, one per side'}; "
            f"{args.repeats} timed run(s) a side"
        )
        print(f"  {'':<28} {'base':>8} {'head':>8} {'head/base':>10}")
        print(
            f"  {'wall, launch → exit (median)':<28} {med['base']:7.2f}s {med['head']:7.2f}s "
            f"{med['head'] / med['base']:10.3f}"
        )
        if all(runs.values()):
            rb, rh = statistics.median(runs["base"]), statistics.median(runs["head"])
            print(f"  {'  inside the MLflow run':<28} {rb:7.2f}s {rh:7.2f}s {rh / rb:10.3f}")
            print(
                f"  {'  outside it':<28} {med['base'] - rb:7.2f}s {med['head'] - rh:7.2f}s "
                f"{(med['head'] - rh) / (med['base'] - rb):10.3f}"
            )
        ratio = med["head"] / med["base"]
        print(f"  target: head/base ≤ {TARGET_RATIO:.2f}: {ratio:.3f}  {'PASS' if ratio <= TARGET_RATIO else 'FAIL'}")
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
