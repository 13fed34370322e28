"""Schemas of the ising_blockspin family: Swendsen–Wang samples of the Ising model, blocked level by level.

Registered in Hydra's ConfigStore as `schema/<group>/<name>` from `SCHEMAS` (see `pipelines.schema`);
torch-free, so composing a config never imports the family's code.
"""

from __future__ import annotations

from dataclasses import dataclass

from workers.families.base import FamilyChecks, ModelConfig, TrainConfig


@dataclass
class BlockSpinModelConfig(ModelConfig):
    """No learner: the Ising model and Kadanoff's majority-rule block transform s'_I = sign(Σ_{i∈I} s_i)."""

    family: str = "ising_blockspin"
    width: int = 1
    block: int = 2
    """Linear block size b: each level has side L/b of the one before (2 or 3; ties of an even b take a
    seeded random sign)."""
    min_size: int = 4
    """Side of the last, smallest level. data.L must be min_size·b^n (n ≥ 1), so that every lattice of a
    sweep is blocked down to the same min_size × min_size block spins."""


@dataclass
class BlockSpinTrainConfig(TrainConfig):
    """The Monte Carlo sample (drawn at step 0, after data.burn_in Swendsen–Wang sweeps) and the RG steps.

    A loop step is one RG step: step k measures level k (side L/b^k; step 0 is the lattice itself).
    """

    steps: int = 12
    """RG levels to measure at most. Blocking stops at model.min_size, so the default measures every level
    of any lattice up to L = 4·2^11; steps past the last level log nothing."""
    samples: int = 256
    """Recorded configurations per chain."""
    chains: int = 32
    """Independent Swendsen–Wang chains, run in parallel."""
    thin: int = 1
    """Swendsen–Wang sweeps between recorded configurations."""
    observe_every: int = 1
    checkpoint_every: int = 0


SCHEMAS: dict[str, dict[str, type]] = {
    "model": {"ising_blockspin": BlockSpinModelConfig},
    "train": {"blockspin": BlockSpinTrainConfig},
}


def level_sides(L: int, b: int, min_size: int) -> list[int]:
    """The sides of the levels, L, L/b, …, down to min_size (the rule of `models.ising.block_levels`)."""
    sides = [L]
    while sides[-1] % b == 0 and sides[-1] // b >= min_size:
        sides.append(sides[-1] // b)
    return sides


def refusal(model, data, train=None) -> str | None:
    """Why this trial cannot block its lattice down to model.min_size, in one line that says how to fix it;
    None when it can: b ≥ 2, min_size ≥ 2 and L = min_size·b^n with n ≥ 1."""
    L, b, m = data.L, model.block, model.min_size
    if not isinstance(b, int) or b < 2:
        return f"model.block={b!r}: must be an integer >= 2 (the side of a Kadanoff block, 2 or 3)"
    if not isinstance(m, int) or m < 2:
        return f"model.min_size={m!r}: must be an integer >= 2 (the side of the last block-spin lattice)"
    sides = level_sides(L, b, m)
    if len(sides) > 1 and sides[-1] == m:
        return None
    fits = ", ".join(str(m * b**n) for n in range(1, 5))
    return (
        f"data.L={L} with model.block={b}: blocking must reach model.min_size={m} exactly, so L must be "
        f"{m}·{b}^n (n >= 1); use data.L={fits}, or another model.block / model.min_size"
    )


def memory_bytes(model, data, train) -> int:
    """The int8 sample, its blocked levels (≤ 1/(b²−1) more), and the float64 work arrays of one level's
    correlations (`models.ising.neighbour_correlations`: about five of the lattice's size)."""
    sites = train.chains * train.samples * data.L**2
    return sites + sites // max(model.block**2 - 1, 1) + 40 * sites


CHECKS = FamilyChecks(
    data_kinds=frozenset({"ising"}),
    memory_bytes=memory_bytes,
    pack_note="each trial samples and blocks its own lattice; it runs one per task",
    refusal=refusal,
)
"""What the driver checks of an ising_blockspin trial before it runs."""
