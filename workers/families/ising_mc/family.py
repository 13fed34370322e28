"""Monte Carlo of the 2D Ising model as a family: the ground truth a sweep is judged against.

Each step advances every chain by `train.thin` sweeps (Metropolis) or sweep-equivalents
(Wolff: round(L²/⟨|C|⟩) cluster updates, ⟨|C|⟩ measured during burn-in) and records the
configurations. Observables are estimated from everything recorded so far, with
autocorrelation-aware errors (`models.ising.observables`): energy per spin, ⟨|m|⟩, specific
heat, susceptibility and the Binder cumulant, each with its `_err`.
"""

from __future__ import annotations

from typing import Any

import torch

from models import ising
from workers.families.base import IsingDataConfig
from workers.families.ising_mc.config import MCTrainConfig

OBSERVABLES = ("energy", "abs_magnetization", "specific_heat", "susceptibility", "binder")


class IsingMCFamily:
    headline_metric = "obs/binder"

    def __init__(self, spec, device: torch.device) -> None:
        data: IsingDataConfig = spec.data
        self.cfg: MCTrainConfig = spec.train
        if data.kind != "ising":
            raise ValueError(f"the ising_mc family samples data.kind=ising, got {data.kind!r}")
        self.L, self.T, self.algorithm = data.L, data.temperature, ising.Algorithm(data.algorithm)
        self.generator = torch.Generator(device=device).manual_seed(spec.seed)
        self.spins = ising.ordered_start(self.cfg.chains, self.L, self.generator, device)
        self.updates_per_sweep = 1
        if self.algorithm is ising.Algorithm.wolff:
            _, sizes = ising.wolff_updates(self.spins, self.T, max(data.burn_in, 1), self.generator)
            self.updates_per_sweep = max(1, round(self.L * self.L / sizes.double().mean().item()))
        else:
            ising.metropolis_sweeps(self.spins, self.T, data.burn_in, self.generator)
        self.records = torch.empty((self.cfg.chains, self.cfg.steps, self.L, self.L), dtype=torch.int8)
        self.n_recorded = 0

    def _advance(self, sweeps: int) -> None:
        if self.algorithm is ising.Algorithm.wolff:
            ising.wolff_updates(self.spins, self.T, sweeps * self.updates_per_sweep, self.generator)
        else:
            ising.metropolis_sweeps(self.spins, self.T, sweeps, self.generator)

    def step(self, step: int) -> dict[str, float]:
        if step:
            self._advance(self.cfg.thin)
        self.records[:, step] = self.spins.cpu()
        self.n_recorded = step + 1
        return chain_metrics(self.spins)

    def observe(self, step: int) -> dict[str, float]:
        if self.n_recorded < 2:
            return {}
        configs = self.records[:, : self.n_recorded].reshape(-1, self.L, self.L)
        return estimates(configs, self.T, self.cfg.chains)

    def state_dict(self) -> dict[str, Any]:
        return {
            "spins": self.spins.cpu(),
            "records": self.records,
            "n_recorded": self.n_recorded,
            "updates_per_sweep": self.updates_per_sweep,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.spins = state["spins"].to(self.spins.device)
        self.records = state["records"]
        self.n_recorded = int(state["n_recorded"])
        self.updates_per_sweep = int(state["updates_per_sweep"])
        self.generator.set_state(state["generator"])

    def figures(self, history) -> dict[str, Any]:
        return {"configurations.png": configurations_figure(self.spins, self.L, self.T, self.algorithm)}


def configurations_figure(spins: torch.Tensor, L: int, T: float, algorithm: ising.Algorithm):
    """Four of the chains' current configurations, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(9, 2.6))
    for ax, k in zip(axes, range(4), strict=True):
        ax.imshow(spins[k % len(spins)].cpu(), cmap="gray", vmin=-1, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Ising L={L}, T={T:g} ({algorithm.value})")
    return fig


def estimates(configs: torch.Tensor, T: float, chains: int) -> dict[str, float]:
    """The observables of recorded configurations (chain-major), each with its `_err`, and the chains'
    integrated autocorrelation times."""
    est = ising.observables(configs, T, chains=chains)
    out: dict[str, float] = {}
    for name in OBSERVABLES:
        e = getattr(est, name)
        out[f"obs/{name}"], out[f"obs/{name}_err"] = e.value, e.stderr
    out["chain/tau_energy"] = est.tau_energy
    out["chain/tau_abs_magnetization"] = est.tau_abs_magnetization
    return out


def chain_metrics(spins: torch.Tensor) -> dict[str, float]:
    """Per step: the chains' mean |m| and energy per spin."""
    m = ising.magnetization(spins).abs().mean().item()
    return {"chain/abs_magnetization": m, "chain/energy": ising.energy_per_spin(spins).mean().item()}


FAMILY = IsingMCFamily
