"""Critical slowing down: integrated autocorrelation time of |m| at T_c, Metropolis vs Wolff.

τ_int is measured in sweeps: one Metropolis sweep tries L² flips; a Wolff cluster update counts
as ⟨|C|⟩/L² sweeps, so τ_Wolff[sweeps] = τ_Wolff[cluster updates] · ⟨|C|⟩/L². Metropolis has
τ ~ L^z with z ≈ 2.17; Wolff's is nearly flat in L (Wolff 1989).

    python benchmarks/ising_autocorr.py                     # L = 32, about 30 s on one core
    python benchmarks/ising_autocorr.py --L 16 32 64 --device cuda --chains 256
"""

from __future__ import annotations

import argparse

import torch

from models import ising


def abs_m_series(step, spins: torch.Tensor, updates: int) -> torch.Tensor:
    """|m| of every chain after each of `updates` calls of step(spins): shape (chains, updates)."""
    out = torch.empty((spins.shape[0], updates), dtype=torch.float64, device=spins.device)
    for t in range(updates):
        step(spins)
        out[:, t] = ising.magnetization(spins).abs()
    return out.cpu()


def taus(L: int, T: float, chains: int, sweeps: int, updates: int, device: str) -> tuple[float, float, float]:
    """(τ Metropolis [sweeps], τ Wolff [cluster updates], ⟨|C|⟩/L²) at (L, T)."""
    gen = torch.Generator(device=device).manual_seed(0)
    spins = torch.ones((chains, L, L), dtype=torch.int8, device=device)
    ising.metropolis_sweeps(spins, T, max(1000, sweeps // 10), gen)  # equilibrate
    tau_m = ising.integrated_autocorr_time(abs_m_series(lambda s: ising.metropolis_sweeps(s, T, 1, gen),
                                                        spins, sweeps))
    spins = torch.ones((chains, L, L), dtype=torch.int8, device=device)
    _, sizes = ising.wolff_updates(spins, T, 300, gen)
    tau_w = ising.integrated_autocorr_time(abs_m_series(lambda s: ising.wolff_updates(s, T, 1, gen),
                                                        spins, updates))
    return tau_m, tau_w, sizes[100:].double().mean().item() / L**2


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--L", type=int, nargs="+", default=[32])
    p.add_argument("--T", type=float, default=ising.T_CRITICAL)
    p.add_argument("--chains", type=int, default=16)
    p.add_argument("--sweeps", type=int, default=8000, help="Metropolis sweeps measured (≥ 50 τ)")
    p.add_argument("--updates", type=int, default=1500, help="Wolff cluster updates measured")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    print(f"τ_int(|m|) at T = {args.T:.5f}, {args.chains} chains")
    for L in args.L:
        tau_m, tau_w, frac = taus(L, args.T, args.chains, args.sweeps, args.updates, args.device)
        print(f"L={L:<5d} Metropolis {tau_m:8.2f} sweeps | Wolff {tau_w:6.2f} clusters × ⟨|C|⟩/L² {frac:.3f}"
              f" = {tau_w * frac:6.2f} sweeps | ratio {tau_m / (tau_w * frac):6.1f}")


if __name__ == "__main__":
    main()
