"""Driver-side pieces shared by a single run and a sweep: run creation and the summary table."""

from __future__ import annotations

import logging
import shlex
import sys
from collections import Counter
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from pipelines.spec import params_of, run_name
from workers import tracking

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from workers.spec import TrialResult, TrialSpec

log = logging.getLogger(__name__)

STATUS_STYLE = {"finished": "green", "diverged": "yellow", "failed": "red", "killed": "magenta", "not started": "dim"}


def command_line() -> str:
    return shlex.join(["phasesweep", *sys.argv[1:]])


def create_trial_run(
    client: MlflowClient,
    experiment_id: str,
    spec: TrialSpec,
    *,
    parent_run_id: str | None = None,
    axes: set[str] | None = None,
    sweep_name: str | None = None,
) -> str:
    """The trial's MLflow run: params are the flattened resolved config (with the name of the sweep it
    belongs to, when the config left that to the default); tags its identity; `config.yaml` the resolved
    config as a file (written here, while the run is queued, rather than on the trial's worker)."""
    tags = {
        "phasesweep.trial_key": spec.trial_key,
        "phasesweep.overrides": " ".join(spec.overrides),
        "phasesweep.family": spec.model.family,
        "phasesweep.status": "running",
    }
    if parent_run_id is None:
        tags["phasesweep.command"] = command_line()
        commit = tracking.git_commit()
        if commit:
            tags["mlflow.source.git.commit"] = commit
    run_id = tracking.create_run(
        client,
        experiment_id,
        name=run_name(spec.overrides, axes),
        params=params_of(spec) | ({"sweep_name": sweep_name} if sweep_name else {}),
        tags=tags,
        parent_run_id=parent_run_id,
    )
    client.log_text(run_id, spec.config_yaml, "config.yaml")
    return run_id


def end_failed(client: MlflowClient, run_id: str, message: str, *, resumable: bool = False) -> None:
    """End a failed trial's run with its one-line error, unless the trial's sink already ended it.

    Every path that ends a trial ends its run: a trial whose sink could not write (an unwritable spool, a
    store that refused it) returns its failure as data, and the driver closes the run here. A run whose
    failure was the store's (`resumable`) ends KILLED, so a rerun resumes it from its checkpoint.
    """
    try:
        if client.get_run(run_id).info.status in ("FINISHED", "FAILED", "KILLED"):
            return
        tracking.set_tags(client, run_id, {"phasesweep.status": "failed", "phasesweep.error": message})
        client.set_terminated(run_id, status="KILLED" if resumable else "FAILED")
    except Exception as exc:
        log.warning("could not mark run %s FAILED (%s: %s)", run_id, type(exc).__name__, exc)


SUMMARY_ROWS = 40
"""A sweep's summary table lists every trial up to this many; past it, the trials that failed, diverged
or were interrupted first, then finished ones, then those never started, with a count of the rest."""

NOT_STARTED = "not started"
"""The status of a trial an interrupted sweep never queued: it has no run yet."""

_SHOWN_FIRST = {"failed": 0, "diverged": 0, "killed": 0, "finished": 1, NOT_STARTED: 2}


def summary_table(
    results: list[tuple[list[str], TrialResult | None]],
    title: str,
    axes: set[str] | None = None,
    queued: set[int] | None = None,
) -> Table:
    """Each trial's overrides, status, and its key result or one-line error.

    A trial with no result was interrupted if it was queued (`queued`, default: every trial), and
    otherwise never started.
    """
    table = Table(title=title, show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("trial")
    table.add_column("status")
    table.add_column("result / error", overflow="fold")
    table.add_column("s", justify="right")

    def status_of(i: int, res: TrialResult | None) -> str:
        if res is not None:
            return res.status.value
        return "killed" if queued is None or i in queued else NOT_STARTED

    rows = [(i, overrides, res, status_of(i, res)) for i, (overrides, res) in enumerate(results)]
    if len(rows) > SUMMARY_ROWS:
        ranked = sorted(rows, key=lambda row: (_SHOWN_FIRST.get(row[3], 0), row[0]))
        shown, rest = ranked[:SUMMARY_ROWS], ranked[SUMMARY_ROWS:]
        left = Counter(row[3] for row in rest)
        table.caption = (
            f"{len(rest):,} more trials not listed ({', '.join(f'{n:,} {s}' for s, n in left.most_common())}); "
            "every run is in MLflow"
        )
        rows = sorted(shown)
    for i, overrides, res, status in rows:
        style = STATUS_STYLE.get(status, "")
        if res is None:
            detail = "interrupted" if status == "killed" else "no run yet; the same command runs it"
        elif res.error:
            detail = res.error
        elif status == "diverged":
            detail = f"diverged at step {res.steps}"
        else:
            detail = res.headline or f"{res.steps} steps"
        table.add_row(
            str(i),
            run_name(overrides, axes),
            f"[{style}]{status}[/]",
            detail,
            f"{res.seconds:.1f}" if res is not None else "",
        )
    return table


def console() -> Console:
    return Console(stderr=False, highlight=False)
