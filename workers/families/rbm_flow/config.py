"""Schemas of the rbm_flow family: an RBM trained on Ising configurations pooled over a temperature range, then
iterated v → h → v from Monte Carlo configurations at several starting temperatures T₀.

Registered in Hydra's ConfigStore as `schema/<group>/<name>` from `SCHEMAS` (see `pipelines.schema`);
torch-free, so composing a config never imports the family's code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workers.families.base import FamilyChecks, ModelConfig, TrainConfig

THERMOMETER_RANGE = (0.5, 6.5)
"""The temperatures of the energy thermometer's grid (step `train.thermometer_step`): every T₀ must lie inside."""


@dataclass
class RBMFlowModelConfig(ModelConfig):
    """Bernoulli–Bernoulli RBM with L² visible units and `width` hidden units."""

    family: str = "rbm_flow"
    width: int = 64


@dataclass
class RBMFlowTrainConfig(TrainConfig):
    """Step 0 trains the RBM (CD-k or PCD-k, SGD with momentum) and measures the flows' starting
    temperatures; loop step n > 0 takes flow step n. `steps` = flow steps + 1."""

    steps: int = 21
    """Flow steps + 1: step 0 trains and reads T₀, steps 1 … steps−1 each take one v → h → v step."""
    lr: float = 0.05
    batch_size: int = 100
    momentum: float = 0.5
    t_min: float = 1.0
    """Lowest temperature of the training set."""
    t_max: float = 3.5
    """Highest temperature of the training set."""
    temperatures: int = 11
    """Evenly spaced training temperatures in [t_min, t_max], `samples_per_T` Swendsen–Wang configurations each."""
    samples_per_T: int = 1000
    epochs: int = 50
    """Passes over the pooled training set."""
    k: int = 1
    """Gibbs steps per update (CD-k / PCD-k)."""
    persistent: bool = False
    """PCD (chains carried across updates) instead of CD."""
    starts: list[float] = field(default_factory=lambda: [1.5, 2.0, 2.5, 3.0, 4.0])
    """T₀ of the flows: each starts from `flows` independent Swendsen–Wang configurations at T₀."""
    flows: int = 500
    """Independent flows per T₀."""
    mean_field: bool = False
    """Iterate the conditional probabilities instead of sampled units; T is then read on configurations
    drawn from them."""
    thermometer_samples: int = 1000
    """Swendsen–Wang samples per temperature of the energy thermometer's e(T) curve."""
    thermometer_step: float = 0.1
    stationary_steps: int = 500
    """Flow steps from uniform noise that read the RBM's own stationary temperature (logged at the last step)."""
    observe_every: int = 1
    checkpoint_every: int = 5


SCHEMAS: dict[str, dict[str, type]] = {
    "model": {"rbm_flow": RBMFlowModelConfig},
    "train": {"rbm_flow": RBMFlowTrainConfig},
}


def refusal(model, data, train=None) -> str | None:
    """Why this trial cannot run, in one line that says how to fix it; None when it can."""
    if train is None:
        return None
    lo, hi = THERMOMETER_RANGE
    if not 0 < train.t_min < train.t_max:
        return f"train.t_min={train.t_min}, train.t_max={train.t_max}: need 0 < t_min < t_max"
    if train.temperatures < 2:
        return f"train.temperatures={train.temperatures}: the training set needs at least 2 temperatures"
    if not train.starts:
        return "train.starts is empty: give the flows' starting temperatures, e.g. train.starts=[1.5,4.0]"
    outside = [t for t in train.starts if not lo < t < hi]
    if outside:
        return f"train.starts={list(train.starts)}: {outside} outside the thermometer's range ({lo}, {hi})"
    if train.steps < 1 or train.flows < 2 or train.epochs < 1 or train.k < 1:
        return "train.steps, train.epochs and train.k must be >= 1 and train.flows >= 2"
    return None


def memory_bytes(model, data, train) -> int:
    """float32 training set, weights with gradient and momentum, and the flows' configurations."""
    n_v = data.L**2
    floats = train.temperatures * train.samples_per_T * n_v + 3 * n_v * model.width
    floats += len(train.starts) * train.flows * (n_v + model.width)
    return 4 * floats


CHECKS = FamilyChecks(
    data_kinds=frozenset({"ising"}),
    memory_bytes=memory_bytes,
    pack_note="each trial trains one RBM on its own pooled data; it runs one per task",
    refusal=refusal,
)
"""What the driver checks of an rbm_flow trial before it runs."""
