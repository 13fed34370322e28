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


def pack_refusal(cfg) -> str | None:
    """Only Metropolis on an even L packs (`population.IsingMCPopulation`)."""
    if cfg.data.algorithm != "metropolis":
        return f"data.algorithm={cfg.data.algorithm}: a cluster grows per chain; data.algorithm=metropolis packs"
    if cfg.data.L % 2:
        return f"data.L={cfg.data.L} is odd: its 3-colour sweeps are not batched; an even L packs"
    return None


CHECKS = FamilyChecks(
    data_kinds=frozenset({"ising"}),
    memory_bytes=memory_bytes,
    packable=("seed",),
    packable_data={"ising": ("data.temperature",)},
    pack_refusal=pack_refusal,
)
"""What the driver checks of a ising_mc trial before it runs."""
