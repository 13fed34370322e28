"""What a trial is and what it returns: `TrialSpec` in, `TrialResult` out.

The driver builds the spec from the resolved config (`pipelines.spec.build_spec`), Ray carries it to
a worker, and `workers.trial.run_trial` returns the result: a small typed summary that sweepers and
the analysis read, never logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from workers.config import AnalysisConfig, ClusterConfig, ResourcesConfig, TrackingConfig
from workers.families.base import DataConfig, ModelConfig, TrainConfig


class TrialStatus(str, Enum):
    finished = "finished"
    diverged = "diverged"  # an outcome: non-finite loss or parameters at `step`
    failed = "failed"  # an error: the message is in `TrialResult.error`


@dataclass
class TrialSpec:
    """Everything one trial needs, typed. Built by `pipelines.spec.build_spec`."""

    experiment_name: str
    seed: int
    model: ModelConfig
    data: DataConfig
    train: TrainConfig
    sampler: Any = None
    """Sampler settings for families that have a separate sampler config (e.g. Langevin)."""
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    overrides: list[str] = field(default_factory=list)
    """The command-line overrides that make this trial (what a user swept)."""
    config_yaml: str = ""
    """The resolved config, logged as the `config.yaml` artifact."""
    trial_key: str = ""
    """Stable hash of the resolved trial config: identifies a trial across re-runs."""
    tracking_uri: str = ""
    run_id: str = ""
    """The MLflow run this trial writes into (created by the driver)."""


@dataclass
class TrialResult:
    """The small typed summary a trial returns; sweepers and analysis read this, never logs."""

    status: TrialStatus
    steps: int
    metrics: dict[str, float]
    error: str | None = None
    run_id: str = ""
    trial_key: str = ""
    node: str = ""
    seconds: float = 0.0
    headline: str = ""
    """The family's key metric, `name=value`, for summary tables."""
    history: dict[str, list[tuple[int, float]]] | None = None
    """Every logged point, when the trial left its training-curves figure to the driver (`run_trial`'s
    `draw_curves=False`); None otherwise."""
    resumable: bool = False
    """The failure came from the tracking store (an outage, a full disk), not from the trial: its run
    ends KILLED rather than FAILED, so a rerun resumes it in place from its checkpoint."""

    @property
    def ok(self) -> bool:
        return self.status is not TrialStatus.failed
