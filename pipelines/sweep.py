"""The sweep driver: validate every trial, start or join Ray, create the MLflow run tree, run one
Ray task per trial, stream results back, analyse the sweep and print the summary.

`run_sweep` takes the job overrides Hydra's sweeper produced and does all of it; the Hydra launcher
(`hydra_plugins/phasesweep`) is a thin adapter around it. Ray is imported only inside functions,
so importing this module (and the launcher) stays cheap.

Order matters: every trial config is validated, and the resource request checked against
the machine, *before* Ray starts or any MLflow run exists, so a bad value costs nothing.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pipelines.driver import command_line, console, end_failed, summary_table
from pipelines.preflight import check_tracking
from pipelines.runtree import default_sweep_name, live_owner, owned_children, plan_sweep
from pipelines.spec import build_spec, run_name
from pipelines.validate import ConfigError, check_resources, fail, local_capacity
from workers import tracking
from workers.spec import TrialResult, TrialSpec, TrialStatus
from workers.trial import ray_trial

EXIT_BUSY = 3
"""Exit code of a sweep refused because another live driver owns it."""

ComposeTrial = Callable[[Sequence[str], int], DictConfig]
"""(a trial's overrides, its job number) -> its composed config, as Hydra's config loader gives it."""

log = logging.getLogger(__name__)


def _load_specs(compose: ComposeTrial, job_overrides, initial_job_idx) -> list[tuple[DictConfig, TrialSpec]]:
    out = []
    for idx, overrides in enumerate(job_overrides):
        cfg = compose(overrides, initial_job_idx + idx)
        try:
            out.append((cfg, build_spec(cfg, list(overrides))))
        except ConfigError as err:
            fail(f"{err}  [trial {initial_job_idx + idx}: {' '.join(overrides) or 'defaults'}]")
    return out


def _connect(cluster: DictConfig, specs: list[TrialSpec]) -> bool:
    """Start the embedded local Ray, or join a cluster. Returns True if we started it."""
    import ray

    address = cluster.address or None
    quiet = dict(logging_level=logging.WARNING, log_to_driver=False)
    if address is None and not os.environ.get("RAY_ADDRESS"):
        ray.init(
            address="local",
            num_cpus=int(cluster.num_cpus) if cluster.num_cpus else None,
            num_gpus=int(cluster.num_gpus) if cluster.num_gpus is not None else None,
            include_dashboard=bool(cluster.include_dashboard),
            dashboard_host="127.0.0.1",
            _node_ip_address="127.0.0.1",
            **quiet,
        )
        return True
    runtime_env = OmegaConf.to_container(cluster.runtime_env) if cluster.get("runtime_env") else {}
    if os.environ.get("RAY_JOB_ID") or os.environ.get("RAY_ADDRESS"):
        runtime_env.pop("working_dir", None)  # a Ray job already ships its own working directory
        runtime_env.pop("excludes", None)
    ray.init(address=address, runtime_env=runtime_env or None, **quiet)
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    try:
        for spec in specs:
            check_resources(OmegaConf.structured(spec.resources), nodes, f"the cluster at {address or 'RAY_ADDRESS'}")
    except ConfigError as err:
        if not cluster.get("autoscaling"):
            ray.shutdown()
            fail(f"{err}; if the cluster autoscales, set cluster.autoscaling=true")
        log.warning("%s; waiting for the autoscaler (cluster.autoscaling=true)", err)
    return False


def _axes(job_overrides: Sequence[Sequence[str]]) -> dict[str, list[str]]:
    axes: dict[str, list[str]] = {}
    for overrides in job_overrides:
        for o in overrides:
            key, _, value = o.partition("=")
            axes.setdefault(key, [])
            if value not in axes[key]:
                axes[key].append(value)
    return {k: v for k, v in axes.items() if len(v) > 1}


def run_sweep(
    compose: ComposeTrial,
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int = 0,
    *,
    sweep_dir: str = ".",
    poll_interval_s: float = 0.5,
) -> list[tuple[DictConfig, TrialSpec, TrialResult | None]]:
    """Run every trial of a sweep on Ray and return (config, spec, result) per trial, in order.

    Exits (SystemExit) with 2 on a bad config before anything starts, 1 when a trial failed, and
    130 when interrupted; the summary is printed first in every case that ran trials.
    """
    pairs = _load_specs(compose, job_overrides, initial_job_idx)
    specs = [spec for _, spec in pairs]
    first_cfg = pairs[0][0]
    cluster = first_cfg.cluster
    remote = bool(cluster.address) or bool(os.environ.get("RAY_ADDRESS"))
    uri = tracking.resolve_tracking_uri(specs[0].tracking.uri)
    if remote and tracking.is_local_store(uri):
        where = cluster.address or f"RAY_ADDRESS={os.environ.get('RAY_ADDRESS')}"
        fail(
            f"tracking.uri={uri}: a remote Ray cluster ({where}) needs a tracking server every node can "
            "reach, not a file on this machine; use tracking=server with tracking.uri=http://<host>:5000 "
            "or set MLFLOW_TRACKING_URI"
        )
    try:
        if not remote:
            capacity = local_capacity(cluster)
            for spec in specs:
                check_resources(OmegaConf.structured(spec.resources), [capacity], "this machine")
        experiment_id = check_tracking(specs[0].tracking, uri, local=not remote)
    except ConfigError as err:
        fail(str(err))
    client = MlflowClient(tracking_uri=uri)
    sweep_name = first_cfg.get("sweep_name") or default_sweep_name(specs[0].experiment_name, job_overrides)
    lease_s = specs[0].tracking.lease_s
    if first_cfg.get("resume", True):
        owner = live_owner(client, experiment_id, sweep_name, lease_s)
        if owner is not None:
            fail(
                f"sweep {sweep_name!r} is running in another driver (parent run {owner.info.run_id}, last "
                f"heartbeat {tracking.lease_age(owner):.0f} s ago); wait for it to end, or rerun once its "
                f"lease (tracking.lease_s={lease_s:g}) has expired if that driver was killed",
                code=EXIT_BUSY,
            )

    out = console()
    import ray

    started = _connect(cluster, specs)
    try:
        return _run_sweep(
            pairs,
            job_overrides,
            out,
            client=client,
            experiment_id=experiment_id,
            sweep_name=sweep_name,
            sweep_dir=sweep_dir,
            poll_interval_s=poll_interval_s,
        )
    finally:
        if started:
            ray.shutdown()


def _run_sweep(pairs, job_overrides, out, *, client, experiment_id, sweep_name, sweep_dir, poll_interval_s):
    import ray

    first_cfg = pairs[0][0]
    specs = [spec for _, spec in pairs]
    uri = tracking.resolve_tracking_uri(specs[0].tracking.uri)
    axes = _axes(job_overrides)
    parent_tags: dict[str, Any] = {
        "phasesweep.kind": "sweep",
        "phasesweep.command": command_line(),
        "phasesweep.n_trials": len(specs),
        "phasesweep.sweep_dir": str(Path(sweep_dir).resolve()),
    }
    commit = tracking.git_commit()
    if commit:
        parent_tags["mlflow.source.git.commit"] = commit
    for spec in specs:
        spec.tracking_uri = uri
    if first_cfg.get("resume", True):
        _wait_for_orphans(client, experiment_id, sweep_name, specs[0].tracking.lease_s, out)
    plan = plan_sweep(
        client,
        experiment_id,
        specs,
        sweep_name=sweep_name,
        sweep_id=uuid.uuid4().hex[:8],
        resume=bool(first_cfg.get("resume", True)),
        axes=axes,
        parent_tags=parent_tags,
    )
    beating = tracking.heartbeat(uri, plan.parent_id, specs[0].tracking.lease_s / 4)  # this driver owns the sweep
    try:
        counts = plan.counts()
        resources = ray.cluster_resources()
        out.print(
            f"[bold]phasesweep[/] {specs[0].experiment_name}: {len(specs)} trials "
            f"(new {counts['new']}, resumed {counts['resume']}, skipped {counts['skip']}) on Ray "
            f"({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs) → {uri}\n"
            f"  sweep {sweep_name!r}, parent run {plan.parent_id}" + (" (continued)" if plan.reused_parent else "")
        )
        labels = [run_name(spec.overrides, set(axes)) or "trial" for spec in specs]
        results: list[TrialResult | None] = [plan.skipped.get(i) for i in range(len(specs))]
        task = ray.remote(ray_trial)
        refs = {}
        for i, spec in enumerate(specs):
            if plan.actions[i] == "skip":
                continue
            options = dict(
                num_cpus=spec.resources.cpus,
                num_gpus=spec.resources.gpus,
                max_retries=spec.resources.max_retries,
                name=labels[i],
            )
            refs[task.options(**options).remote(spec)] = i
        slots = max(1, int(resources.get("CPU", 1) // max(specs[0].resources.cpus, 1e-3)))
        interrupted = _wait_all(refs, results, specs, labels, client, poll_interval_s, slots, out)

        for spec, res in zip(specs, results, strict=True):
            if res is None:
                tracking.set_tags(client, spec.run_id, {"phasesweep.status": "killed"})
                client.set_terminated(spec.run_id, status="KILLED")
        out.print(summary_table(list(zip(specs, results, strict=True)), title=f"sweep {sweep_name}", axes=set(axes)))
        final = {s.value: sum(r is not None and r.status is s for r in results) for s in TrialStatus}
        final["killed"] = sum(r is None for r in results)
        tracking.set_tags(
            client,
            plan.parent_id,
            {f"phasesweep.{k}": v for k, v in final.items()}
            | {
                f"phasesweep.{k}": v
                for k, v in (("skipped", counts["skip"]), ("resumed", counts["resume"]), ("new", counts["new"]))
            },
        )
        if not interrupted:
            _analyze(client, plan.parent_id, out)
        status = "KILLED" if interrupted else ("FAILED" if final["failed"] else "FINISHED")
        client.set_terminated(plan.parent_id, status=status)
        out.print(
            f"skipped {counts['skip']} · resumed {counts['resume']} · new {counts['new']} · "
            f"finished {final['finished']} · diverged {final['diverged']} · failed {final['failed']} · "
            f"killed {final['killed']}\n"
            f"MLflow: parent run {plan.parent_id} ({status}); browse with `mlflow ui --backend-store-uri {uri}`"
        )
        if interrupted:
            out.print("interrupted: run the same command again to resume this sweep")
            raise SystemExit(130)
        if final["failed"]:
            raise SystemExit(1)
        return [(cfg, spec, res) for (cfg, spec), res in zip(pairs, results, strict=True)]
    finally:
        beating.set()


def _wait_for_orphans(client: MlflowClient, experiment_id: str, sweep_name: str, lease_s: float, out) -> None:
    """Wait until no trial of the sweep is still owned: after a driver was killed, its trials' leases
    run out within `lease_s`, and only then may they be resumed here."""
    owned = owned_children(client, experiment_id, sweep_name, lease_s)
    if owned:
        out.print(
            f"waiting for {len(owned)} trial(s) of an earlier driver to let go of their runs "
            f"(leases expire within tracking.lease_s={lease_s:g} s)"
        )
    while owned:
        time.sleep(min(2.0, lease_s / 4))
        owned = owned_children(client, experiment_id, sweep_name, lease_s)


def _analyze(client: MlflowClient, parent_id: str, out) -> None:
    """Sweep-level analysis into the parent run; a failure here never fails the sweep."""
    from pipelines.analyze import analyze_sweep, print_report

    try:
        report = analyze_sweep(client, parent_id)
    except Exception as exc:
        out.print(f"[yellow]sweep analysis skipped: {type(exc).__name__}: {exc}[/]")
        return
    print_report(report)


def _wait_all(refs, results, specs, labels, client, poll_s, slots, out) -> bool:
    """Stream results back as trials finish; True if the user interrupted (Ctrl-C)."""
    import ray

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[state]}"),
        TimeRemainingColumn(),
    )
    pending = list(refs)
    todo = len(pending)
    with Progress(*columns, console=out, transient=False) as progress:
        bar = progress.add_task("trials", total=todo, state="")
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1, timeout=poll_s)
                for ref in done:
                    i = refs[ref]
                    res = results[i] = _collect(ref, specs[i], client)
                    line = res.error if res.error else (res.headline or f"{res.steps} steps")
                    progress.console.print(f"  [{i}] {res.status.value:<8} {labels[i]}  {line}")
                    progress.advance(bar)
                failed = sum(r is not None and r.status is TrialStatus.failed for r in results)
                running = min(len(pending), slots)
                progress.update(bar, state=f"running {running} · queued {len(pending) - running} · failed {failed}")
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            return True
    return False


def _collect(ref, spec: TrialSpec, client: MlflowClient) -> TrialResult:
    """The trial's result. A failed trial's run is ended FAILED here when its own sink could not end it.
    A task whose worker or node died past its retries ends KILLED, so a rerun resumes it from its
    checkpoint instead of starting it again."""
    import ray

    start = time.perf_counter()
    try:
        result = ray.get(ref)
    except Exception as exc:
        message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:500]
        end_failed(client, spec.run_id, message, resumable=True)  # the worker died, not the trial's code
        return TrialResult(
            status=TrialStatus.failed,
            steps=0,
            metrics={},
            error=message,
            run_id=spec.run_id,
            trial_key=spec.trial_key,
            seconds=time.perf_counter() - start,
            resumable=True,
        )
    if result.status is TrialStatus.failed:
        end_failed(client, spec.run_id, result.error or "failed", resumable=result.resumable)
    return result
