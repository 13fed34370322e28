"""Trials an adaptive sweep needs to locate T_c against a uniform grid, side by side in one run.

The setup of `conf/sweep/ising_tc_adaptive.yaml`: Binder crossing of L = 8 and 16, three seeds, T in
[1.8, 3.0], target CI half-width 0.01, the crossing fitted by least squares near it. First the adaptive
sweep runs (`phasesweep +sweep=ising_tc_adaptive`); then uniform grids over the same range, each with
twice the density of the one before (5, 9, 17, 33, 65 temperatures: nested, so a denser grid continues
the sparser one's sweep and only its new temperatures run), until one reaches the same half-width.
Prints both trial counts, their ratio, the walls and the estimates.

    python benchmarks/adaptive_binder.py                  # ~20-40 min on 2 cores
    python benchmarks/adaptive_binder.py --quick          # shorter chains, target 0.02 (~5 min)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

T_C = 2.269185


def run(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(["phasesweep", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"phasesweep {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def binder_estimate(cwd: Path, sweep_name: str) -> tuple[float, float, int, bool]:
    """(location, CI half-width, trials, fitted) of the sweep's Binder crossing, read back from MLflow;
    `fitted` is False where the crossing was interpolated (too few points in the fit window), whose CI
    leaves out the interpolation's bias and so does not count as reaching a half-width."""
    from mlflow.tracking import MlflowClient

    from workers import tracking

    client = MlflowClient(tracking_uri=f"sqlite:///{cwd / 'mlflow.db'}")
    ids = [e.experiment_id for e in client.search_experiments()]
    parent = tracking.find_sweep(client, ids, sweep_name)
    path = client.download_artifacts(parent.info.run_id, "transitions.json", str(cwd))
    estimates = json.loads(Path(path).read_text())["estimates"]
    e = next(e for e in estimates if e["method"] == "binder")
    trials = len(list(tracking.child_runs(client, parent.info.experiment_id, parent.info.run_id)))
    fitted = all(not isinstance(v, str) for v in (e["details"].get("fit_points") or {"": "none"}).values())
    return e["location"], (e["ci_high"] - e["ci_low"]) / 2, trials, fitted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="steps=300 chains=32, target 0.02")
    parser.add_argument("--max-points", type=int, default=65, help="densest grid tried")
    args = parser.parse_args()
    stats = ["train.steps=300", "train.chains=32", "data.burn_in=200"] if args.quick else []
    # the grid runs what the sweep file sets, with the same command-line changes
    sweep_file = ["data.burn_in=300", "train.steps=1000", "train.chains=64", "train.thin=1"]
    target = 0.02 if args.quick else 0.01
    common = [
        *sweep_file,
        *stats,
        "data.algorithm=metropolis",
        "analysis.binder_interpolation=fit",
        "analysis.binder_window=0.06",
    ]
    with tempfile.TemporaryDirectory(prefix="adaptive-bench-") as tmp:
        cwd = Path(tmp)
        adaptive_args = ["+sweep=ising_tc_adaptive", *stats, f"hydra.sweeper.target={target}", "sweep_name=adaptive"]
        wall_a = run(adaptive_args, cwd)
        loc_a, hw_a, n_a, _ = binder_estimate(cwd, "adaptive")
        print(f"adaptive: {n_a} trials, {wall_a:.0f} s, T_c = {loc_a:.4f} ± {hw_a:.4f} (|Δ| = {abs(loc_a - T_C):.4f})")
        points, wall_g, rows = 5, 0.0, []
        while points <= args.max_points:
            temps = ",".join(f"{t:.6g}" for t in np.linspace(1.8, 3.0, points))
            grid_args = ["-m", "experiment=ising_mc", *common, "data.L=8,16", "seed=0,1,2"]
            wall_g += run([*grid_args, f"data.temperature={temps}", "sweep_name=grid"], cwd)
            loc, hw, n, fitted = binder_estimate(cwd, "grid")
            rows.append((points, n, wall_g, loc, hw))
            how = "fitted" if fitted else "interpolated: too few points near the crossing to count"
            print(
                f"grid of {points} temperatures: {n} trials, {wall_g:.0f} s so far, T_c = {loc:.4f} ± {hw:.4f} ({how})"
            )
            if fitted and hw <= hw_a:
                break
            points = 2 * points - 1
        points, n_g, wall_g, loc_g, hw_g = rows[-1]
        reached = hw_g <= hw_a and binder_estimate(cwd, "grid")[3]
        print()
        print("| sweep | trials | wall (s) | T_c | CI half-width |")
        print("|---|---|---|---|---|")
        print(f"| adaptive | {n_a} | {wall_a:.0f} | {loc_a:.4f} | {hw_a:.4f} |")
        print(f"| uniform grid, {points} T | {n_g} | {wall_g:.0f} | {loc_g:.4f} | {hw_g:.4f} |")
        if reached:
            print(f"trials adaptive / grid = {n_a / n_g:.3f}; wall adaptive / grid = {wall_a / wall_g:.3f}")
        else:
            print(f"no grid up to {points} temperatures reached ± {hw_a:.4f}: ratio < {n_a / n_g:.3f}")


if __name__ == "__main__":
    main()
