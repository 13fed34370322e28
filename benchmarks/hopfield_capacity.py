"""Hopfield capacity curve: final overlap after T = 0 Glauber dynamics versus load α = P/N.

Every trial is a fresh network with P = round(αN) random patterns, started from a stored
pattern with 10% of its bits flipped. The table compares the mean final overlap with the
replica-symmetric AGS prediction (which drops to 0 at α_c ≈ 0.138; finite N softens the drop).

    OMP_NUM_THREADS=1 python benchmarks/hopfield_capacity.py --N 1000 --trials 64   # ≈ 15 s

The dynamics loop over sites in Python, one small kernel per step, so they are launch-bound:
on an H100 the N = 1000 curve runs about 4× slower than on one CPU core. Prefer the CPU unless
thousands of networks run at once.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from models.hopfield import ALPHA_C, final_overlaps, replica_symmetric_overlap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=1000, help="units per network")
    parser.add_argument("--trials", type=int, default=64, help="independent networks per load")
    parser.add_argument("--sweeps", type=int, default=100, help="max sweeps (T = 0 stops at a fixed point)")
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--flip-fraction", type=float, default=0.1)
    parser.add_argument("--alphas", type=float, nargs="*", default=list(np.round(np.arange(0.02, 0.245, 0.02), 3)))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)

    print(f"N={args.N} T={args.temperature} flip={args.flip_fraction} trials={args.trials} "
          f"sweeps≤{args.sweeps} device={args.device}  (α_c = {ALPHA_C})")
    print(f"{'alpha':>6} {'P':>5} {'m_final':>9} {'stderr':>7} {'P(m>0.9)':>9} {'m_RS':>7} {'time_s':>7}")
    for alpha in args.alphas:
        start = time.perf_counter()
        m = final_overlaps(
            args.N, alpha, args.temperature, flip_fraction=args.flip_fraction, n_trials=args.trials,
            sweeps=args.sweeps, seed=args.seed, device=args.device,
        ).double()
        mean, se, retrieved = float(m.mean()), float(m.std() / len(m) ** 0.5), float((m > 0.9).double().mean())
        theory = replica_symmetric_overlap(alpha, args.temperature)
        elapsed = time.perf_counter() - start
        print(f"{alpha:6.3f} {round(alpha * args.N):5d} {mean:9.4f} {se:7.4f} {retrieved:9.3f} {theory:7.4f} "
              f"{elapsed:7.2f}")


if __name__ == "__main__":
    main()
