"""The contract between a model family and the one training loop, and the schemas every family shares.

A family supplies only its update and its observables (NetKet's AbstractDriver split). The loop in
`workers.loop` owns stepping, logging, divergence checks and checkpoints. A family is a class
constructed once per trial:

    family = MyFamily(spec, device)          # builds model, data, optimiser from typed config
    family.step(step) -> {"train/loss": …}   # one update; flat dict of floats
    family.observe(step) -> {"obs/…": …}     # heavier observables, every train.observe_every
    family.state_dict() / load_state_dict()  # the whole state: params, optimiser, chains, RNG
    family.figures(history) -> {"name.png": Figure}   # extra plots (optional)

Metric names are namespaced: `train/…` (per-step learning signals), `obs/…` (order parameters and
observables), `chain/…` (sampler diagnostics), `theory/<swept key>` (where theory puts the transition along
that axis for this trial, e.g. `theory/model.width` = n_train; the sweep's plots draw it), `rg/…` (a
block-spin level's observables, step = level), `flow/…` (an RBM flow's temperatures, step = flow step).
`sys/…` is the loop's.

The schemas here are the bases every family's own schemas extend (`ModelConfig`, `DataConfig`,
`TrainConfig`), and the data kinds more than one family trains on (Ising samples, digits). They are
plain dataclasses, so workers and tests build them without Hydra; `pipelines.schema` registers them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch
    from matplotlib.figure import Figure


class FamilySpec(Protocol):
    """What a family reads of its trial (`workers.spec.TrialSpec` has it all)."""

    seed: int
    model: ModelConfig
    data: DataConfig
    train: TrainConfig
    sampler: Any


@dataclass(frozen=True)
class FamilyChecks:
    """What the driver checks of a family's trial before anything runs, declared as `CHECKS` in the
    family's torch-free `config.py`, so that checking a sweep never imports the family's code."""

    data_kinds: frozenset[str] | None = None
    """The `data.kind`s the family trains on; others are refused. None: any."""
    needs_sampler: bool = False
    """The trial must have a `sampler` config."""
    memory_bytes: Callable[[Any, Any, Any], int] | None = None
    """`(model, data, train) -> bytes`: a static estimate of the trial's peak memory from its shapes, so
    that a trial no node could hold is refused."""
    packable: tuple[str, ...] = ()
    """The config keys (dotted, e.g. `data.temperature`) in which trials may differ and still share a pack:
    keys that change no tensor shape. The family's `family.py` then names a `POPULATION` class
    (`Population`). Empty: the family cannot pack, and `pack_note` says why."""
    packable_data: dict[str, tuple[str, ...]] | None = None
    """More packable keys for one `data.kind` only, e.g. `{"ising": ("data.temperature",)}`."""
    pack_note: str = ""
    """Why the family cannot pack (shown once when a sweep asks for packs of it)."""
    refusal: Callable[[Any, Any, Any], str | None] | None = None
    """`(model, data, train) -> one-line reason | None`: a combination of values the family cannot run
    (e.g. a lattice side that blocking cannot bring down to its final size), refused before anything runs."""
    pack_refusal: Callable[[Any], str | None] | None = None
    """`(config) -> reason | None`, for a family that packs only some of its trials: why this trial's
    composed config cannot share a pack (e.g. its sampler is not batched), else None."""

    def packable_keys(self, kind: str | None) -> tuple[str, ...]:
        """The packable keys of a trial on data of `kind`."""
        return self.packable + (self.packable_data or {}).get(kind, ())


def check_spec(spec: FamilySpec, family: str, checks: FamilyChecks) -> None:
    """Raise ValueError, in the driver's words, for a trial the driver would have refused before it ran: a
    `data.kind` outside `checks.data_kinds`, or a combination `checks.refusal` names. For a family built
    directly (a notebook, a test), where no driver checked the config first."""
    kinds = checks.data_kinds
    if kinds is not None and spec.data.kind not in kinds:
        raise ValueError(f"the {family} family trains on data.kind in {sorted(kinds)}, got {spec.data.kind!r}")
    why = checks.refusal(spec.model, spec.data, spec.train) if checks.refusal is not None else None
    if why is not None:
        raise ValueError(why)


class Family(Protocol):
    """What the loop calls. A family given by import path (`model.family=pkg.mod:Class`) may carry the
    `FamilyChecks` fields as class attributes instead of a `CHECKS` in a config module."""

    headline_metric: str
    """The metric a summary table shows for this family's trials."""

    def __init__(self, spec: FamilySpec, device: torch.device) -> None: ...

    def step(self, step: int) -> dict[str, float]: ...

    def observe(self, step: int) -> dict[str, float]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def figures(self, history: dict[str, list[tuple[int, float]]]) -> dict[str, Figure]: ...


class Population(Protocol):
    """P trials of one family trained as one batched model: what the loop calls for a pack.

    Parameters carry a leading axis P, one entry per member; per-member hyperparameters (a learning rate,
    a temperature, a weight decay) are tensors of shape (P,). Each member draws its randomness from a
    generator seeded by its own trial seed, so what it computes does not depend on which members share its
    pack. `members` are the indices of the members that take part in a call: a member that diverged, or one
    resumed from a later checkpoint than the others, is left out of the update and keeps its state.
    `workers.loop.Solo` makes any `Family` a population of one.
    """

    size: int
    headline_metric: str

    def __init__(self, specs: list[FamilySpec], device: torch.device) -> None: ...

    def step(self, step: int, members: list[int]) -> list[dict[str, float]]: ...

    def observe(self, step: int, members: list[int]) -> list[dict[str, float]]: ...

    def member_state(self, i: int) -> dict[str, Any]: ...

    def load_member_state(self, i: int, state: dict[str, Any]) -> None: ...

    def figures(self, i: int, history: dict[str, list[tuple[int, float]]]) -> dict[str, Figure]: ...


class Device(str, Enum):
    """Where a trial computes. `auto` takes the GPU Ray assigned the task, else the CPU."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class OptimizerName(str, Enum):
    sgd = "sgd"
    adam = "adam"


# ---------------------------------------------------------------------------------- bases
@dataclass
class ModelConfig:
    """Base of every model config."""

    family: str = "rbm"
    """Registered family name (a package under `workers/families/`) or an import path `pkg.mod:Class`."""
    width: int = 16
    """Hidden units of an RBM, hidden width of an MLP, or the number of neurons of a Hopfield net."""


@dataclass
class DataConfig:
    """Base of every data config."""

    kind: str = "ising"
    """Which data source; each family accepts the kinds it knows."""


@dataclass
class TrainConfig:
    """The one training loop and the optimiser."""

    steps: int = 300
    """Number of parameter updates."""
    lr: float = 1e-2
    """Learning rate of the optimiser."""
    batch_size: int = 64
    """Minibatch size."""
    optimizer: OptimizerName = OptimizerName.sgd
    momentum: float = 0.0
    """Momentum of SGD (ignored by Adam)."""
    weight_decay: float = 0.0
    """L2 penalty added by the optimiser."""
    device: Device = Device.auto
    """auto | cpu | cuda."""
    observe_every: int = 25
    """Steps between evaluations of the (more expensive) observables `obs/…`."""
    checkpoint_every: int = 200
    """Steps between checkpoints of the whole trial state (0: only the final one). Metrics are
    flushed with each checkpoint, so a retried trial resumes there without gaps or duplicates."""


# ------------------------------------------------------------------ data kinds shared by families
@dataclass
class IsingDataConfig(DataConfig):
    """Monte Carlo samples of the 2D Ising model at `temperature` (J = k_B = 1)."""

    kind: str = "ising"
    L: int = 8
    """Linear lattice size; a sample has L×L spins."""
    temperature: float = 2.269
    """Temperature T of the training data, in units of J/k_B. T_c ≈ 2.269."""
    n_samples: int = 2000
    """Number of training configurations (one independent chain each)."""
    burn_in: int = 500
    """Monte Carlo sweeps before a chain is sampled."""
    algorithm: str = "metropolis"
    """Monte Carlo algorithm that generates the data."""
    cache_dir: str | None = None
    """Directory where generated samples are cached and shared by trials; None disables caching."""


@dataclass
class DigitsDataConfig(DataConfig):
    """scikit-learn's bundled 8×8 digits (no download), standardised, fixed stratified split."""

    kind: str = "digits"
    test_size: float = 0.25
    split_seed: int = 0
    """Seed of the train/test split (kept fixed while `seed` varies the chain)."""


class Nonlinearity(str, Enum):
    """An elementwise function: a net's activation, or a teacher's output nonlinearity."""

    tanh = "tanh"
    relu = "relu"
    linear = "linear"


@dataclass
class TeacherDataConfig(DataConfig):
    """Synthetic regression: x ~ N(0, I_d) scaled to norm √d, y = g(w*·x/√d) + ε, ε ~ N(0, label_noise²)
    on the training labels (`models.datasets.teacher_regression`)."""

    kind: str = "teacher"
    dim: int = 16
    n_train: int = 64
    n_test: int = 1000
    target: Nonlinearity = Nonlinearity.tanh
    """g, the teacher's nonlinearity (linear: a linear teacher)."""
    label_noise: float = 0.0
    """Standard deviation of the noise on the training labels (test labels are noiseless)."""
    split_seed: int = 0
    """Seed of the inputs, the teacher and the noise (fixed while `seed` varies the initialisation)."""


SCHEMAS: dict[str, dict[str, type]] = {
    "model": {"base": ModelConfig},
    "data": {"base": DataConfig, "ising": IsingDataConfig, "digits": DigitsDataConfig, "teacher": TeacherDataConfig},
    "train": {"base": TrainConfig},
}
"""`schema/<group>/<name>` entries; each family's `config.SCHEMAS` adds its own."""
