"""Throughput of the checkerboard Metropolis sampler, in attempted spin flips per nanosecond.

Times `models.ising.metropolis_sweeps` (torch, int8 sublattices, vectorised over chains) and, in
the same run, a plain NumPy per-site loop (one site at a time, as a textbook Metropolis code is
written), and prints their ratio. One sweep attempts L² flips per chain. Times are wall-clock,
so other load on the machine lowers both numbers. On CUDA both the torch.compile-fused update
(the default there) and the eager one are timed.

    python benchmarks/ising_throughput.py                         # CPU, < 1 minute
    python benchmarks/ising_throughput.py --device cuda --L 1024 4096 16384 --chains 1
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
import torch

from models import ising


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def torch_flips_per_ns(L: int, chains: int, T: float, device: torch.device, seconds: float) -> float:
    """Attempted flips per ns of `metropolis_sweeps` on `chains` lattices of L×L (after warm-up)."""
    gen = torch.Generator(device=device).manual_seed(0)
    spins = torch.ones((chains, L, L), dtype=torch.int8, device=device)
    ising.metropolis_sweeps(spins, T, 2, gen)  # warm-up: allocator, kernels
    _sync(device)
    sweeps, elapsed = 1, 0.0
    while elapsed < seconds:  # double the number of sweeps until one timing fills `seconds`
        start = time.perf_counter()
        ising.metropolis_sweeps(spins, T, sweeps, gen)
        _sync(device)
        elapsed = time.perf_counter() - start
        if elapsed < seconds:
            sweeps = max(2 * sweeps, math.ceil(sweeps * 1.2 * seconds / max(elapsed, 1e-9)))
    return chains * L * L * sweeps / (elapsed * 1e9)


def numpy_reference_sweep(s: np.ndarray, beta: float, rng: np.random.Generator) -> None:
    """One typewriter Metropolis sweep over a single L×L lattice, site by site, in place."""
    L = s.shape[0]
    accept = {dE: math.exp(-beta * dE) for dE in (4, 8)}
    u = rng.random((L, L))
    for i in range(L):
        for j in range(L):
            dE = 2 * s[i, j] * (s[(i + 1) % L, j] + s[i - 1, j] + s[i, (j + 1) % L] + s[i, j - 1])
            if dE <= 0 or u[i, j] < accept[dE]:
                s[i, j] = -s[i, j]


def numpy_flips_per_ns(L: int, T: float, seconds: float) -> float:
    rng = np.random.default_rng(0)
    s = np.ones((L, L), dtype=np.int8)
    sweeps, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or sweeps == 0:
        numpy_reference_sweep(s, 1.0 / T, rng)
        sweeps += 1
    return L * L * sweeps / (elapsed * 1e9)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, …")
    p.add_argument("--L", type=int, nargs="+", default=[64, 256], help="lattice sizes (even)")
    p.add_argument("--chains", type=int, default=16, help="independent lattices updated together")
    p.add_argument("--T", type=float, default=ising.T_CRITICAL)
    p.add_argument("--seconds", type=float, default=3.0, help="target time per measurement")
    p.add_argument("--numpy-L", type=int, default=32, help="lattice of the NumPy reference")
    args = p.parse_args()
    device = torch.device(args.device)

    ref = numpy_flips_per_ns(args.numpy_L, args.T, args.seconds)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"T = {args.T:.4f}; torch {torch.__version__} on {device} ({where})")
    print(f"{'numpy per-site loop':<22s} L={args.numpy_L:<6d} chains=1     {ref:10.5f} flips/ns")
    # On CUDA the sampler runs a torch.compile-fused kernel; PHASESWEEP_ISING_COMPILE=0 gives eager.
    variants = [("torch checkerboard", "1")]
    if device.type == "cuda":
        variants = [("torch fused (compile)", "1"), ("torch eager", "0")]
    for L in args.L:
        for name, flag in variants:
            os.environ["PHASESWEEP_ISING_COMPILE"] = flag
            rate = torch_flips_per_ns(L, args.chains, args.T, device, args.seconds)
            print(f"{name:<22s} L={L:<6d} chains={args.chains:<5d} {rate:10.5f} flips/ns   "
                  f"ratio {rate / ref:8.1f}x")


if __name__ == "__main__":
    main()
