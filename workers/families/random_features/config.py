"""Schemas of the random_features family: a fixed random ReLU layer and a fitted linear readout.

Registered in Hydra's ConfigStore as `schema/<group>/<name>` from `SCHEMAS` (see `pipelines.schema`);
torch-free, so composing a config never imports the family's code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from workers.families.base import FamilyChecks, ModelConfig, TrainConfig


class Solver(str, Enum):
    lstsq = "lstsq"
    """The minimum-norm least-squares readout Φ⁺y (or the ridge one), in one step."""
    gd = "gd"
    """Full-batch gradient descent on the readout from zero, which converges to Φ⁺y."""


@dataclass
class RandomFeaturesModelConfig(ModelConfig):
    """f(x) = relu(Wx/√d)/√p · a with W (p × d) fixed at N(0, 1) and only a fitted (`models.features`)."""

    family: str = "random_features"
    width: int = 100
    """p, the number of random features; the test error peaks at p = data.n_train."""
    solver: Solver = Solver.lstsq
    ridge: float = 0.0
    """Ridge penalty λ of (1/n)‖Φa − y‖² + λ‖a‖² for `lstsq` (0: minimum norm)."""


@dataclass
class ReadoutTrainConfig(TrainConfig):
    """How the readout is fitted: one exact step (`lstsq`), or `steps` of gradient descent (`gd`) on
    L = (1/2n)‖Φa − y‖², whose Hessian ΦᵀΦ/n has the top eigenvalue λ₀."""

    steps: int = 1
    lr: float = 0.1
    """Step size η of `gd`; ignored when `lr_scaled` is set."""
    lr_scaled: float | None = None
    """η·λ₀ for `gd` (stable below 2, for any width). None: use `lr`."""
    observe_every: int = 1
    checkpoint_every: int = 0
    dtype: str = "float64"


SCHEMAS: dict[str, dict[str, type]] = {
    "model": {"random_features": RandomFeaturesModelConfig},
    "train": {"readout": ReadoutTrainConfig},
}


def memory_bytes(model, data, train) -> int:
    """The fixed layer and the feature matrices of the train and test points, in float64."""
    return 8 * model.width * (data.dim + 2 * (data.n_train + data.n_test))


CHECKS = FamilyChecks(
    data_kinds=frozenset({"teacher"}),
    memory_bytes=memory_bytes,
    pack_note="a least-squares fit is one LAPACK call per trial; there is no loop to batch",
)
"""What the driver checks of a random_features trial before it runs."""
