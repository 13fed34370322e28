"""The MLflow run tree: one parent run per sweep, one child run per trial.

The driver creates every run (so it can also end runs whose worker died); trials write
into their run through `workers.sink.MLflowSink`.

MLflow is imported inside the functions that call it: importing MLflow takes about 2 s of CPU, and the
sweep driver imports this module before Ray starts, so that it can import MLflow while Ray starts.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

# MLflow's sqlite layer logs every database error with its whole traceback before raising it, and its
# table creation at INFO. phasesweep reports each store error itself, in one line where it is handled.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)

HEARTBEAT_TAG = "phasesweep.heartbeat"
"""Unix time of the last beat of a run's owner (its trial, or for a parent its driver). A RUNNING run whose
beat is younger than `tracking.lease_s` is owned; an older one was interrupted and may be resumed."""

MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
"""MLflow's limits per log_batch request: 1000 metrics, 100 params or tags."""


def chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def resolve_tracking_uri(configured: str | None) -> str:
    """`tracking.uri`, else $MLFLOW_TRACKING_URI, else MLflow's default sqlite store in the cwd.

    A relative sqlite path is made absolute so Ray workers with another cwd write to the same file.
    """
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db"
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        uri = prefix + str(Path(uri[len(prefix) :]).resolve())
    return uri


def is_local_store(uri: str) -> bool:
    """True for stores that live in this machine's files (sqlite, file:, a bare path)."""
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
"""The experiment tag and value MLflow's UI (3.x) reads to open an experiment in model-training mode
rather than GenAI mode (`ExperimentKind.CUSTOM_MODEL_DEVELOPMENT` in its frontend)."""


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The id of experiment `name`, created (or restored) if needed, and declared a model-training one
    unless its owner has declared a kind already."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name, tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING})
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    if EXPERIMENT_KIND_TAG not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)
    return experiment.experiment_id


def git_commit() -> str | None:
    """The commit of the source tree this code runs from, when it is a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def create_run(
    client: MlflowClient,
    experiment_id: str,
    *,
    name: str,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    parent_run_id: str | None = None,
    note: str | None = None,
) -> str:
    """Create a run with its params and tags logged in batches; returns its id."""
    from mlflow.entities import Param
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NOTE

    tags = {k: str(v) for k, v in (tags or {}).items()}
    if parent_run_id:
        tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
    if note:
        tags[MLFLOW_RUN_NOTE] = note
    run = client.create_run(experiment_id, run_name=name, tags=tags)
    items = [Param(k, str(v)) for k, v in (params or {}).items()]
    for chunk in chunks(items, MAX_PARAMS_PER_BATCH):
        client.log_batch(run.info.run_id, params=chunk, synchronous=True)
    return run.info.run_id


def child_runs(client: MlflowClient, experiment_id: str, parent_id: str) -> Iterator[Run]:
    """Every child run of `parent_id`, page by page."""
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parent_id}'",
            max_results=1000,
            page_token=token,
        )
        yield from page
        token = page.token
        if not token:
            return


def find_sweep(client: MlflowClient, experiment_ids: list[str], name: str) -> Run | None:
    """The newest parent run tagged `phasesweep.sweep_name = name`, or None."""
    runs = client.search_runs(
        experiment_ids,
        filter_string=f"tags.`phasesweep.sweep_name` = '{name}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def lease_age(run: Run) -> float | None:
    """Seconds since the run's owner last beat, or None when it never did."""
    beat = run.data.tags.get(HEARTBEAT_TAG)
    try:
        return max(0.0, time.time() - float(beat)) if beat else None
    except ValueError:
        return None


def is_owned(run: Run, lease_s: float) -> bool:
    """A RUNNING run whose owner beat within the last `lease_s` seconds: someone is writing it."""
    age = lease_age(run)
    return run.info.status == "RUNNING" and age is not None and age < lease_s


def heartbeat(tracking_uri: str, run_id: str, every_s: float, first: dict[str, Any] | None = None) -> threading.Event:
    """Refresh the run's `HEARTBEAT_TAG` every `every_s` seconds from a daemon thread; set the returned
    event to stop. With `first`, the thread beats at once, with those tags in the same write, so the
    caller need not wait for it. A missed beat is only logged: a lease is four beats long, and the owner
    must not fail because one tag write was late."""
    from mlflow.tracking import MlflowClient

    stop = threading.Event()
    client = MlflowClient(tracking_uri=tracking_uri)

    def write(tags: dict[str, Any]) -> None:
        try:
            set_tags(client, run_id, {HEARTBEAT_TAG: f"{time.time():.1f}"} | tags)
        except Exception as exc:
            log.warning("heartbeat of run %s missed (%s)", run_id, exc)

    def beat() -> None:
        if first is not None:
            write(first)
        while not stop.wait(every_s):
            write({})

    threading.Thread(target=beat, name=f"heartbeat-{run_id[:8]}", daemon=True).start()
    return stop


def set_tags(client: MlflowClient, run_id: str, tags: dict[str, Any]) -> None:
    from mlflow.entities import RunTag

    for chunk in chunks([RunTag(k, str(v)) for k, v in tags.items()], MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, tags=chunk, synchronous=True)
