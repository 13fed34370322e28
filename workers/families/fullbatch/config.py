"""Schemas of the fullbatch family: MLPs trained by full-batch gradient descent on MSE.

Registered in Hydra's ConfigStore as `schema/<group>/<name>` from `SCHEMAS` (see `pipelines.schema`);
torch-free, so composing a config never imports the family's code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from workers.families.base import DataConfig, FamilyChecks, ModelConfig, TrainConfig
from workers.families.base import Nonlinearity as Activation


class Parameterization(str, Enum):
    ntk = "ntk"
    """Weights N(0, 1), each layer's pre-activation scaled by 1/√fan_in: the NTK stays O(1) as width
    grows, and a wide net trains lazily below η·λ₀ = 2 (Jacot et al. 2018; Lewkowycz et al. 2020)."""
    standard = "standard"
    """torch's default init (U(±1/√fan_in)) without output scaling: the usual net, that sharpens
    progressively under GD (Cohen et al. 2021)."""


@dataclass
class MLPModelConfig(ModelConfig):
    """A fully connected net x → φ(W₁x) → … → linear readout, with `depth` hidden layers of `width`."""

    family: str = "fullbatch"
    width: int = 512
    depth: int = 1
    """Hidden layers; 1 is the two-layer net of the catapult paper."""
    activation: Activation = Activation.relu
    parameterization: Parameterization = Parameterization.ntk


@dataclass
class DigitsMSEDataConfig(DataConfig):
    """The first `n_train` of scikit-learn's 8×8 digits as x = p/8 − 1, one-hot targets for an MSE fit
    (the setting of Cohen et al. with CIFAR-10, at a size two CPU cores train in seconds)."""

    kind: str = "digits_onehot"
    n_train: int = 500
    n_test: int = 500
    """Held-out digits (after the first n_train) for the test loss."""


@dataclass
class GDTrainConfig(TrainConfig):
    """Full-batch gradient descent on L = (1/2n) Σᵢ ‖f(xᵢ) − yᵢ‖², the loss normalisation λ₀ refers to."""

    steps: int = 1000
    lr: float = 0.01
    """Step size η; ignored when `lr_scaled` is set."""
    lr_scaled: float | None = None
    """η·λ₀, the step in units of the NTK's top eigenvalue at initialisation (η = lr_scaled/λ₀):
    theory's thresholds are numbers on this axis (lazy below 2). None: use `lr`."""
    sharpness_every: int = 10
    """Steps between measurements of the sharpness λ_max(∇²L) (0: only at observe steps)."""
    power_iters: int = 20
    """Most Hessian-vector products per sharpness measurement (warm-started, so few are needed)."""
    divergence_factor: float = 1e8
    """A loss above this many times the initial loss counts as divergent: training stops there and the
    trial ends with outcome divergent (an outcome, not a failure)."""
    observe_every: int = 100
    checkpoint_every: int = 0
    dtype: str = "float64"
    """float64 keeps λ₀ and the sharpness exact to many digits at these sizes; float32 is faster."""


SCHEMAS: dict[str, dict[str, type]] = {
    "model": {"mlp": MLPModelConfig},
    "data": {"digits_onehot": DigitsMSEDataConfig},
    "train": {"gd": GDTrainConfig},
}


def memory_bytes(model, data, train) -> int:
    """Parameters, their gradients and a Hessian-vector product's graph: a few copies of the weights,
    plus activations for every training point."""
    dim = getattr(data, "dim", 64)
    params = model.width * (dim + 10 + (model.depth - 1) * model.width)
    return 8 * (6 * params + 4 * data.n_train * model.width * model.depth)


CHECKS = FamilyChecks(
    data_kinds=frozenset({"teacher", "digits_onehot"}),
    memory_bytes=memory_bytes,
    pack_note="its sharpness and NTK power iterations run per model, not batched over trials yet",
)
"""What the driver checks of a fullbatch trial before it runs."""
