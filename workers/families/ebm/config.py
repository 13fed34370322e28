"""Schemas of the ebm family: Deep EBMs trained with short-run Langevin samples.

Registered in Hydra's ConfigStore as `schema/<group>/<name>` from `SCHEMAS` (see `pipelines.schema`);
torch-free, so composing a config never imports the family's code.
"""

from __future__ import annotations

from dataclasses import dataclass

from workers.families.base import DataConfig, FamilyChecks, ModelConfig, OptimizerName, TrainConfig


@dataclass
class EBMModelConfig(ModelConfig):
    """An MLP energy E_θ(x) on continuous data."""

    family: str = "ebm"
    width: int = 128
    depth: int = 2


@dataclass
class Synthetic2DDataConfig(DataConfig):
    """Generated 2D data: a ring of Gaussians or two moons."""

    kind: str = "ring"
    """ring | moons"""
    n: int = 10000
    """Training points."""
    n_heldout: int = 2000
    """Held-out points for MMD."""
    mmd_bandwidth: float | None = 0.2
    """RBF bandwidth of the MMD; null: median heuristic."""


@dataclass
class LangevinSamplerConfig:
    """Short-run Langevin x ← x − (ε/2)∇E(x) + √(εT)ξ, with a replay buffer."""

    temperature: float = 0.25
    """T of the Langevin dynamics."""
    step_size: float = 0.01
    """ε."""
    steps: int = 20
    """Langevin steps per training update."""
    eval_steps: int = 200
    """Steps of the fresh chains (from uniform noise) whose samples are scored by MMD."""
    long_run_factor: int = 10
    """Long-run chains run this many times eval_steps (≥ 10 exposes non-convergent EBMs)."""
    clip: float = 3.0
    """Chains are clipped to the box [−clip, clip]^d, which is also the buffer's init box."""
    buffer_size: int = 10000
    reinit_prob: float = 0.05
    """Probability that a buffer chain restarts from uniform noise."""


@dataclass
class EBMTrainConfig(TrainConfig):
    """Contrastive maximum likelihood with replay-buffer Langevin samples (Du & Mordatch 2019)."""

    steps: int = 2000
    lr: float = 3e-3
    batch_size: int = 128
    optimizer: OptimizerName = OptimizerName.adam
    beta1: float = 0.0
    """Adam β₁ (0 is usual for EBMs)."""
    cosine_decay: bool = True
    alpha: float = 0.01
    """Energy-magnitude regulariser α·mean(E²)."""
    grad_clip: float = 1.0
    """Max gradient norm (0: off)."""
    eval_chains: int = 500
    observe_every: int = 250
    checkpoint_every: int = 500
    divergence_patience: int = 3
    """`train/divergence_flag` is set after |d_t| grew at this many consecutive logs."""


SCHEMAS: dict[str, dict[str, type]] = {
    "model": {"ebm": EBMModelConfig},
    "data": {"synthetic2d": Synthetic2DDataConfig},
    "train": {"ebm": EBMTrainConfig},
    "sampler": {"langevin": LangevinSamplerConfig},
}


PACKABLE = (
    "seed",
    "train.lr",
    "train.beta1",
    "train.cosine_decay",
    "train.grad_clip",
    "train.alpha",
    "train.divergence_patience",
    "sampler.temperature",
    "sampler.step_size",
    "sampler.clip",
    "sampler.reinit_prob",
)
"""Keys in which ebm trials may differ and share a pack (`population.EBMPopulation`): each member keeps its
own optimiser, schedule, loss weight, replay buffer and generator, and its Langevin ε, T and clip box are
per-member tensors. Keys that shape a tensor (width, depth, data size, batch size, chains, buffer size) or
set a loop's length (Langevin steps, training steps) are the pack's."""

CHECKS = FamilyChecks(
    data_kinds=frozenset({"ring", "moons", "digits"}),
    needs_sampler=True,
    packable=PACKABLE,
    packable_data={kind: ("data.mmd_bandwidth",) for kind in ("ring", "moons")},
)
"""What the driver checks of a ebm trial before it runs."""
