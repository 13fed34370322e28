"""Binder-cumulant crossing of the 2D Ising model: where U₄(T; L) for L = 8, 16, 32 meet.

U₄ = 1 − ⟨m⁴⟩/(3⟨m²⟩²) is scale invariant at T_c, so curves for different L cross there
(Binder 1981). Samples come from Wolff cluster updates (`models.ising.sample(..., "wolff")`);
each crossing's error is the spread of crossings recomputed from U₄ values redrawn within
their standard errors (parametric bootstrap).

    python benchmarks/ising_binder_crossing.py            # about a minute on one core
    python benchmarks/ising_binder_crossing.py --chains 256 --per-chain 200 --device cuda
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch

from models import ising


def binder_curves(sizes, temperatures, *, chains, per_chain, burn_in, seed, device):
    """{L: (U₄ values, stderrs)} over `temperatures`, from independent Wolff runs."""
    curves = {}
    for L in sizes:
        vals, errs = [], []
        for i, T in enumerate(temperatures):
            spins = ising.sample(L, T, chains * per_chain, algorithm="wolff", burn_in=burn_in,
                                 thin=1, seed=seed + 1000 * L + i, device=device, chains=chains)
            u = ising.observables(spins.cpu(), T, chains=chains).binder
            vals.append(u.value)
            errs.append(u.stderr)
        curves[L] = (np.array(vals), np.array(errs))
    return curves


def crossing_with_error(temperatures, small, large, draws=2000, seed=0):
    """Crossing of two (values, stderrs) curves and its parametric-bootstrap standard error."""
    rng = np.random.default_rng(seed)
    t_cross = ising.binder_crossing(temperatures, small[0], large[0])
    boot = [
        ising.binder_crossing(temperatures, rng.normal(*small), rng.normal(*large)) for _ in range(draws)
    ]
    return t_cross, float(np.nanstd(boot))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32])
    p.add_argument("--temperatures", type=float, nargs="+",
                   default=[2.22, 2.24, 2.26, 2.28, 2.30, 2.32])
    p.add_argument("--chains", type=int, default=64)
    p.add_argument("--per-chain", type=int, default=150, help="samples per chain, 1 sweep-equivalent apart")
    p.add_argument("--burn-in", type=int, default=50, help="burn-in in Wolff sweep-equivalents")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()

    start = time.perf_counter()
    curves = binder_curves(args.sizes, args.temperatures, chains=args.chains, per_chain=args.per_chain,
                           burn_in=args.burn_in, seed=args.seed, device=args.device)
    print(f"U4 (Wolff, {args.chains}×{args.per_chain} samples per point), T_c = {ising.T_CRITICAL:.5f}")
    print("T       " + "".join(f"  L={L:<14d}" for L in args.sizes))
    for i, T in enumerate(args.temperatures):
        row = "".join(f"  {curves[L][0][i]:.4f}±{curves[L][1][i]:.4f}  " for L in args.sizes)
        print(f"{T:.4f}{row}")
    for a, b in itertools.combinations(args.sizes, 2):
        t, err = crossing_with_error(args.temperatures, curves[a], curves[b])
        print(f"crossing L={a} / L={b}: T = {t:.4f} ± {err:.4f}   (T − T_c = {t - ising.T_CRITICAL:+.4f})")
    print(f"elapsed {time.perf_counter() - start:.1f} s on {args.device} ({torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
