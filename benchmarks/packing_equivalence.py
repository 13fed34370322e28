"""Packed against unpacked RBM trials: the same observables, within their errors (issue 14's equivalence).

Runs `rbm_ising` (default steps, chains and lattice) at T = 2.0 and 2.8 with 16 seeds each twice through
the real CLI, Ray and MLflow: once with `pack.size=16` and once with `pack.size=1`, sharing one data cache.
For each T it prints a two-sample test (Mann–Whitney U and Kolmogorov–Smirnov, `scipy.stats`) of the final
`obs/energy_error` and `obs/model_abs_magnetization` of the 16 packed against the 16 unpacked trials, and
the largest difference between a packed member and its unpacked twin (same trial key).

    python benchmarks/packing_equivalence.py [--seeds 16] [-- extra overrides]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow.tracking import MlflowClient
from scipy import stats

KEYS = ("obs/energy_error", "obs/model_abs_magnetization")
TEMPERATURES = (2.0, 2.8)


def sweep(cwd: Path, cache: Path, pack: int, seeds: int, extra: list[str]) -> dict[str, tuple[float, dict]]:
    """Run one sweep; returns trial key -> (T, final metrics)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env["PHASESWEEP_CACHE"] = str(cache)
    args = ["-m", "experiment=rbm_ising", f"data.temperature={','.join(map(str, TEMPERATURES))}"]
    args += [f"seed=range(0,{seeds})", f"pack.size={pack}", *extra]
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "pipelines.main", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        sys.exit(f"pack.size={pack} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    print(f"pack.size={pack}: {2 * seeds} trials in {time.perf_counter() - start:.0f} s")
    client = MlflowClient(f"sqlite:///{cwd}/mlflow.db")
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = [r for r in client.search_runs(ids, max_results=1000) if "mlflow.parentRunId" in r.data.tags]
    return {
        r.data.tags["phasesweep.trial_key"]: (float(r.data.params["data.temperature"]), r.data.metrics) for r in runs
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("extra", nargs="*", help="Hydra overrides for every trial (after --)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="phasesweep-equiv-") as tmp:
        root = Path(tmp)
        results = {}
        for pack in (args.seeds, 1):
            (root / f"p{pack}").mkdir()
            results[pack] = sweep(root / f"p{pack}", root / "cache", pack, args.seeds, args.extra)
    packed, alone = results[args.seeds], results[1]
    assert set(packed) == set(alone), "the two sweeps ran different trials"
    print(
        f"{'T':>4} {'observable':<30} {'packed mean':>12} {'unpacked mean':>14} {'MWU p':>7} {'KS p':>7}"
        f" {'max |Δ| twin':>13}"
    )
    for T in TEMPERATURES:
        keys = [k for k, (t, _) in packed.items() if abs(t - T) < 1e-9]
        for name in KEYS:
            a = [packed[k][1][name] for k in keys]
            b = [alone[k][1][name] for k in keys]
            mwu = stats.mannwhitneyu(a, b).pvalue
            ks = stats.ks_2samp(a, b).pvalue
            diff = max(abs(x - y) for x, y in zip(a, b, strict=True))
            print(
                f"{T:>4} {name:<30} {sum(a) / len(a):>12.5f} {sum(b) / len(b):>14.5f} {mwu:>7.3f} {ks:>7.3f}"
                f" {diff:>13.2e}"
            )


if __name__ == "__main__":
    main()
