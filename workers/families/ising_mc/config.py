"""Schemas of the ising_mc family: Monte Carlo of the Ising model.

Registered in Hydra's ConfigStore as `schema/<group>/<name>` from `SCHEMAS` (see `pipelines.schema`);
torch-free, so composing a config never imports the family's code.
"""

from __future__ import annotations

from dataclasses import dataclass

from workers.families.base import FamilyChecks, ModelConfig, TrainConfig


@dataclass
class IsingMCModelConfig(ModelConfig):
    """No learner: the Ising model itself, sampled by Monte Carlo (ground truth for the analysis)."""

    family: str = "ising_mc"
    width: int = 1


@dataclass
class MCTrainConfig(TrainConfig):
    """Monte Carlo run: each step advances every chain by `thin` sweeps and records a configuration."""

    steps: int = 200
    """Recorded configurations per chain (after data.burn_in sweeps)."""
    chains: int = 32
    """Independent chains, run in parallel."""
    thin: int = 1
    """Sweeps (or Wolff sweep-equivalents) between recorded configurations."""
    observe_every: int = 50
    checkpoint_every: int = 0


SCHEMAS: dict[str, dict[str, type]] = {
    "model": {"ising_mc": IsingMCModelConfig},
    "train": {"mc": MCTrainConfig},
}


def memory_bytes(model, data, train) -> int:
    """The int8 record of every chain at every step, and the chains with the sampler's work arrays."""
    sites = data.L**2
    return train.chains * train.steps * sites + 16 * train.chains * sites


CHECKS = FamilyChecks(
    data_kinds=frozenset({"ising"}),
    memory_bytes=memory_bytes,
    pack_note="its chains are not batched over trials yet",
)
"""What the driver checks of a ising_mc trial before it runs."""
