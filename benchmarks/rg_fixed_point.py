"""The RG fixed point and thermal exponent of the 2D Ising model by Swendsen's matching.

Lattices of side L and L/b are sampled with Swendsen–Wang (`models.ising.swendsen_wang`), blocked
by the majority rule (`models.ising.rg.block_levels`), and a short-range observable K of the final
block spins (the nearest- or next-nearest-neighbour correlation) is matched between L blocked n
times and L/b blocked n − 1 times, which end at the same side L/bⁿ (R. H. Swendsen, PRL 42, 859
(1979)). The curves cross at the fixed point T*; the ratio of their slopes there is the thermal
eigenvalue λ_T = b^{1/ν} (`models.ising.rg.rg_fixed_point`). Exact answers: T* = T_c = 2.269185,
ν = 1.

Each curve K(T) is measured with its slope dK/dT = Cov(K, H₀)/T² on an even grid of temperatures
in [t_min, t_max]; T* and λ_T come from cubic fits of the values and slopes (and, for comparison,
of the values only) at the `--fit-points` temperatures nearest each crossing, so that the cubic
can follow the steep curves of deeply blocked lattices (χ²/dof says when it cannot). Each seed
is an independent set of runs; curves are averaged over seeds, and per-seed point estimates show
the spread. Intervals are 95 % parametric-bootstrap percentiles (see `rg_fixed_point`).

    python benchmarks/rg_fixed_point.py                    # L = 64, b = 2, 3 seeds: ~6 min on one core
    python benchmarks/rg_fixed_point.py --seeds 1 --chains 16 --per-chain 100   # ~1 min
    python benchmarks/rg_fixed_point.py --compare-wolff    # also time SW against Wolff at L = 32, T = 2.27
"""

from __future__ import annotations

import argparse
import logging
import math
import time

import numpy as np
import torch

from models import ising
from models.ising import rg
from models.ising.swendsen_wang import sample_sw

OBSERVABLES = {"nn": "nn_correlation", "nnn": "nnn_correlation"}


def _seed(*keys: int) -> int:
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def measure(L, temperatures, *, b, min_size, chains, per_chain, burn_in, seed):
    """{T: [BlockObservables per level]} for one lattice side and one seed."""
    out = {}
    for i, T in enumerate(temperatures):
        spins = sample_sw(L, float(T), chains * per_chain, chains=chains, burn_in=burn_in, seed=_seed(seed, L, i))
        gen = torch.Generator().manual_seed(_seed(seed, L, i, 1))
        out[float(T)] = rg.level_observables(rg.block_levels(spins, b, min_size, gen), float(T), chains=chains)
    return out


def curve(runs, L, temperatures, level, name, slopes=True):
    """`rg.Curve` of observable `name` (and its slope) at `level` of side L over `temperatures`,
    averaged over the seeds' runs (equal sample sizes: plain mean, stderr = √Σσ² / n_seeds)."""

    def mean(field):
        est = [[getattr(run[L][float(T)][level], field) for T in temperatures] for run in runs]
        values, errs = (np.array([[getattr(e, a) for e in row] for row in est]) for a in ("value", "stderr"))
        return values.mean(0), np.sqrt((errs**2).sum(0)) / len(runs)

    (v, e), slope = mean(name), mean(name.replace("correlation", "slope")) if slopes else (None, None)
    return rg.Curve(v, e, *slope)


def pairs(L, b, end_sizes):
    """(label, n) for each end size: L blocked n times against L/b blocked n − 1 times."""
    for end in end_sizes:
        n = round(math.log(L / end, b))
        if b**n * end != L or n < 1:
            raise SystemExit(
                f"end size {end} is not L / b^n for L = {L}, b = {b}; choose from "
                f"{[L // b**k for k in range(1, 8) if L % b**k == 0]}"
            )
        yield end, n


def time_samplers(L=32, T=2.27, chains=20, burn_in=20):
    """Wall time per sample of Swendsen–Wang and Wolff (one sweep-equivalent per sample) at (L, T)."""
    rows = []
    for name, n, run in (
        ("wolff", chains * 10, lambda n: ising.sample(L, T, n, algorithm="wolff", chains=chains, burn_in=burn_in)),
        ("swendsen-wang", chains * 100, lambda n: sample_sw(L, T, n, chains=chains, burn_in=burn_in)),
    ):
        start = time.perf_counter()
        spins = run(n)
        elapsed = time.perf_counter() - start
        obs = ising.observables(spins, T, chains=chains)
        rows.append((name, n, elapsed, obs.tau_abs_magnetization, obs.tau_energy))
        print(
            f"  {name:14s} {n:5d} samples at L={L}, T={T}: {elapsed:6.2f} s  ({1e3 * elapsed / n:6.2f} ms/sample;"
            f" τ_int |m| {obs.tau_abs_magnetization:.2f}, e {obs.tau_energy:.2f} samples)"
        )
    (_, nw, tw, *_), (_, ns, ts, *_) = rows
    print(f"  Swendsen–Wang is {(tw / nw) / (ts / ns):.1f}× faster per sample (burn-in of {burn_in} included)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--L", type=int, default=64)
    p.add_argument("--b", type=int, default=2)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--t-min", type=float, default=2.0)
    p.add_argument("--t-max", type=float, default=2.6)
    p.add_argument("--temperatures", type=int, default=13, help="evenly spaced in [t-min, t-max]")
    p.add_argument("--chains", type=int, default=32)
    p.add_argument("--per-chain", type=int, default=250)
    p.add_argument("--burn-in", type=int, default=50)
    p.add_argument("--end-sizes", type=int, nargs="+", default=[8, 4])
    p.add_argument("--deg", type=int, default=3, help="degree of the polynomial fitted to each curve")
    p.add_argument("--fit-points", type=int, default=4, help="temperatures nearest the crossing used in the fits")
    p.add_argument("--draws", type=int, default=2000, help="bootstrap draws")
    p.add_argument("--compare-wolff", action="store_true")
    args = p.parse_args()
    logging.getLogger("models.ising").setLevel(logging.ERROR)  # short-chain τ warnings
    torch.set_num_threads(1)
    L, b, small = args.L, args.b, args.L // args.b
    matched = list(pairs(L, b, args.end_sizes))
    kw = dict(b=b, min_size=min(args.end_sizes), chains=args.chains, per_chain=args.per_chain, burn_in=args.burn_in)
    if args.compare_wolff:
        print("sampler timing (one core):")
        time_samplers()

    start = time.perf_counter()
    temps = np.linspace(args.t_min, args.t_max, args.temperatures)
    runs = [{side: measure(side, temps, seed=s, **kw) for side in (L, small)} for s in range(args.seeds)]
    print(
        f"L = {L} vs {small}, b = {b}, {args.seeds} seeds × {args.chains * args.per_chain} SW samples per (L, T), "
        f"{len(temps)} temperatures in [{args.t_min}, {args.t_max}]; sampling took {time.perf_counter() - start:.0f} s"
    )
    for slopes in (True, False):
        print(
            f"\ndegree-{args.deg} fits of the values{' and the measured slopes dK/dT' if slopes else ' only'} "
            f"at the {args.fit_points} temperatures nearest each crossing:"
        )
        print(
            f"{'K':4s} {'end':>3s} {'n':>2s}   {'T* [95% CI]':28s} {'λ_T [95% CI]':24s} {'ν [95% CI]':24s}"
            f" {'χ²/dof L,S':12s} per-seed T* / ν"
        )
        for label, name in OBSERVABLES.items():
            for end, n in matched:
                report(runs, temps, L, small, b, n, end, label, name, slopes, args)
    print(f"\nexact: T_c = {ising.T_CRITICAL:.6f}, ν = 1; total {time.perf_counter() - start:.0f} s")


def report(runs, temps, L, small, b, n, end, label, name, slopes, args):
    """One line of the table: the matched pair (L blocked n times, L/b blocked n − 1 times)."""

    def fit(rs):
        large, small_curve = curve(rs, L, temps, n, name, slopes), curve(rs, small, temps, n - 1, name, slopes)
        return rg.nearest_window(temps, large, small_curve, args.fit_points)

    t_fit, large, small_curve = fit(runs)
    r = rg.rg_fixed_point(t_fit, large, small_curve, b=b, deg=args.deg, draws=args.draws, seed=n)
    per_seed = [rg.rg_fixed_point(*fit([run]), b=b, deg=args.deg, draws=0) for run in runs]
    seeds_txt = " ".join(f"{q.t_star:.4f}/{q.nu:.2f}" for q in per_seed)
    print(
        f"{label:4s} {end:3d} {n:2d}   {r.t_star:.4f} [{r.t_star_ci[0]:.4f}, {r.t_star_ci[1]:.4f}]"
        f"    {r.eigenvalue:.3f} [{r.eigenvalue_ci[0]:.3f}, {r.eigenvalue_ci[1]:.3f}]"
        f"    {r.nu:.3f} [{r.nu_ci[0]:.3f}, {r.nu_ci[1]:.3f}]"
        f"    {r.chi2_dof[0]:4.1f},{r.chi2_dof[1]:4.1f}   {seeds_txt}"
    )
    ok_t, ok_nu = abs(r.t_star - ising.T_CRITICAL) < 0.03, abs(r.nu - 1.0) < 0.15
    print(
        f"{'':12s}|T* − T_c| = {abs(r.t_star - ising.T_CRITICAL):.4f} ({'<' if ok_t else '≥'} 0.03), "
        f"|ν − 1| = {abs(r.nu - 1):.3f} ({'<' if ok_nu else '≥'} 0.15)"
    )
    if label == "nn" and end == min(args.end_sizes) and slopes:
        t_map = rg.rg_map(t_fit, large, small_curve, deg=args.deg)
        rows = ", ".join(f"{t:.3f}→{tp:.3f}" for t, tp in zip(t_fit, t_map, strict=True) if np.isfinite(tp))
        print(f"{'':12s}RG map T → T′ (in range): {rows}")


if __name__ == "__main__":
    main()
