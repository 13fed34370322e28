"""Schemas of the rbm_stack family: a deep belief network of RBMs, trained greedily with an L1 penalty on
Swendsen–Wang samples of the 2D Ising model (Mehta & Schwab, arXiv:1410.3831: 40×40 → 400 → 100 → 25).

Registered in Hydra's ConfigStore as `schema/<group>/<name>` from `SCHEMAS` (see `pipelines.schema`);
torch-free, so composing a config never imports the family's code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from workers.families.base import FamilyChecks, ModelConfig, TrainConfig


@dataclass
class RBMStackModelConfig(ModelConfig):
    """Layer 1 has L² visible and `width` hidden units; each width in `deeper` adds a layer on top."""

    family: str = "rbm_stack"
    width: int = 400
    """Hidden units of the first layer."""
    deeper: list[int] = field(default_factory=lambda: [100, 25])
    """Hidden units of the layers above the first, bottom to top."""
    init_std: float = 0.01


@dataclass
class RBMStackTrainConfig(TrainConfig):
    """Greedy layer-wise training: the layers take `steps` updates in equal shares, one after another; each
    layer's data is the mean-field hidden response of the layer below to the one below it.

    The Monte Carlo sample (`data.n_samples` configurations at `data.temperature`, side `data.L`) is drawn
    by Swendsen–Wang at step 0: `chains` chains, `data.burn_in` sweeps, then one configuration every `thin`
    sweeps. `data.algorithm` is not read."""

    steps: int = 3000
    """Updates in all; each of the layers gets steps // layers of them."""
    lr: float = 0.05
    batch_size: int = 100
    momentum: float = 0.5
    l1: float = 1e-2
    """λ of the penalty λ Σ|W_ij| on every layer's weights."""
    k: int = 1
    """Gibbs steps per update (CD-k / PCD-k)."""
    persistent: bool = False
    window: int = 5
    """Side of the square in which the first layer's locality is measured; layer ℓ's effective receptive
    fields (W₁⋯W_ℓ on the lattice) are measured in squares of side window·2^(ℓ−1)."""
    chains: int = 1000
    thin: int = 3
    observe_every: int = 250
    checkpoint_every: int = 1000


SCHEMAS: dict[str, dict[str, type]] = {
    "model": {"rbm_stack": RBMStackModelConfig},
    "train": {"rbm_stack": RBMStackTrainConfig},
}


def layer_widths(model) -> list[int]:
    """Hidden units of every layer, bottom to top."""
    return [model.width, *model.deeper]


def refusal(model, data, train=None) -> str | None:
    """Why this trial cannot run, in one line that says how to fix it; None when it can."""
    widths = layer_widths(model)
    if any(not isinstance(w, int) or w < 1 for w in widths):
        return f"model.width={model.width}, model.deeper={list(model.deeper)}: every layer needs >= 1 hidden unit"
    if train is None:
        return None
    if train.steps < len(widths):
        return f"train.steps={train.steps}: the {len(widths)} layers need at least one update each"
    if not 1 <= train.window <= data.L:
        return f"train.window={train.window}: must lie in [1, data.L={data.L}]"
    if data.n_samples < train.batch_size:
        return f"data.n_samples={data.n_samples} is below train.batch_size={train.batch_size}"
    if train.chains < 1 or data.n_samples % train.chains:
        return f"data.n_samples={data.n_samples} must be a multiple of train.chains={train.chains} (>= 1)"
    if train.l1 < 0 or train.k < 1:
        return f"train.l1={train.l1}, train.k={train.k}: need l1 >= 0 and k >= 1"
    return None


def effective_window(window: int, layer: int, L: int) -> int:
    """The square side in which layer `layer` (1-based) is measured: window·2^(layer−1), at most L."""
    return min(window * 2 ** (layer - 1), L)


def memory_bytes(model, data, train) -> int:
    """The int8 sample and its float copy, every layer's weights with gradient and momentum, the layer data."""
    widths = layer_widths(model)
    sizes = [data.L**2, *widths]
    weights = sum(a * b for a, b in pairwise(sizes))
    return data.n_samples * data.L**2 * 5 + 4 * 3 * weights + 4 * data.n_samples * max(widths) * 2


CHECKS = FamilyChecks(
    data_kinds=frozenset({"ising"}),
    memory_bytes=memory_bytes,
    pack_note="each trial trains its own stack layer by layer; it runs one per task",
    refusal=refusal,
)
"""What the driver checks of an rbm_stack trial before it runs."""
