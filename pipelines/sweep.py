"""The sweep driver: validate every trial, start or join Ray, open the sweep's parent run, stream the
trials into Ray, stream results back, analyse the sweep and print the summary.

`run_sweep` takes the trials of Hydra's sweeper (`pipelines.expand.Expansion`) and does all of it;
the Hydra launcher (`hydra_plugins/phasesweep`) is a thin adapter around it. Ray is imported only
inside functions, so importing this module (and the launcher) stays cheap.

Order matters: every trial config is validated, and the resource request checked against
the machine, *before* Ray starts or any MLflow run exists, so a bad value costs nothing.
Then trials are queued a few more than Ray has slots for at a time, and a trial's child run is
created when it is queued, so a sweep of 10,000 trials starts its first one within seconds and
never holds 10,000 runs RUNNING at once.
"""

from __future__ import annotations

import datetime
import logging
import math
import os
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pipelines.driver import command_line, console, end_failed, summary_table
from pipelines.preflight import check_tracking_target, open_experiment
from pipelines.runtree import (
    ATTEMPT_TAG,
    default_sweep_name,
    live_owner,
    open_parent,
    owned_children,
    place,
)
from pipelines.spec import run_name
from pipelines.validate import ConfigError, check_resources, fail, local_capacity
from workers import tracking
from workers.spec import TrialResult, TrialSpec, TrialStatus

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from pipelines.expand import Expansion

ROUND_TAG = "phasesweep.round"
"""A child run's round in a sweep of several rounds (`Round`)."""
EXIT_BUSY = 3
"""Exit code of a sweep refused because another live driver owns it."""

log = logging.getLogger(__name__)


LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Ray's switch for a single-machine install, read once, when Ray is first imported. Ray 2.60 turns the node
address 127.0.0.1 into the machine's reachable one (`ray._private.services.resolve_ip_for_localhost`),
and its servers then listen on all interfaces or on that address; with this false, as is Ray's default on
macOS and Windows, the node address stays 127.0.0.1 and every server of the instance listens there."""


def _import_ray(cluster: DictConfig) -> bool:
    """Import Ray, in loopback-only mode (`LOOPBACK_ONLY`) for the embedded instance, which is started when
    neither `cluster.address` nor RAY_ADDRESS names one; returns whether it is."""
    embedded = not cluster.address and not os.environ.get("RAY_ADDRESS")
    if embedded:
        os.environ.setdefault(LOOPBACK_ONLY, "0")
    import ray  # noqa: F401

    return embedded


def _connect(cluster: DictConfig, requests: dict[tuple[float, float], int]) -> bool:
    """Start the embedded local Ray, or join a cluster. Returns True if we started it.

    The embedded instance serves this machine only, so it listens on 127.0.0.1 only (`LOOPBACK_ONLY`; a
    user's own setting of it is kept). A driver that joins a cluster keeps Ray's reachable address, which
    the cluster's nodes need to reach it."""
    address = cluster.address or None
    embedded = _import_ray(cluster)
    import ray

    if ray.is_initialized():  # a sweep of several rounds (`Round`) keeps the Ray its first round joined
        return False
    quiet = dict(logging_level=logging.WARNING, log_to_driver=False)
    if embedded:
        # Ray announces at WARNING that it turned on token authentication, the safe default, on every
        # start of a local instance; that is not a warning to the user of an embedded one.
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
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
        for cpus, gpus in requests:
            check_resources(cpus, gpus, nodes, f"the cluster at {address or 'RAY_ADDRESS'}")
    except ConfigError as err:
        if not cluster.get("autoscaling"):
            ray.shutdown()
            fail(f"{err}; if the cluster autoscales, set cluster.autoscaling=true")
        log.warning("%s; waiting for the autoscaler (cluster.autoscaling=true)", err)
    return False


def _slots(first: TrialSpec, resources: dict[str, float]) -> int:
    """Trials of `first`'s resource request that Ray's CPUs (`ray.cluster_resources()`) hold at once."""
    return max(1, int(resources.get("CPU", 1) // max(first.resources.cpus, 1e-3)))


def _axes(job_overrides: Sequence[Sequence[str]]) -> dict[str, list[str]]:
    axes: dict[str, list[str]] = {}
    for overrides in job_overrides:
        for o in overrides:
            key, _, value = o.partition("=")
            axes.setdefault(key, [])
            if value not in axes[key]:
                axes[key].append(value)
    return {k: v for k, v in axes.items() if len(v) > 1}


@dataclass
class Round:
    """One round of a sweep that runs in several (`pipelines.adaptive`): every round adds its trials to
    the same parent run, Ray stays up between rounds, and the sweep is analysed once, after the last."""

    sweep_name: str
    number: int
    axes: tuple[str, ...] = ()
    """Keys recorded as the parent's axes even where this round holds them at one value."""


def run_sweep(
    trials: Expansion,
    *,
    sweep_dir: str = ".",
    poll_interval_s: float = 0.5,
    declared: Sequence[str] = (),
    round: Round | None = None,
) -> list[tuple[TrialSpec, TrialResult]]:
    """Run every trial of a sweep on Ray and return (spec, result) per trial, in order.

    `declared` are the keys a sweep file lists under `hydra.sweeper.params`: they name the child runs
    even where the command line fixed them to one value. A `round` of a multi-round sweep leaves Ray
    running, tags each new child run with its round, prints one line instead of the summary table, does
    not analyse, and does not exit on a failed trial (the caller counts them).

    Exits (SystemExit) with 2 on a bad config before anything starts, 3 when another live driver owns
    the sweep, 1 when a trial failed, and 130 when interrupted; the summary is printed first in every
    case that ran trials.
    """
    try:
        trials.validate()
        first = trials.spec(0)
    except ConfigError as err:
        fail(str(err))
    first_cfg = trials.config(0)
    cluster = OmegaConf.create(OmegaConf.to_container(first_cfg.cluster, resolve=True))
    sweep_name = round.sweep_name if round else first_cfg.get("sweep_name")
    sweep_name = sweep_name or default_sweep_name(first.experiment_name, trials)
    resume = bool(first_cfg.get("resume", True))
    remote = bool(cluster.address) or bool(os.environ.get("RAY_ADDRESS"))
    uri = tracking.resolve_tracking_uri(first.tracking.uri)
    if remote and tracking.is_local_store(uri):
        where = cluster.address or f"RAY_ADDRESS={os.environ.get('RAY_ADDRESS')}"
        fail(
            f"tracking.uri={uri}: a remote Ray cluster ({where}) needs a tracking server every node can "
            "reach, not a file on this machine; use tracking=server with tracking.uri=http://<host>:5000 "
            "or set MLFLOW_TRACKING_URI"
        )
    try:
        if not remote:
            capacity = local_capacity(cluster, gpus_wanted=any(gpus > 0 for _, gpus in trials.resource_requests))
            for cpus, gpus in trials.resource_requests:
                check_resources(cpus, gpus, [capacity], "this machine")
        check_tracking_target(first.tracking, uri, local=not remote)
    except ConfigError as err:
        fail(str(err))

    out = console()
    # The store opens (seconds: importing MLflow, then for a new sqlite file every migration) while Ray
    # starts (seconds, mostly waiting on its processes): both are needed before the first trial, neither
    # needs the other. Ray is imported first, as each import holds the interpreter while it runs, and Ray's
    # processes start only once `ray.init` is reached.
    _import_ray(cluster)
    pool = ThreadPoolExecutor(1, thread_name_prefix="open-store")
    opening = pool.submit(open_experiment, first.tracking, uri)
    started = False
    try:
        started = _connect(cluster, trials.resource_requests)
        try:
            experiment_id = opening.result()
        except ConfigError as err:
            fail(str(err))
        from mlflow.tracking import MlflowClient  # (imported by now, in the store's thread)

        client = MlflowClient(tracking_uri=uri)
        lease_s = first.tracking.lease_s
        if resume:
            owner = live_owner(client, experiment_id, sweep_name, lease_s)
            if owner is not None:
                fail(
                    f"sweep {sweep_name!r} is running in another driver (parent run {owner.info.run_id}, last "
                    f"heartbeat {tracking.lease_age(owner):.0f} s ago); wait for it to end, or rerun once its "
                    f"lease (tracking.lease_s={lease_s:g}) has expired if that driver was killed",
                    code=EXIT_BUSY,
                )
        driver = _Driver(
            trials,
            out,
            client=client,
            experiment_id=experiment_id,
            uri=uri,
            poll_s=poll_interval_s,
            declared=declared,
            pack_size=first_cfg.pack.size,
            round=round,
        )
        return driver.run(first, sweep_name=sweep_name, resume=resume, sweep_dir=sweep_dir, lease_s=lease_s)
    finally:
        pool.shutdown(wait=True)
        if started and round is None:
            import ray

            ray.shutdown()


class _Driver:
    """One sweep's run on Ray: its parent run, the queue of trials, and their results."""

    def __init__(
        self,
        trials: Expansion,
        out,
        *,
        client: MlflowClient,
        experiment_id: str,
        uri: str,
        poll_s: float,
        declared: Sequence[str] = (),
        pack_size: Any = 1,
        round: Round | None = None,
    ):
        self.trials, self.out, self.client = trials, out, client
        self.experiment_id, self.uri, self.poll_s = experiment_id, uri, poll_s
        self.round = round
        self.axes = _axes(trials)
        for key in round.axes if round else ():  # a round may hold a refined key at one value
            self.axes.setdefault(
                key, sorted({o.partition("=")[2] for t in trials for o in t if o.startswith(f"{key}=")})
            )
        self.named = set(self.axes) | set(declared)
        """The keys in a child run's name: the swept ones, and those the sweep file declares."""
        self.labels = [run_name(o, self.named) or "trial" for o in trials]
        self.drawing = ThreadPoolExecutor(1, thread_name_prefix="curves")
        """Draws each finished trial's training curves here, off the trial's and the worker's path. Its
        first job imports matplotlib, while the first trials run."""
        self.results: list[TrialResult | None] = [None] * len(trials)
        self.specs: list[TrialSpec | None] = [None] * len(trials)
        self.counts = {"skip": 0, "resume": 0, "new": 0}
        self.pack_size = pack_size
        """`pack.size`: an integer or "auto" (`plan_packs`)."""

    def run(self, first: TrialSpec, *, sweep_name: str, resume: bool, sweep_dir: str, lease_s: float):
        import ray

        self.started = time.time()

        tags: dict[str, Any] = {"phasesweep.kind": "sweep", "phasesweep.sweep_dir": str(Path(sweep_dir).resolve())}
        commit = tracking.git_commit()
        if commit:
            tags["mlflow.source.git.commit"] = commit
        resources = ray.cluster_resources()
        slots = _slots(first, resources)
        if resume:
            _wait_for_orphans(self.client, self.experiment_id, sweep_name, lease_s, self.out)
        parent = self.parent = open_parent(
            self.client,
            self.experiment_id,
            sweep_name=sweep_name,
            sweep_id=uuid.uuid4().hex[:8],
            resume=resume,
            axes=self.axes,
            n_trials=len(self.trials),
            tags=tags,
        )
        beating = tracking.heartbeat(self.uri, parent.run_id, lease_s / 4)  # this driver owns the sweep
        done = set()
        if parent.reused and self.pack_size != 1:  # finished members are skipped, the rest packed anew
            finished = {k for k, runs in parent.existing.items() if any(r.info.status == "FINISHED" for r in runs)}
            done = {i for i in range(len(self.trials)) if self.trials.spec(i).trial_key in finished}
        self.packs = plan_packs(
            self.trials, self.pack_size, slots, gpu=first.resources.gpus > 0, out=self.out, done=done
        )
        try:
            held = parent.held()
            continued = f" (continued: {held['finished']} finished, {held['interrupted']} to resume)"
            self.out.print(
                f"[bold]phasesweep[/] {first.experiment_name}: {len(self.trials):,} trials on Ray "
                f"({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs) → {self.uri}\n"
                f"  sweep {sweep_name!r}, parent run {parent.run_id}" + (continued if parent.reused else "")
            )
            interrupted = self._stream(slots)
            return self._finish(sweep_name, interrupted)
        finally:
            beating.set()

    def _queue(self, pack: list[int], task, pack_task) -> tuple[Any, list[int]]:
        """The specs and runs of a pack's trials, and one Ray task for those not skipped; returns the task's
        ref (None when every member is skipped) and the members it runs."""
        running = []
        for i in pack:
            spec = self.specs[i] = self.trials.spec(i)
            spec.tracking_uri = self.uri
            tags = {ROUND_TAG: str(self.round.number)} if self.round else None
            action, skipped = place(self.client, self.experiment_id, self.parent, spec, self.named, tags)
            self.counts[action] += 1
            if action == "skip":
                self.results[i] = skipped
            else:
                running.append(i)
        if not running:
            return None, []
        lead = self.specs[running[0]]
        options = dict(
            num_cpus=lead.resources.cpus,
            num_gpus=lead.resources.gpus,
            max_retries=lead.resources.max_retries,
            name=self.labels[running[0]] + (f" +{len(running) - 1}" if len(running) > 1 else ""),
        )
        if len(running) == 1:
            return task.options(**options).remote(lead), running
        self.n_packs += 1
        label = f"pack {self.n_packs} ({len(running)} members: trials {', '.join(str(i) for i in running)})"
        return pack_task.options(**options).remote([self.specs[i] for i in running], label), running

    def _stream(self, slots: int) -> bool:
        """Queue trials a few ahead of Ray's free slots and collect their results as they finish; True if
        the user interrupted (Ctrl-C)."""
        import ray

        from workers.curves import prepare_drawing
        from workers.task import ray_pack, ray_trial  # torch-free: only the workers import the trial's code

        self.drawing.submit(prepare_drawing)

        task, pack_task = ray.remote(ray_trial), ray.remote(ray_pack)
        self.n_packs = 0
        window = 2 * slots
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[state]}"),
            TimeRemainingColumn(),
        )
        refs: dict[Any, list[int]] = {}
        queued = 0  # packs
        in_flight = 0  # trials in queued tasks
        with Progress(*columns, console=self.out, transient=False) as progress:
            bar = progress.add_task("trials", total=len(self.trials), state="")
            try:
                while queued < len(self.packs) or refs:
                    while queued < len(self.packs) and len(refs) < window:
                        pack = self.packs[queued]
                        ref, members = self._queue(pack, task, pack_task)
                        progress.advance(bar, len(pack) - len(members))  # the skipped ones
                        if ref is not None:
                            refs[ref] = members
                            in_flight += len(members)
                        queued += 1
                    done, _ = ray.wait(list(refs), num_returns=1, timeout=self.poll_s) if refs else ([], [])
                    for ref in done:
                        members = refs.pop(ref)
                        in_flight -= len(members)
                        collected = _collect(ref, [self.specs[i] for i in members], self.client)
                        for i, res in zip(members, collected, strict=True):
                            self.results[i] = res
                            if res.history is not None:
                                self.drawing.submit(self._draw, self.specs[i], res.history)
                                res.history = None
                            line = res.error if res.error else (res.headline or f"{res.steps} steps")
                            progress.console.print(f"  [{i}] {res.status.value:<8} {self.labels[i]}  {line}")
                            progress.advance(bar)
                    failed = sum(r is not None and r.status is TrialStatus.failed for r in self.results)
                    running_tasks = list(refs.values())[:slots]
                    running = sum(len(m) for m in running_tasks)
                    waiting = in_flight - running + sum(len(p) for p in self.packs[queued:])
                    progress.update(bar, state=f"running {running} · queued {waiting} · failed {failed}")
            except KeyboardInterrupt:
                for ref in refs:
                    ray.cancel(ref, force=True)
                return True
        return False

    def _draw(self, spec: TrialSpec, history: dict[str, list[tuple[int, float]]]) -> None:
        from workers.curves import log_training_curves

        try:
            log_training_curves(self.client, spec.run_id, history, " ".join(spec.overrides))
        except Exception as exc:  # a missing plot never fails a sweep
            log.warning("training curves of run %s not drawn: %s: %s", spec.run_id, type(exc).__name__, exc)

    def _finish(self, sweep_name: str, interrupted: bool) -> list[tuple[TrialSpec, TrialResult]]:
        client, parent, results = self.client, self.parent, self.results
        self.drawing.shutdown(wait=True)  # every finished trial's curves are logged before the sweep ends
        for spec, res in zip(self.specs, results, strict=True):
            if res is None and spec is not None and spec.run_id:
                tracking.set_tags(client, spec.run_id, {"phasesweep.status": "killed"})
                client.set_terminated(spec.run_id, status="KILLED")
        rows = list(zip(self.trials, results, strict=True))
        queued = {i for i, spec in enumerate(self.specs) if spec is not None}
        if self.round is None:
            self.out.print(summary_table(rows, title=f"sweep {sweep_name}", axes=self.named, queued=queued))
        final = {s.value: sum(r is not None and r.status is s for r in results) for s in TrialStatus}
        final["killed"] = sum(r is None for i, r in enumerate(results) if i in queued)
        final["not_started"] = sum(r is None for i, r in enumerate(results) if i not in queued)
        counts = {"skipped": self.counts["skip"], "resumed": self.counts["resume"], "new": self.counts["new"]}
        attempt = " · ".join(f"{k} {v}" for k, v in (counts | final).items() if v or k in counts)
        when = f"{_utc(self.started)} to {_utc(time.time())}"
        status = "KILLED" if interrupted else ("FAILED" if final["failed"] else "FINISHED")
        if self.round is not None:  # the rounds' caller tags the parent with the whole sweep's counts
            client.set_terminated(parent.run_id, status=status)
            self.out.print(f"round {self.round.number}: {attempt}")
            if interrupted:
                self.out.print("interrupted: run the same command again to resume this sweep")
                raise SystemExit(130)
            return list(zip(self.specs, results, strict=True))
        tracking.set_tags(
            client,
            parent.run_id,
            {f"phasesweep.{k}": v for k, v in final.items()}  # the sweep's state, over all its trials
            | {f"{ATTEMPT_TAG}{parent.attempts + 1}": f"{when}: {attempt}; {command_line()}"[:MAX_TAG]},
        )
        if not interrupted:
            analyze_parent(client, parent.run_id, self.out)
        client.set_terminated(parent.run_id, status=status)
        self.out.print(
            f"skipped {counts['skipped']} · resumed {counts['resumed']} · new {counts['new']} · "
            f"finished {final['finished']} · diverged {final['diverged']} · failed {final['failed']} · "
            f"killed {final['killed']}"
            + (f" · not started {final['not_started']:,}" if final["not_started"] else "")
            + "\n"
            f"MLflow: parent run {parent.run_id} ({status}); {browse_hint(self.uri, self.experiment_id)}"
        )
        if interrupted:
            self.out.print("interrupted: run the same command again to resume this sweep")
            raise SystemExit(130)
        if final["failed"]:
            raise SystemExit(1)
        return list(zip(self.specs, results, strict=True))


def browse_hint(uri: str, experiment_id: str) -> str:
    """How to open the sweep in the MLflow UI. The link carries `?workflowType=machine_learning`:
    MLflow 3.17's UI takes its mode from the URL (or the browser's saved toggle) and opens in GenAI mode
    otherwise, whatever the experiment's `mlflow.experimentKind` tag says."""
    page = f"#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    if uri.startswith(("http://", "https://")):
        return f"browse at {uri.rstrip('/')}/{page}"
    return f"browse with `mlflow ui --backend-store-uri {uri}`, then open http://127.0.0.1:5000/{page}"


MAX_TAG = 8000
"""MLflow's limit on a tag's value."""


def _utc(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(timespec="seconds")


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


def analyze_parent(client: MlflowClient, parent_id: str, out) -> None:
    """Sweep-level analysis into the parent run; a failure here never fails the sweep."""
    from pipelines.analyze import analyze_sweep, print_report

    try:
        report = analyze_sweep(client, parent_id)
    except Exception as exc:
        out.print(f"[yellow]sweep analysis skipped: {type(exc).__name__}: {exc}[/]")
        return
    print_report(report)


def _collect(ref, specs: list[TrialSpec], client: MlflowClient) -> list[TrialResult]:
    """The results of a task's trials (one, or a pack's). A failed trial's run is ended FAILED here when its
    own sink could not end it. A task whose worker or node died past its retries ends its runs KILLED, so a
    rerun resumes them from their checkpoints instead of starting them again."""
    import ray

    start = time.perf_counter()
    try:
        results = ray.get(ref)
    except Exception as exc:
        message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:500]
        out = []
        for spec in specs:
            end_failed(client, spec.run_id, message, resumable=True)  # the worker died, not the trial's code
            out.append(
                TrialResult(
                    status=TrialStatus.failed,
                    steps=0,
                    metrics={},
                    error=message,
                    run_id=spec.run_id,
                    trial_key=spec.trial_key,
                    seconds=time.perf_counter() - start,
                    resumable=True,
                )
            )
        return out
    results = results if isinstance(results, list) else [results]
    for spec, result in zip(specs, results, strict=True):
        if result.status is TrialStatus.failed:
            end_failed(client, spec.run_id, result.error or "failed", resumable=result.resumable)
    return results


PACK_LIMIT = {"cpu": 64, "gpu": 256}
"""The largest pack `pack.size=auto` makes on a CPU slot and on a GPU slot."""


def plan_packs(
    trials: Expansion, size: Any, slots: int, *, gpu: bool, out, done: set[int] = frozenset()
) -> list[list[int]]:
    """The sweep's trials in packs (`pipelines.expand.Expansion.packs`), printing one line for `auto` and
    one for each family that asked to pack but cannot. Trials in `done` (finished in an earlier run of the
    sweep) stay out of the packs, one each, to be skipped."""
    from workers.families import family_checks

    if size == 1 or len(trials) - len(done) <= 1:
        return [[i] for i in range(len(trials))]
    notes: dict[str, str] = {}

    def packable(cfg: DictConfig) -> tuple[str, ...]:
        name = cfg.model.family
        checks = family_checks(name)
        refusal = checks.pack_refusal(cfg) if checks.pack_refusal is not None else None
        if not checks.packable or refusal:
            notes[name] = refusal or checks.pack_note or "it has no population form"
            return ()
        return checks.packable_keys(cfg.data.get("kind"))

    if size == "auto":
        groups = trials.packs(len(trials), packable, skip=done)
        largest = max(len(g) for g in groups)
        size = max(1, min(PACK_LIMIT["gpu" if gpu else "cpu"], math.ceil(largest / slots)))
        out.print(
            f"pack.size=auto: {size} (the largest packable group has {largest} trials, over {slots} "
            f"{'GPU' if gpu else 'CPU'} slots; at most {PACK_LIMIT['gpu' if gpu else 'cpu']} per pack)"
        )
    packs = sorted(trials.packs(int(size), packable, skip=done) + [[i] for i in done])
    for name, note in notes.items():
        out.print(f"note: the {name} family cannot pack ({note}); its trials run one per task")
    return packs
