"""The sweep's run tree in MLflow, and how a re-run sweep resumes it.

A sweep is identified by its name: `sweep_name` from config, or by default the experiment
name plus a hash of its fixed overrides and of the keys it sweeps (`default_sweep_name`), so
running the same command again, or with more values of a swept key, is the same sweep. With
`resume=true` (the default) a sweep whose parent run exists continues it, and its parent's
`phasesweep.axis.*` tags grow to every value swept so far:

- a trial key with a FINISHED child run is **skipped**;
- a trial whose child run was interrupted (RUNNING, SCHEDULED or KILLED) is **resumed** in that
  same run, from its last checkpoint;
- a trial that has no child run, or only FAILED ones, is **new**: it gets a fresh child run.

One writer per run: the driver of a running sweep, and each running trial, refresh a heartbeat tag
(`workers.tracking.HEARTBEAT_TAG`). A re-run refuses a sweep whose driver still beats (`live_owner`),
and resumes a RUNNING trial only once its lease has expired (`owned_children`).

So `sweep_name=my_scan` run twice with more temperatures adds only the new points.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipelines.driver import command_line, create_trial_run
from pipelines.sweepdata import ALL_VALUES, AXIS_TAG
from workers import tracking
from workers.spec import TrialResult, TrialStatus

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

    from workers.spec import TrialSpec

INTERRUPTED = {"RUNNING", "SCHEDULED", "KILLED"}
ATTEMPT_TAG = "phasesweep.attempt."
"""`phasesweep.attempt.<n>`: what the n-th command that ran a sweep did (its counts, when, the command),
so that continuing a sweep adds to its history instead of overwriting it."""
STALE_ON_RESUME = {"phasesweep.error"}
"""Tags of an earlier attempt's failure, removed when its run is resumed so a FINISHED run carries none."""


def default_sweep_name(experiment: str, job_overrides: Sequence[Sequence[str]]) -> str:
    """`<experiment>-<hash>` of what the sweep holds fixed (key=value) and which keys it sweeps, but not
    the swept values: the same command with more values of a swept key continues the same sweep, while
    changing a fixed value, or sweeping another key, starts a new one."""
    values: dict[str, set[str]] = {}
    for overrides in job_overrides:
        for o in overrides:
            key, _, value = o.partition("=")
            values.setdefault(key, set()).add(value)
    identity = {
        "fixed": sorted(f"{k}={next(iter(v))}" for k, v in values.items() if len(v) == 1),
        "swept": sorted(k for k, v in values.items() if len(v) > 1),
    }
    return f"{experiment}-{hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:8]}"


@dataclass
class Parent:
    """A sweep's parent run, created or continued, and the child runs it already holds."""

    run_id: str
    sweep_id: str
    reused: bool
    existing: dict[str, list[Run]]
    """Child runs by trial key."""
    sweep_name: str = ""
    """The sweep's one name: the terminal's, the parent run's, and every child's `sweep_name` param."""
    attempts: int = 0
    """How many commands ran this sweep before this one (each left a `phasesweep.attempt.<n>` tag)."""

    def held(self) -> dict[str, int]:
        """How many trial keys already have a FINISHED child run, and how many an interrupted one."""
        statuses = [{r.info.status for r in runs} for runs in self.existing.values()]
        return {
            "finished": sum("FINISHED" in s for s in statuses),
            "interrupted": sum("FINISHED" not in s and bool(s & INTERRUPTED) for s in statuses),
        }


def _children(client: MlflowClient, experiment_id: str, parent_id: str) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for run in tracking.child_runs(client, experiment_id, parent_id):
        out.setdefault(run.data.tags.get("phasesweep.trial_key", ""), []).append(run)
    return out


def _result_of(run: Run, spec: TrialSpec) -> TrialResult:
    status = TrialStatus(run.data.tags.get("phasesweep.status", "finished"))
    return TrialResult(
        status=status,
        steps=int(run.data.tags.get("phasesweep.diverged_step", spec.train.steps)),
        metrics=dict(run.data.metrics),
        run_id=run.info.run_id,
        trial_key=spec.trial_key,
        node=run.data.tags.get("phasesweep.node", ""),
        headline="previously finished",
    )


DRIVER_TAG = "phasesweep.driver"
"""`host:pid` of the driver that owns a running sweep."""


def this_driver() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _driver_gone(parent: Run) -> bool:
    """True when the sweep's driver ran on this machine and its process no longer exists (killed)."""
    host, _, pid = parent.data.tags.get(DRIVER_TAG, "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's driver: only its lease can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def live_owner(client: MlflowClient, experiment_id: str, sweep_name: str, lease_s: float) -> Run | None:
    """The sweep's parent run when a live driver owns it, else None. A driver on this machine whose
    process is gone owns nothing, even before its lease runs out."""
    parent = tracking.find_sweep(client, [experiment_id], sweep_name)
    if parent is None or not tracking.is_owned(parent, lease_s) or _driver_gone(parent):
        return None
    return parent


def owned_children(client: MlflowClient, experiment_id: str, sweep_name: str, lease_s: float) -> list[Run]:
    """The sweep's child runs that a live trial still writes (their lease has not expired)."""
    parent = tracking.find_sweep(client, [experiment_id], sweep_name)
    if parent is None:
        return []
    return [r for r in tracking.child_runs(client, experiment_id, parent.info.run_id) if tracking.is_owned(r, lease_s)]


AXIS_TAG_LIMIT = 5000
"""Longest `phasesweep.axis.*` value written (MLflow keeps 8,000 characters of a tag). A longer axis is
written as `ALL_VALUES`, and its values are read back from the trials."""


def axis_tag(values: list[str]) -> str:
    text = ",".join(values)
    return text if len(text) <= AXIS_TAG_LIMIT else ALL_VALUES


def open_parent(
    client: MlflowClient,
    experiment_id: str,
    *,
    sweep_name: str,
    sweep_id: str,
    resume: bool,
    axes: dict[str, list[str]],
    n_trials: int,
    tags: dict[str, Any],
) -> Parent:
    """Create the sweep's parent run, or (`resume`) continue the one of the same name.

    Everything that a later command can change is a tag (the axes, the command, the trial count), since
    MLflow params cannot change once logged.
    """
    parent = tracking.find_sweep(client, [experiment_id], sweep_name) if resume else None
    grown = dict(axes)
    if parent is not None:
        for key, values in axes.items():  # a continued sweep's axes are the union over its commands
            before = parent.data.tags.get(f"{AXIS_TAG}{key}")
            old = before.split(",") if before else parent.data.params.get(f"sweep.{key}", "").split(",")
            grown[key] = (
                [ALL_VALUES] if ALL_VALUES in old else [v for v in old if v] + [v for v in values if v not in old]
            )
    live = {
        "phasesweep.command": command_line(),
        "phasesweep.n_trials": n_trials,
        tracking.HEARTBEAT_TAG: f"{time.time():.1f}",
        DRIVER_TAG: this_driver(),
    } | {f"{AXIS_TAG}{k}": axis_tag(v) for k, v in grown.items()}
    if parent is not None:
        parent_id = parent.info.run_id
        client.update_run(parent_id, status="RUNNING")
        tracking.set_tags(client, parent_id, live)
        return Parent(
            parent_id,
            parent.data.tags.get("phasesweep.sweep_id", sweep_id),
            True,
            _children(client, experiment_id, parent_id),
            sweep_name,
            # a parent from before attempt tags existed was still run once
            max(1, sum(k.startswith(ATTEMPT_TAG) for k in parent.data.tags)),
        )
    parent_id = tracking.create_run(
        client,
        experiment_id,
        name=sweep_name,
        params={},
        tags=tags | live | {"phasesweep.sweep_name": sweep_name, "phasesweep.sweep_id": sweep_id},
    )
    return Parent(parent_id, sweep_id, False, {}, sweep_name)


def place(
    client: MlflowClient,
    experiment_id: str,
    parent: Parent,
    spec: TrialSpec,
    axes: set[str],
    tags: dict[str, str] | None = None,
) -> tuple[str, TrialResult | None]:
    """Give a trial that is about to be queued its run, and say what to do with it:

    - "skip": its key has a FINISHED child run, whose result is returned;
    - "resume": its key has an interrupted child run, which is reopened (RUNNING, stale error tags gone);
    - "new": a fresh child run is created for it, with `tags` (e.g. the round of an adaptive sweep).
    """
    runs = parent.existing.get(spec.trial_key, [])
    finished = [r for r in runs if r.info.status == "FINISHED"]
    interrupted = [r for r in runs if r.info.status in INTERRUPTED]
    if finished:
        spec.run_id = finished[0].info.run_id
        return "skip", _result_of(finished[0], spec)
    if interrupted:
        spec.run_id = interrupted[0].info.run_id
        client.update_run(spec.run_id, status="RUNNING")
        for stale in STALE_ON_RESUME & set(interrupted[0].data.tags):
            client.delete_tag(spec.run_id, stale)
        return "resume", None
    spec.run_id = create_trial_run(
        client, experiment_id, spec, parent_run_id=parent.run_id, axes=axes, sweep_name=parent.sweep_name
    )
    tracking.set_tags(client, spec.run_id, {"phasesweep.sweep_id": parent.sweep_id} | (tags or {}))
    return "new", None
