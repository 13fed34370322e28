"""Schemas of the sgld family: SGLD-sampled Bayesian models.

Registered in Hydra's ConfigStore as `schema/<group>/<name>` from `SCHEMAS` (see `pipelines.schema`);
torch-free, so composing a config never imports the family's code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from workers.families.base import DataConfig, FamilyChecks, ModelConfig, TrainConfig


class BayesArch(str, Enum):
    mlp = "mlp"  # a tanh MLP classifier with a Gaussian prior (digits)
    linear = "linear"  # Bayesian linear regression, analytic posterior (synthetic data)


class StepScheduleName(str, Enum):
    constant = "constant"
    polynomial = "polynomial"  # ε_t = lr·(1 + t)^(−γ): Σε = ∞, Σε² < ∞ (Welling & Teh 2011)
    cyclical = "cyclical"  # cosine cycles, noise only late in each cycle (Zhang et al. 2020)


@dataclass
class BayesModelConfig(ModelConfig):
    """A Bayesian model sampled by SGLD."""

    family: str = "sgld"
    arch: BayesArch = BayesArch.mlp
    width: int = 100
    """Hidden units per layer of the MLP (ignored by the linear model)."""
    depth: int = 1
    """Hidden layers of the MLP."""
    prior_std: float = 1.0
    """θ ~ N(0, prior_std²) on every weight and bias."""


@dataclass
class RegressionDataConfig(DataConfig):
    """Synthetic linear regression y = Xw* + noise, with an analytic Gaussian posterior."""

    kind: str = "regression"
    dim: int = 5
    n: int = 200
    noise_std: float = 0.5
    """Known observation noise σ of the likelihood."""
    split_seed: int = 0
    """Seed of X, w* and the noise (kept fixed while `seed` varies the chain)."""


@dataclass
class SGLDTrainConfig(TrainConfig):
    """SGLD sampling of p_T(θ|D) ∝ exp(−U(θ)/T) (Welling & Teh 2011; Wenzel et al. 2020)."""

    steps: int = 6000
    lr: float = 1e-2
    """Langevin step ε on U(θ) = −log p(θ) − (N/n)Σ log p(y|x,θ)."""
    batch_size: int = 128
    observe_every: int = 500
    checkpoint_every: int = 1000
    temperature: float = 1.0
    """Posterior temperature T: 1 samples the Bayes posterior, T → 0 optimises (cold)."""
    schedule: StepScheduleName = StepScheduleName.constant
    gamma: float = 0.55
    """Decay exponent of the polynomial schedule, in (0.5, 1]."""
    n_cycles: int = 4
    """Cycles of the cyclical schedule."""
    burn_in: int = 2000
    """Steps before posterior samples are collected."""
    thin: int = 20
    """Steps between collected samples."""
    preconditioned: bool = False
    """pSGLD: RMSprop-preconditioned SGLD (Li et al. 2016)."""


SCHEMAS: dict[str, dict[str, type]] = {
    "model": {"bayes": BayesModelConfig},
    "data": {"regression": RegressionDataConfig},
    "train": {"sgld": SGLDTrainConfig},
}


def pack_refusal(cfg) -> str | None:
    """pSGLD packs only the linear model (`population.SGLDPopulation`): its first step divides the gradient by
    |g| + 1e-5, so a packed MLP's batched-product rounding of a near-zero gradient is magnified 1e5-fold and
    the member would drift from its unpacked twin."""
    if cfg.train.get("preconditioned") and cfg.model.get("arch") == BayesArch.mlp.value:
        return "train.preconditioned=true on model.arch=mlp magnifies the pack's rounding; plain SGLD packs"
    return None


CHECKS = FamilyChecks(
    data_kinds=frozenset({"digits", "regression"}),
    packable=("seed", "train.lr", "train.temperature", "train.gamma", "model.prior_std"),
    pack_refusal=pack_refusal,
)
"""What the driver checks of a sgld trial before it runs."""
