"""Typed schemas of what every trial has whatever its family: tracking, cluster, resources, analysis.

A family's own schemas (model, data, train, sampler) sit beside it in `workers/families/<name>/config.py`,
on the bases in `workers.families.base`. These are plain dataclasses, so workers and tests build them
without Hydra; `pipelines.schema` registers them all in Hydra's ConfigStore, and the YAML files under
`conf/` extend them. Every field is documented; fixed choices are Enums.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrackingConfig:
    """Where results go: an MLflow tracking store."""

    uri: str | None = None
    """Tracking URI. None: $MLFLOW_TRACKING_URI, else sqlite:///<cwd>/mlflow.db."""
    experiment: str = "phasesweep"
    """MLflow experiment name (an experiment file sets it to its own name)."""
    flush_every: int = 50
    """Metric steps buffered before a log_batch request (when train.checkpoint_every is 0)."""
    log_checkpoint: bool = True
    """Keep checkpoints as run artifacts (`checkpoints/last.pt`); needed to resume a retried trial."""
    checkpoint_dir: str | None = None
    """A shared path every node can reach for checkpoints instead of the run's artifact store."""
    outage_limit_s: float = 600.0
    """How long the sink retries (with backoff, spooling points locally) while the tracking
    store is unreachable before the trial fails; its spool is kept for replay."""
    spool_dir: str = ".phasesweep_spool"
    """Where unsent metric points wait during a tracking outage."""
    lease_s: float = 60.0
    """A running trial, and the driver of a running sweep, refresh a heartbeat tag every lease_s/4.
    A rerun refuses a sweep whose driver beat within lease_s, and resumes a RUNNING trial only once
    its beat is older than lease_s (its owner is gone, e.g. killed with kill -9)."""


# -------------------------------------------------------------------------------- cluster
@dataclass
class ClusterConfig:
    """Where Ray runs. With no address a local Ray instance starts on 127.0.0.1."""

    address: str | None = None
    """None: embedded local Ray (or the cluster named by $RAY_ADDRESS under `ray job submit`).
    Otherwise `auto`, `ray://host:10001` or `host:6379`."""
    num_cpus: int | None = None
    """CPUs the embedded local instance may use; None means all of this machine's."""
    num_gpus: int | None = None
    """GPUs the embedded local instance may use; None means all visible ones."""
    include_dashboard: bool = False
    """Start Ray's dashboard with the embedded instance (bound to 127.0.0.1)."""
    runtime_env: dict[str, Any] = field(default_factory=dict)
    """Ray runtime_env for the trials when connecting to a cluster. Under `ray job submit` the
    job already ships its working directory, so `working_dir` here is ignored there."""
    autoscaling: bool = False
    """The cluster adds nodes on demand: a request no alive node can serve yet only warns."""


@dataclass
class ResourcesConfig:
    """What one trial asks Ray for."""

    cpus: float = 1.0
    """CPUs per trial (fractions allowed)."""
    gpus: float = 0.0
    """GPUs per trial; fractions < 1 let trials share one GPU."""
    max_retries: int = 2
    """Times Ray re-runs a trial whose worker process or node died; each retry resumes from the trial's
    last checkpoint in the same run. Past them the run ends KILLED, so a rerun resumes it too."""


@dataclass
class PackConfig:
    """How a sweep packs its trials: many small trials trained as one batched model in one Ray task, each
    still its own MLflow child run (`workers.trial.run_pack`)."""

    size: Any = 1
    """Most trials per pack (an integer >= 1), or `auto`: as many as spread the sweep's packable trials
    evenly over Ray's slots, at most 64 on a CPU and 256 on a GPU. 1: one trial per task. Only trials that
    differ in their family's packable keys (values that change no tensor shape) share a pack."""


# ------------------------------------------------------------------------------ analysis
@dataclass
class AnalysisConfig:
    """What to measure: change points inside each trial, transitions across the sweep."""

    watch: list[str] = field(default_factory=list)
    """Observables (metric keys) whose change points are detected inside each trial. Watching
    a key the family does not log is an error."""
    peak: list[str] = field(default_factory=list)
    """Susceptibility-like observables whose peak along each swept axis is located."""
    steepest: list[str] = field(default_factory=list)
    """Order parameters whose steepest change along each swept axis is located."""
    onset: list[str] = field(default_factory=list)
    """Observables flat on one side and rising on the other (a kink), whose onset along each swept axis is
    located by a rounded-hinge fit (`models.transitions.onset`)."""
    binder: str | None = None
    """Observable whose curves for different system sizes cross at the transition (Binder U₄)."""
    size_axis: str = "data.L"
    """The swept key that holds the system size, for the crossing estimator."""
    binder_interpolation: str = "cubic"
    """How the crossing is found between grid points: `cubic` or `linear` interpolation, or `fit`, a
    least-squares quadratic over the points within `binder_window` of it, whose interval narrows as points
    are added near the crossing (what an adaptive sweep needs)."""
    rg_match: str | None = None
    """A block-spin sweep's short-range observable (`nn_correlation`, `nnn_correlation`) matched between
    lattice sides L and L/b for the RG fixed point T* and exponent ν (`pipelines.rg_analysis`)."""
    rg_fit_points: int = 4
    """Temperatures nearest each matched crossing that the cubic fits use."""
    binder_window: float | None = None
    """Half-width of the `fit` window, in units of the swept axis; None: a tenth of the swept span."""
    headline: list[str] = field(default_factory=list)
    """The (at most two) observables of the parent's summary figure; empty: the configured ones, order
    parameters first."""
    outcome: str | None = None
    """A per-trial code 0, 1, 2, … (e.g. lazy, catapult, divergent) drawn as an outcome map over every
    pair of swept axes: a phase diagram of regimes."""
    outcome_labels: list[str] = field(default_factory=list)
    """Names of the outcome codes, in order."""
    log_axes: list[str] | None = None
    """Swept keys whose estimates are fitted in log space (and drawn on log axes). None: every axis of
    positive values spanning 10× or more whose values are closer to evenly spaced in log than linearly."""
    n_boot: int = 500
    """Bootstrap draws for every confidence interval."""
    level: float = 0.95
    """Confidence level of the intervals."""


SCHEMAS: dict[str, dict[str, type]] = {
    "tracking": {"default": TrackingConfig},
    "cluster": {"default": ClusterConfig},
    "resources": {"default": ResourcesConfig},
    "pack": {"default": PackConfig},
    "analysis": {"default": AnalysisConfig},
}
"""`schema/<group>/<name>` entries of the run-level schemas."""
