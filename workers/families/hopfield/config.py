"""Schemas of the hopfield family: Hopfield networks.

Registered in Hydra's ConfigStore as `schema/<group>/<name>` from `SCHEMAS` (see `pipelines.schema`);
torch-free, so composing a config never imports the family's code.
"""

from __future__ import annotations

from dataclasses import dataclass

from workers.families.base import DataConfig, FamilyChecks, ModelConfig, TrainConfig


@dataclass
class HopfieldModelConfig(ModelConfig):
    """Hopfield network with Hebbian storage W = (1/N) Σ_μ ξ^μ ξ^μᵀ, zero diagonal."""

    family: str = "hopfield"
    width: int = 1000
    """N, the number of ±1 neurons."""


@dataclass
class PatternsDataConfig(DataConfig):
    """Random ±1 patterns to store, and the corrupted cue that dynamics start from."""

    kind: str = "patterns"
    alpha: float = 0.05
    """Load α = P/N; P = round(αN) patterns are stored. Capacity α_c ≈ 0.138 at T = 0."""
    flip_fraction: float = 0.1
    """Fraction of the target pattern's bits flipped in the starting state."""


@dataclass
class GlauberTrainConfig(TrainConfig):
    """Glauber dynamics: each step is one random-sequential sweep of all N neurons."""

    steps: int = 30
    """Sweeps."""
    temperature: float = 0.0
    """Glauber temperature T (0: deterministic sign updates)."""
    networks: int = 32
    """Independent networks (fresh patterns each), run vectorised."""
    observe_every: int = 5
    checkpoint_every: int = 0


SCHEMAS: dict[str, dict[str, type]] = {
    "model": {"hopfield": HopfieldModelConfig},
    "data": {"patterns": PatternsDataConfig},
    "train": {"glauber": GlauberTrainConfig},
}


def memory_bytes(model, data, train) -> int:
    """Each network's float32 N×N couplings and its P×N patterns."""
    N = model.width
    return 4 * train.networks * (N * N + max(1, round(data.alpha * N)) * N)


CHECKS = FamilyChecks(
    data_kinds=frozenset({"patterns"}),
    memory_bytes=memory_bytes,
    packable=("seed", "train.temperature"),
    packable_data={"patterns": ("data.flip_fraction",)},
)
"""What the driver checks of a hopfield trial before it runs. Trials that differ only in `seed`,
`train.temperature` and `data.flip_fraction` share a pack (`population.HopfieldPopulation`): `model.width`
(N), `data.alpha` (P = round(αN)) and `train.networks` set the shapes of the patterns and states."""
