"""Where adaptive sweeps put their trials on the Hopfield capacity transition, against a uniform grid.

1. The capacity at T = 0 (α in [0.04, 0.25], N = 2000, three seeds): `+sweep=hopfield_capacity` (a grid of
   11 loads) and `+sweep=hopfield_capacity_adaptive`. Prints both α_c with their CIs, whether the CIs
   overlap, and the share of the adaptive trials within ±0.03 of the α_c it located.
2. The boundary α_c(T) in the (α, T) plane: `+sweep=hopfield_boundary_adaptive`. Prints, per temperature,
   the located α_c and the share of that row's trials within one cell of it, for two cells: the first
   round's spacing, and the spacing of a uniform grid with as many loads as the row ran. Saves the heatmap.

    python benchmarks/adaptive_hopfield.py --out /tmp/hopfield     # ~15 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(["phasesweep", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"phasesweep {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def parent_of(cwd: Path, name: str):
    from mlflow.tracking import MlflowClient

    from workers import tracking

    client = MlflowClient(tracking_uri=f"sqlite:///{cwd / 'mlflow.db'}")
    ids = [e.experiment_id for e in client.search_experiments()]
    parent = tracking.find_sweep(client, ids, name)
    runs = list(tracking.child_runs(client, parent.info.experiment_id, parent.info.run_id))
    path = client.download_artifacts(parent.info.run_id, "transitions.json", str(cwd))
    estimates = [e for e in json.loads(Path(path).read_text())["estimates"] if e["observable"] == "obs/overlap"]
    return client, parent, runs, estimates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=None, help="folder for the heatmap and figures")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="hopfield-figures-"))
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="adaptive-hopfield-") as tmp:
        cwd = Path(tmp)
        wall_g = run(["+sweep=hopfield_capacity", "sweep_name=grid"], cwd)
        wall_a = run(["+sweep=hopfield_capacity_adaptive", "sweep_name=adaptive"], cwd)
        _, _, runs_g, est_g = parent_of(cwd, "grid")
        client, parent, runs_a, est_a = parent_of(cwd, "adaptive")
        g = next(e for e in est_g if e["axis"] == "data.alpha")
        a = next(e for e in est_a if e["axis"] == "data.alpha")
        alphas = [float(r.data.params["data.alpha"]) for r in runs_a]
        near = sum(abs(x - a["location"]) <= 0.03 for x in alphas) / len(alphas)
        overlap = a["ci_low"] <= g["ci_high"] and g["ci_low"] <= a["ci_high"]
        for name, e, runs, wall in (("grid", g, runs_g, wall_g), ("adaptive", a, runs_a, wall_a)):
            where = f"{e['location']:.4f} [{e['ci_low']:.4f}, {e['ci_high']:.4f}]"
            print(f"{name:<9} {len(runs)} trials, {wall:.0f} s, α_c = {where}")
        print(f"  stop: {parent.data.tags.get('phasesweep.adaptive.stop')}")
        print(f"  CIs overlap: {overlap}; adaptive trials within ±0.03 of its α_c: {near:.0%}")
        client.download_artifacts(parent.info.run_id, "plots/adaptive_alpha.png", str(out))

        wall_b = run(["+sweep=hopfield_boundary_adaptive", "sweep_name=boundary"], cwd)
        client, parent, runs_b, est_b = parent_of(cwd, "boundary")
        print(f"\nboundary: {len(runs_b)} trials, {wall_b:.0f} s; {parent.data.tags.get('phasesweep.adaptive.stop')}")
        first_cell = (0.2 - 0.02) / 4
        within_first = within_uniform = total = 0
        for e in sorted(
            (e for e in est_b if e["axis"] == "data.alpha"), key=lambda e: float(e["fixed"]["train.temperature"])
        ):
            T = e["fixed"]["train.temperature"]
            row = [float(r.data.params["data.alpha"]) for r in runs_b if r.data.params["train.temperature"] == T]
            cell = (0.2 - 0.02) / max(1, len(set(row)) - 1)
            n1 = sum(abs(x - e["location"]) <= first_cell for x in row)
            n2 = sum(abs(x - e["location"]) <= cell for x in row)
            within_first, within_uniform, total = within_first + n1, within_uniform + n2, total + len(row)
            print(
                f"  T={T}: α_c = {e['location']:.4f} [{e['ci_low']:.4f}, {e['ci_high']:.4f}], {len(row)} trials; "
                f"within {first_cell:.3f}: {n1 / len(row):.0%}; within {cell:.3f} (uniform cell): {n2 / len(row):.0%}"
            )
        shares = (
            f"{within_first / total:.0%} within the first round's cell, {within_uniform / total:.0%} a uniform cell"
        )
        print(f"  all rows: {shares}")
        client.download_artifacts(parent.info.run_id, "plots/adaptive_alpha_temperature.png", str(out))
        client.download_artifacts(parent.info.run_id, "plots/adaptive_alpha.png", str(out / "boundary"))
    print(f"figures in {out}")


if __name__ == "__main__":
    main()
