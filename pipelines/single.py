"""A single run (no -m): the trial runs in this process through `workers.run_trial`."""

from __future__ import annotations

from mlflow.tracking import MlflowClient
from omegaconf import DictConfig
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pipelines.driver import console, create_trial_run, end_failed, summary_table
from pipelines.preflight import check_tracking
from pipelines.spec import build_spec
from pipelines.validate import check_resources, local_capacity
from workers import tracking
from workers.trial import TrialStatus, run_trial


def run_single(cfg: DictConfig, *, overrides: list[str]) -> float | None:
    """Validate, create the run, train with a progress bar, print the summary.

    Exits 1 when the trial failed; returns the headline metric value otherwise.
    """
    spec = build_spec(cfg, overrides)  # raises ConfigError before anything is created
    check_resources(
        cfg.resources.cpus,
        cfg.resources.gpus,
        [local_capacity(cfg.cluster, gpus_wanted=cfg.resources.gpus > 0)],
        "this machine",
    )
    spec.tracking_uri = tracking.resolve_tracking_uri(spec.tracking.uri)
    experiment_id = check_tracking(spec.tracking, spec.tracking_uri, local=True)
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    spec.run_id = create_trial_run(client, experiment_id, spec)
    out = console()
    out.print(f"[bold]phasesweep[/] {spec.experiment_name}: 1 trial → {spec.tracking_uri} (run {spec.run_id})")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=out, transient=True) as progress:
        task = progress.add_task("training", total=spec.train.steps)
        result = run_trial(spec, on_step=lambda step: progress.update(task, completed=step + 1))
    out.print(summary_table([(spec.overrides, result)], title=f"{spec.experiment_name}"))
    if result.status is TrialStatus.failed:
        end_failed(client, spec.run_id, result.error or "failed", resumable=result.resumable)
        out.print(f"[red]trial failed:[/] {result.error}", soft_wrap=True)
        raise SystemExit(1)
    _key, _, value = result.headline.partition("=")
    return float(value) if value else None
