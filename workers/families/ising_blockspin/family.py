"""Kadanoff block spins of the 2D Ising model as a family: the RG flow, measured level by level.

The sample: `train.chains` Swendsen–Wang chains (`models.ising.swendsen_wang_sweeps`), each started ordered
with a random global sign, run `data.burn_in` sweeps at `data.temperature`, then record `train.samples`
configurations `train.thin` sweeps apart. The flow: majority-rule blocks of side b = `model.block`,

    s'_I = sign(Σ_{i∈I} s_i)   (a tied block of even b takes a seeded random sign),

applied level by level, L → L/b → L/b² … down to `model.min_size` (`models.ising.block_spins`). Below T_c
the block spins order (G_nn → 1), above T_c they disorder (G_nn → 0), at T_c short-range correlations
stay put: the fixed point that Swendsen's matching of L and L/b locates (`models.ising.rg_fixed_point`).

Step = level. MLflow charts a metric against its step, and the loop logs what a step returns at that
step, so a loop step here is one RG step: step 0 draws the sample and measures the lattice itself (level
0), step k blocks level k−1 once more and measures level k (side L/b^k). `train.steps` is therefore the
number of levels to measure at most; steps past the last level (side `model.min_size`) return nothing,
and once the last level is measured the sample is dropped, so the final checkpoint is small.
`data.n_samples` and `data.algorithm` are not read: the sample is `train.chains × train.samples`
Swendsen–Wang configurations.

Metrics at step k (`models.ising.level_observables`, each with its `_err`, chains' autocorrelation
counted): `rg/abs_magnetization` ⟨|m|⟩, `rg/binder` U₄ = 1 − ⟨m⁴⟩/(3⟨m²⟩²), `rg/energy` e = H/N of the
block spins with unit coupling, `rg/nn_correlation` G_nn, `rg/nnn_correlation` G_nnn, and their
temperature responses `rg/nn_slope`, `rg/nnn_slope` dG/dT = Cov(G, H₀)/T²; `rg/L`, the level's side. The
same values are logged as `obs/<name>_l<k>` (one point each, at step k), so a child run's final metrics
hold the whole flow for the sweep analysis. Step 0 adds the chains' integrated autocorrelation times,
`chain/tau_energy` and `chain/tau_abs_magnetization`.
"""

from __future__ import annotations

from typing import Any

import torch

from models import ising
from workers.families.base import IsingDataConfig, check_spec
from workers.families.ising_blockspin.config import CHECKS, BlockSpinModelConfig, BlockSpinTrainConfig, level_sides

OBSERVABLES = (
    "abs_magnetization",
    "binder",
    "energy",
    "nn_correlation",
    "nnn_correlation",
    "nn_slope",
    "nnn_slope",
)


TIE_SEED = 7_919
"""Offset of the tie generator's seed from the trial's, so ties never reuse the sampler's random numbers."""


class IsingBlockSpinFamily:
    headline_metric = "rg/nn_correlation"

    def __init__(self, spec, device: torch.device) -> None:
        check_spec(spec, "ising_blockspin", CHECKS)
        data: IsingDataConfig = spec.data
        model: BlockSpinModelConfig = spec.model
        self.cfg: BlockSpinTrainConfig = spec.train
        self.L, self.T, self.burn_in = data.L, data.temperature, data.burn_in
        self.b, self.min_size = model.block, model.min_size
        self.device = device
        self.seed = spec.seed
        self.generator = torch.Generator(device=device).manual_seed(TIE_SEED + spec.seed)
        """Draws the signs of tied blocks; the sample has its own generator, seeded by `spec.seed`."""
        self.levels: list[torch.Tensor] = []
        """Level 0 (the sample, chain-major: rows [c·k, (c+1)·k) are chain c's series) and the current level."""
        self.level = -1
        """The last level measured."""
        self.n_levels = len(level_sides(self.L, self.b, self.min_size))

    # ------------------------------------------------------------------------ the loop's calls
    def step(self, step: int) -> dict[str, float]:
        if step >= self.n_levels:
            return {}  # past the last level: nothing left to block
        if step != self.level + 1:
            raise RuntimeError(f"RG step {step} after level {self.level}: levels are measured in order")
        if step == 0:
            self.levels = [self._sample()]
        else:
            self.levels = [self.levels[0], ising.block_spins(self.levels[-1], self.b, self.generator)]
        self.level = step
        metrics = self._measure(step) | (self._chain_metrics() if step == 0 else {})
        if step == self.n_levels - 1:
            self.levels = []  # the flow is measured: the final checkpoint need not hold the sample
        return metrics

    def observe(self, step: int) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {
            "levels": [s.cpu() for s in self.levels],
            "level": self.level,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.levels = [s.to(self.device) for s in state["levels"]]
        self.level = int(state["level"])
        self.generator.set_state(state["generator"])

    def figures(self, history) -> dict[str, Any]:
        return {"rg_flow.png": flow_figure(history, self.L, self.T, self.b)}

    # ------------------------------------------------------------------------ the work
    def _sample(self) -> torch.Tensor:
        """train.chains × train.samples Swendsen–Wang configurations, chain-major, int8 (n, L, L), from
        `models.ising.sample_sw` seeded by the trial's seed (block ties draw from their own generator)."""
        chains, samples = self.cfg.chains, self.cfg.samples
        return ising.sample_sw(
            self.L, self.T, chains * samples, chains=chains, burn_in=self.burn_in, thin=self.cfg.thin,
            seed=self.seed, device=self.device,
        )  # fmt: skip

    def _measure(self, level: int) -> dict[str, float]:
        """The current level's observables as `rg/<name>` (for the chart against the step) and
        `obs/<name>_l<level>` (a final metric per level), each with its `_err`."""
        est = ising.level_observables(self.levels, self.T, chains=self.cfg.chains, skip=len(self.levels) - 1)[-1]
        out: dict[str, float] = {"rg/L": float(est.L)}
        for name in OBSERVABLES:
            e = getattr(est, name)
            out[f"rg/{name}"], out[f"rg/{name}_err"] = e.value, e.stderr
            out[f"obs/{name}_l{level}"], out[f"obs/{name}_l{level}_err"] = e.value, e.stderr
        return out

    def _chain_metrics(self) -> dict[str, float]:
        """The chains' integrated autocorrelation times of e and |m| on the unblocked lattice, in samples."""
        est = ising.observables(self.levels[0].cpu(), self.T, chains=self.cfg.chains)
        return {"chain/tau_energy": est.tau_energy, "chain/tau_abs_magnetization": est.tau_abs_magnetization}


def flow_figure(history: dict[str, list[tuple[int, float]]], L: int, T: float, b: int):
    """G_nn, G_nnn, ⟨|m|⟩ and U₄ against the level, with their error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4))
    for name, label in (
        ("nn_correlation", "$G_{nn}$"),
        ("nnn_correlation", "$G_{nnn}$"),
        ("abs_magnetization", r"$\langle|m|\rangle$"),
        ("binder", "$U_4$"),
    ):
        points = dict(history.get(f"rg/{name}", []))
        errors = dict(history.get(f"rg/{name}_err", []))
        steps = sorted(points)
        ax.errorbar(steps, [points[s] for s in steps], [errors.get(s, 0.0) for s in steps], marker="o", label=label)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(f"level (side L/{b}^level)")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=8)
    ax.set_title(f"block-spin flow, L={L}, T={T:g}, b={b}")
    fig.tight_layout()
    return fig


FAMILY = IsingBlockSpinFamily
