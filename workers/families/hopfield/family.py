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
        self.cfg: GlauberTrainConfig = spec.train
        self.N = spec.model.width
        P = pattern_count(spec)
        self.generator = torch.Generator(device=device).manual_seed(spec.seed)
        patterns, self.state = networks_and_cues(spec, P, self.generator, device)
        self.model = hopfield.Hopfield(patterns)
        self.target = patterns[:, :1, :]

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
        return retrieval_observables(self._overlaps())

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "state": self.state.cpu(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.state = state["state"].to(self.state.device)
        self.generator.set_state(state["generator"])

    def figures(self, history) -> dict[str, Any]:
        return {"overlaps.png": overlaps_figure(self._overlaps(), self.N, self.model.alpha, self.cfg.temperature)}


def pattern_count(spec) -> int:
    """P = round(αN), the patterns each network of the trial stores; ValueError for data that is not
    `patterns` or a load that stores none."""
    data: PatternsDataConfig = spec.data
    if data.kind != "patterns":
        raise ValueError(f"the hopfield family stores data.kind=patterns, got {data.kind!r}")
    N = spec.model.width
    P = round(data.alpha * N)
    if P < 1:
        raise ValueError(f"data.alpha={data.alpha} stores round(alpha*N) = 0 patterns at N={N}")
    return P


def networks_and_cues(spec, P: int, generator: torch.Generator, device: torch.device):
    """A trial's `train.networks` sets of P random patterns (networks, P, N) and the cue each network's
    dynamics start from (networks, 1, N): its pattern 0 with exactly round(flip_fraction·N) randomly chosen
    bits flipped. Draws from `generator` the patterns, then one uniform per bit to rank the flips."""
    N, networks = spec.model.width, spec.train.networks
    patterns = hopfield.random_patterns(P, N, n_networks=networks, generator=generator, device=device)
    ranks = torch.rand(networks, 1, N, generator=generator, device=device)
    flips = torch.where(ranks.argsort(-1).argsort(-1) < round(spec.data.flip_fraction * N), -1.0, 1.0)
    return patterns, patterns[:, :1, :] * flips


def retrieval_observables(m: torch.Tensor) -> dict[str, float]:
    """`obs/overlap_err` (standard error of the mean overlap over networks) and `obs/retrieved_fraction`
    (networks with m > 0.9) of one trial's final overlaps m, shape (networks,)."""
    return {
        "obs/overlap_err": (m.std() / math.sqrt(len(m))).item() if len(m) > 1 else 0.0,
        "obs/retrieved_fraction": (m > 0.9).float().mean().item(),
    }


def overlaps_figure(m: torch.Tensor, N: int, alpha: float, temperature: float):
    """Histogram of one trial's overlaps m over its networks (`overlaps.png`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.hist(m.cpu().numpy(), bins=20, range=(-1, 1))
    ax.set_xlabel("final overlap m")
    ax.set_ylabel("networks")
    ax.set_title(f"N={N}, α={alpha:.3f}, T={temperature:g}")
    fig.tight_layout()
    return fig


FAMILY = HopfieldFamily
