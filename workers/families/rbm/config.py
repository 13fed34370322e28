"""Schemas of the rbm family: RBMs trained by CD-k / PCD-k.

Registered in Hydra's ConfigStore as `schema/<group>/<name>` from `SCHEMAS` (see `pipelines.schema`);
torch-free, so composing a config never imports the family's code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from workers.families.base import DataConfig, FamilyChecks, ModelConfig, TrainConfig


class LearningRule(str, Enum):
    """How the negative phase of an RBM gradient is sampled."""

    cd = "cd"  # contrastive divergence: chains restart at the data batch every step
    pcd = "pcd"  # persistent CD: chains carry over between steps (Tieleman 2008)


class LRSchedule(str, Enum):
    constant = "constant"
    cosine = "cosine"  # cosine decay to 0 over train.steps
    exponential = "exponential"  # lr·gamma^step, gamma = train.lr_decay


@dataclass
class RBMConfig(ModelConfig):
    """Bernoulli–Bernoulli RBM; the visible layer size is set by the data (L² for Ising)."""

    family: str = "rbm"
    width: int = 16
    init_std: float = 0.01
    """Standard deviation of the initial weights W ~ N(0, init_std²)."""


@dataclass
class ClusteredDataConfig(DataConfig):
    """Binary data in clusters ±ξ_a with bit-flip noise (for the RBM training cascade)."""

    kind: str = "clustered"
    N: int = 100
    """Visible units."""
    n_samples: int = 4096
    n_modes: int = 1
    """Cluster pairs ±ξ_a."""
    flip_prob: float = 0.1


@dataclass
class RBMTrainConfig(TrainConfig):
    """Training of an RBM by contrastive divergence."""

    rule: LearningRule = LearningRule.cd
    k: int = 1
    """Gibbs steps per update in CD-k / PCD-k."""
    sample_chains: int = 256
    """Chains drawn from the RBM when its observables are measured."""
    sample_steps: int = 200
    """Gibbs steps of those chains, started from uniform noise (CD). Under PCD the observables
    are measured on the persistent chains instead."""
    sample_warm_steps: int = 0
    """CD: 0 draws fresh chains at every observe. N > 0 keeps the measurement chains: each observe
    after the first continues the previous one's chains N Gibbs steps at a time, until one block of N
    passes a drift check (`models.mcmc.gibbs_until_stationary`), and at most `sample_steps` in all
    (so N ≥ `sample_steps` means one block of `sample_steps`). `chain/steps` and `chain/drift_z` log
    what each observe used. Unused under PCD, whose chains persist anyway."""
    lr_schedule: LRSchedule = LRSchedule.constant
    lr_decay: float = 0.999
    """Per-step factor of the exponential schedule."""
    modes: int = 3
    """Top singular modes of W tracked: σ_k, and m_k, χ_k of model samples and data."""
    loglik_every: int = 0
    """Steps between log-likelihood estimates (0: off): exact when the smaller layer has
    ≤ 20 units, else AIS (Salakhutdinov & Murray 2008) with its standard error."""
    ais_chains: int = 200
    ais_betas: int = 1000


SCHEMAS: dict[str, dict[str, type]] = {
    "model": {"rbm": RBMConfig},
    "data": {"clustered": ClusteredDataConfig},
    "train": {"rbm": RBMTrainConfig},
}


def memory_bytes(model, data, train) -> int:
    """Peak float32 memory from the shapes: W with its gradient and two optimiser buffers, the data
    as spins and visible units with a batch copy, and the sampling chains with their hidden units."""
    n_v = data.L**2 if data.kind == "ising" else data.N
    n_h = model.width
    floats = 4 * n_v * n_h + 3 * data.n_samples * n_v
    floats += 4 * max(train.sample_chains, train.batch_size) * (n_v + n_h)
    return 4 * floats


CHECKS = FamilyChecks(
    data_kinds=frozenset({"ising", "clustered"}),
    memory_bytes=memory_bytes,
    packable=("seed", "train.lr", "train.weight_decay", "train.momentum", "model.init_std"),
    packable_data={"ising": ("data.temperature",)},
)
"""What the driver checks of a rbm trial before it runs."""
