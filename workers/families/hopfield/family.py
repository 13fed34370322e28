"""Hopfield networks: retrieval of a stored pattern under Glauber dynamics at temperature T.

`train.networks` independent networks each store P = round(αN) random patterns (Hebbian,
W = (1/N) Σ ξξᵀ, zero diagonal) and start from pattern 0 with `data.flip_fraction` of its bits
flipped. Each step is one random-sequential Glauber sweep (`models.hopfield.glauber`). The
order parameter is the overlap m = ξ⁰·s/N with the target; a sweep over α at T = 0 shows the
capacity transition near α_c ≈ 0.138 (Amit, Gutfreund & Sompolinsky 1985).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from models import hopfield
from workers.families.hopfield.config import GlauberTrainConfig, PatternsDataConfig


class HopfieldFamily:
    headline_metric = "obs/overlap"

    def __init__(self, spec, device: torch.device) -> None:
        data: PatternsDataConfig = spec.data
        self.cfg: GlauberTrainConfig = spec.train
        if data.kind != "patterns":
            raise ValueError(f"the hopfield family stores data.kind=patterns, got {data.kind!r}")
        self.N = spec.model.width
        P = round(data.alpha * self.N)
        if P < 1:
            raise ValueError(f"data.alpha={data.alpha} stores round(alpha*N) = 0 patterns at N={self.N}")
        self.generator = torch.Generator(device=device).manual_seed(spec.seed)
        patterns = hopfield.random_patterns(
            P, self.N, n_networks=self.cfg.networks, generator=self.generator, device=device
        )
        self.model = hopfield.Hopfield(patterns)
        self.target = patterns[:, :1, :]
        ranks = torch.rand(self.cfg.networks, 1, self.N, generator=self.generator, device=device)
        flips = torch.where(ranks.argsort(-1).argsort(-1) < round(data.flip_fraction * self.N), -1.0, 1.0)
        self.state = self.target * flips

    def _overlaps(self) -> torch.Tensor:
        return hopfield.overlap(self.state, self.target).flatten()

    def step(self, step: int) -> dict[str, float]:
        self.state = hopfield.glauber(
            self.model, self.state, sweeps=1, temperature=self.cfg.temperature, generator=self.generator
        )
        m = self._overlaps()
        return {
            "obs/overlap": m.mean().item(),
            "train/energy_per_neuron": (self.model.energy(self.state).mean() / self.N).item(),
        }

    def observe(self, step: int) -> dict[str, float]:
        m = self._overlaps()
        return {
            "obs/overlap_err": (m.std() / math.sqrt(len(m))).item() if len(m) > 1 else 0.0,
            "obs/retrieved_fraction": (m > 0.9).float().mean().item(),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "state": self.state.cpu(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.state = state["state"].to(self.state.device)
        self.generator.set_state(state["generator"])

    def figures(self, history) -> dict[str, Any]:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3))
        ax.hist(self._overlaps().cpu().numpy(), bins=20, range=(-1, 1))
        ax.set_xlabel("final overlap m")
        ax.set_ylabel("networks")
        ax.set_title(f"N={self.N}, α={self.model.alpha:.3f}, T={self.cfg.temperature:g}")
        fig.tight_layout()
        return {"overlaps.png": fig}


FAMILY = HopfieldFamily
