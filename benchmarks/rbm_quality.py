"""How well do RBMs trained by the `rbm_ising_long` recipe reproduce the Ising data? (Torlai & Melko 2016)

Torlai & Melko (PRB 94, 165134, 2016) train RBMs on Monte Carlo configurations of the L = 8 Ising model and
compare the energy and specific heat of the RBM's own samples with those of the data. Issue 16 asks for E
within 2 % and C within 5 % at T = 1.8, 2.27 and 3.0 with 64 hidden units. This script runs that sweep
through the real CLI, Ray and MLflow:

    phasesweep -m experiment=rbm_ising_long data.temperature=1.8,2.27,3.0 model.width=16,64 seed=0,1,2

(the grid of `phasesweep +sweep=rbm_ising_long`) and prints, per (T, n_h, seed), the final |ΔE|/|E| and
|ΔC|/C against the data (`obs/energy_rel_error`, `obs/specific_heat_rel_error`), each beside σ, the standard
error of the difference (model's and data's standard errors in quadrature, relative to the data's value),
the data's and the model's C beside Kaufman's exact C of the finite torus (`models.ising.kaufman_observables`),
and whether the 2 % / 5 % targets hold. A relative error is |model − data| of two noisy estimates, so one
that misses a target by less than σ or two reads as noise, not as a bad model.

    python benchmarks/rbm_quality.py                              # the table above, about 40 min on 2 cores
    python benchmarks/rbm_quality.py --widths 64 --seeds 0        # one seed, n_h = 64 only
    python benchmarks/rbm_quality.py --store runs/ -- train.steps=60000   # keep the store; extra overrides
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from models.ising import kaufman_observables

E_TARGET, C_TARGET = 0.02, 0.05
"""Issue 16's agreement: |ΔE|/|E| ≤ 2 % and |ΔC|/C ≤ 5 %."""


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def run_sweep(store: Path, temperatures, widths, seeds, extra: list[str]) -> None:
    """The sweep through `python -m pipelines.main`, its progress streamed to this terminal."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env.setdefault("PHASESWEEP_CACHE", str(store / ".phasesweep_cache"))
    args = [
        "-m",
        "experiment=rbm_ising_long",
        "data.temperature=" + ",".join(f"{t:g}" for t in temperatures),
        "model.width=" + ",".join(map(str, widths)),
        "seed=" + ",".join(map(str, seeds)),
        *extra,
    ]
    print("phasesweep", " ".join(args), flush=True)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipelines.main", *args], cwd=store, env=env)
    if done.returncode != 0:
        sys.exit(f"the sweep failed (exit {done.returncode}); its store is {store}")
    print(f"sweep: {time.perf_counter() - start:.0f} s", flush=True)


def final_rows(store: Path) -> list[dict]:
    """One row per FINISHED child run of the store's newest sweep: its T, width, seed and final metrics."""
    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, max_results=5000, order_by=["attributes.start_time DESC"])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    if not parents:
        sys.exit(f"no sweep in {store / 'mlflow.db'}")
    parent = parents[0].info.run_id
    rows = []
    for r in runs:
        if r.data.tags.get("mlflow.parentRunId") != parent or r.info.status != "FINISHED":
            continue
        p, m = r.data.params, r.data.metrics
        rows.append(
            {
                "T": float(p["data.temperature"]),
                "width": int(p["model.width"]),
                "seed": int(p["seed"]),
                "L": int(p["data.L"]),
                **{k.removeprefix("obs/"): v for k, v in m.items() if k.startswith("obs/")},
            }
        )
    return sorted(rows, key=lambda row: (row["T"], row["width"], row["seed"]))


def print_table(rows: list[dict], target_width: int) -> bool:
    """The quality table; True when every row of n_h = `target_width` meets both targets (the issue holds
    only those to them; the other widths are printed for comparison)."""
    print(
        f"{'T':>5} {'n_h':>4} {'seed':>4} | {'|ΔE|/|E|':>9} {'σ':>6} | {'|ΔC|/C':>7} {'σ':>6} |"
        f" {'C data':>7} {'C model':>8} {'C exact':>8} | ok"
    )
    every = True
    for row in rows:
        exact = kaufman_observables(row["L"], row["T"])
        e_rel, c_rel = row["energy_rel_error"], row["specific_heat_rel_error"]
        e_err = math.hypot(row["model_energy_err"], row["data_energy_err"]) / abs(row["data_energy"])
        c_err = math.hypot(row["model_specific_heat_err"], row["data_specific_heat_err"]) / row["data_specific_heat"]
        ok = e_rel <= E_TARGET and c_rel <= C_TARGET
        every &= ok or row["width"] != target_width
        print(
            f"{row['T']:>5g} {row['width']:>4} {row['seed']:>4} | {100 * e_rel:>8.2f}% {100 * e_err:>5.2f}% |"
            f" {100 * c_rel:>6.2f}% {100 * c_err:>5.2f}% | {row['data_specific_heat']:>7.4f}"
            f" {row['model_specific_heat']:>8.4f} {exact.specific_heat:>8.4f} | {'yes' if ok else 'NO'}"
        )
    print("\nper (T, n_h), mean over seeds:")
    for key in sorted({(row["T"], row["width"]) for row in rows}):
        group = [row for row in rows if (row["T"], row["width"]) == key]
        e = sum(row["energy_rel_error"] for row in group) / len(group)
        c = sum(row["specific_heat_rel_error"] for row in group) / len(group)
        print(f"  T={key[0]:g} n_h={key[1]}: |ΔE|/|E| {100 * e:.2f}%  |ΔC|/C {100 * c:.2f}%  ({len(group)} seeds)")
    return every


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--temperatures", type=floats, default=[1.8, 2.27, 3.0])
    parser.add_argument("--widths", type=ints, default=[16, 64])
    parser.add_argument("--seeds", type=ints, default=[0, 1, 2])
    parser.add_argument("--target-width", type=int, default=64, help="the n_h held to the targets (default 64)")
    parser.add_argument("--store", type=Path, help="run in (and keep) this directory; default: a temporary one")
    parser.add_argument("--table-only", action="store_true", help="print the table of an existing --store")
    parser.add_argument("extra", nargs="*", help="Hydra overrides for every trial (after --)")
    args = parser.parse_args()
    if args.table_only and args.store is None:
        parser.error("--table-only needs --store")
    with tempfile.TemporaryDirectory(prefix="phasesweep-rbm-quality-") as tmp:
        store = (args.store or Path(tmp)).resolve()
        store.mkdir(parents=True, exist_ok=True)
        if not args.table_only:
            run_sweep(store, args.temperatures, args.widths, args.seeds, args.extra)
        every = print_table(final_rows(store), args.target_width)
    verdict = "every" if every else "NOT every"
    print(f"\n{verdict} n_h = {args.target_width} row is within E 2 % and C 5 % of the data")


if __name__ == "__main__":
    main()
