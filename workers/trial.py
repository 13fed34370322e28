"""`run_trial(spec) -> TrialResult`: one trial, start to end, into one MLflow run.

The driver (a single run in-process, or the Ray launcher) builds the `TrialSpec` from the
resolved config and creates the MLflow run; `run_trial` trains, logs and ends that run.
It never raises for a trial-level failure: the failure is returned as data.
"""

from __future__ import annotations

import socket
import time
import traceback
from collections.abc import Callable
from typing import Any

import torch

from workers.checkpoint import CheckpointStore
from workers.curves import CURVES_FILE, plot_history
from workers.families import load_family, load_population
from workers.families.base import Device
from workers.loop import Solo, train_population
from workers.sink import MLflowSink, SpoolUnwritable, TrackingOutage, TrackingStoreFull
from workers.spec import TrialResult, TrialSpec, TrialStatus


def resolve_device(choice: Device) -> torch.device:
    """`auto`: the GPU this process may use (Ray hides the others), else the CPU."""
    if choice is Device.cpu:
        return torch.device("cpu")
    if choice is Device.cuda:
        if not torch.cuda.is_available():
            raise RuntimeError(
                "train.device=cuda but no GPU is visible to this trial; "
                "request resources.gpus>0 or set train.device=auto"
            )
        return torch.device("cuda")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _log_change_points(watch: list[str], sink: MLflowSink) -> tuple[dict[str, list], dict[str, str]]:
    """Change points of the watched observables: logs `change_points.json`, and returns the events and one
    tag per observable, `phasesweep.cp.<observable>` = "count=… step=… jump=… sharpness=…" (its largest
    jump), which the trial sets with its final tags. Tags, not metrics: one number per trial would be a
    single-point chart at the top of the run's metric page."""
    if not watch:
        return {}, {}
    import json

    from models.transitions import detect_all

    series = {k: tuple(zip(*sorted(v), strict=True)) for k, v in sink.history.items() if len(v) > 1}
    events = detect_all(series, watch)
    sink.log_text(json.dumps({k: [e.to_dict() for e in v] for k, v in events.items()}, indent=1), "change_points.json")
    tags: dict[str, str] = {}
    for key, found in events.items():
        summary = f"count={len(found)}"
        if found:
            biggest = _largest(found)
            summary += f" step={int(biggest.step)} jump={biggest.jump:.4g} sharpness={biggest.sharpness:.3g}"
        tags[f"phasesweep.cp.{key}"] = summary
    return events, tags


def _largest(found: list):
    """The change point with the largest jump."""
    return max(found, key=lambda e: abs(e.jump))


def _value(last: dict[str, float], key: str) -> str:
    err = last.get(f"{key}_err")
    return f"{last[key]:.4g} ± {err:.2g}" if err is not None else f"{last[key]:.4g}"


def describe(
    *,
    status: str,
    steps: int,
    seconds: float,
    device: str,
    last: dict[str, float],
    headline: str,
    keys: list[str],
    events: dict[str, list],
    detail: str = "",
) -> str:
    """The child run's note (its Overview description): one paragraph of what the trial found.

    `keys` are the observables the sweep's analysis looks at; an `obs/model_X` is reported beside its
    `obs/data_X`, each with its error when one is logged."""
    words = [f"**{status.capitalize()}** after {steps} steps in {seconds:.1f} s on {device}{detail}."]
    if headline in last:
        words.append(f"Headline `{headline}` = {_value(last, headline)}.")
    shown: list[str] = []
    covered = {headline}
    for key in dict.fromkeys(keys):
        if key.startswith("obs/data_") and (model := key.replace("obs/data_", "obs/model_", 1)) in last:
            key = model  # reported as the model's pair
        if key in covered or key not in last:
            continue
        covered.add(key)
        if key.startswith("obs/model_") and (twin := key.replace("obs/model_", "obs/data_", 1)) in last:
            covered.add(twin)
            name = key.removeprefix("obs/model_")
            shown.append(f"{name}: model {_value(last, key)}, data {_value(last, twin)}")
        else:
            shown.append(f"`{key}` = {_value(last, key)}")
    if shown:
        words.append("Final values: " + "; ".join(shown[:6]) + ".")
    for key, found in events.items():
        if found:
            biggest = _largest(found)
            words.append(
                f"`{key}` has {len(found)} change point{'s' * (len(found) != 1)}, the largest at step "
                f"{int(biggest.step)} (jump {biggest.jump:.3g})."
            )
        else:
            words.append(f"`{key}` has no change point.")
    return " ".join(words)


def _checkpoint_state(population, i: int, sink: MLflowSink, step: int) -> dict[str, Any]:
    return {
        "step": step,
        "family": population.member_state(i),
        "torch_rng": torch.get_rng_state(),
        "history": {k: list(v) for k, v in sink.history.items()},
    }


class _Member:
    """One trial of a pack: its run's sink and checkpoints, from opening to its result."""

    def __init__(self, spec: TrialSpec) -> None:
        self.spec = spec
        track = spec.tracking
        self.sink = MLflowSink(
            spec.tracking_uri,
            spec.run_id,
            flush_every=0 if spec.train.checkpoint_every else track.flush_every,
            outage_limit_s=track.outage_limit_s,
            spool_dir=track.spool_dir,
        )
        self.store = CheckpointStore(
            self.sink, checkpoint_dir=track.checkpoint_dir, trial_key=spec.trial_key, enabled=track.log_checkpoint
        )
        self.steps_done = 0
        self.resumed_from = 0

    def open(self, tags: dict[str, Any]) -> None:
        """Send what a previous attempt could not, read the run once (what `resume` asks of it), then claim
        it: its first heartbeat, with `tags` in the same write, from the heartbeat thread; this trial owns
        its run while it beats, from before its family is built. The claim comes after the read, which it
        would otherwise slow: both are store requests, and Python runs one thread at a time (measured in
        process, 20 sleeping trials: 14-16 ms from `run_trial` to the first step, 15-18 ms with the claim
        beside the read). A trial that fails before its claim still
        closes its run with `tags` (`MLflowSink.hold_claim`)."""
        self.sink.hold_claim(tags)
        self.sink.replay_spool()
        self.sink.opened()
        self.sink.start_heartbeat(self.spec.tracking.lease_s / 4)

    def resume(self, population, i: int, solo: bool) -> int:
        """Load the member's checkpoint into the population, if it has one; returns its first step."""
        state = self.store.load()
        if state is None:  # (the driver logged config.yaml when it created the run)
            if self.sink.holds_metrics():  # resumed before its first checkpoint: restart, but log each step once
                self.sink.skip_logged()
            return 0
        population.load_member_state(i, state["family"])
        if solo:  # a lone family draws from the global generator; a pack's members have their own
            torch.set_rng_state(state["torch_rng"])
        for key, points in state["history"].items():
            self.sink.history[key] = [tuple(p) for p in points]
        self.sink.skip_logged()
        return int(state["step"])

    def finish(self, outcome, population, i: int, *, start: float, device, draw_curves: bool) -> TrialResult:
        """Change points, figures, the final checkpoint, tags and the run's note; ends the run."""
        spec, sink = self.spec, self.sink
        self.steps_done = outcome.step
        sink.spool_pending()  # durable before the final checkpoint; sent with the closing tags below
        watch = spec.analysis.watch
        if outcome.diverged:  # a trial that diverged early need not have a series of every watched key yet
            watch = [k for k in watch if len(sink.history.get(k, ())) > 1]
        events, cp_tags = _log_change_points(watch, sink)
        if draw_curves:
            sink.log_figure(plot_history(sink.history, title=" ".join(spec.overrides)), CURVES_FILE)
        for name, fig in population.figures(i, sink.history).items():
            sink.log_figure(fig, f"plots/{name}")
        if not outcome.diverged:
            self.store.save(_checkpoint_state(population, i, sink, outcome.step))
        status = TrialStatus.diverged if outcome.diverged else TrialStatus.finished
        tags: dict[str, Any] = {"phasesweep.status": status.value, "phasesweep.resumed_from": self.resumed_from}
        tags |= cp_tags
        if outcome.diverged:
            tags["phasesweep.diverged_step"] = outcome.step
            tags["phasesweep.diverged_keys"] = ",".join(outcome.bad_keys)
        key = population.headline_metric
        analysis = spec.analysis
        tags["mlflow.note.content"] = describe(
            status=status.value,
            steps=outcome.step,
            seconds=time.perf_counter() - start,
            device=str(device),
            last=outcome.last,
            headline=key,
            keys=[
                *analysis.peak,
                *analysis.steepest,
                *analysis.onset,
                *([analysis.binder] if analysis.binder else []),
                *watch,
            ],
            events=events,
            detail=f"; non-finite: {', '.join(outcome.bad_keys)}" if outcome.diverged else "",
        )
        sink.terminate("FINISHED", tags)
        headline = f"{key}={outcome.last[key]:.4g}" if key in outcome.last else ""
        return TrialResult(
            status=status,
            headline=headline,
            steps=outcome.step,
            metrics=outcome.last,
            run_id=spec.run_id,
            trial_key=spec.trial_key,
            node=socket.gethostname(),
            seconds=time.perf_counter() - start,
            history=None if draw_curves else {k: list(v) for k, v in sink.history.items()},
        )

    def fail(self, exc: Exception, message: str, start: float) -> TrialResult:
        """End the run FAILED (KILLED when the store was the failure, so a rerun resumes it)."""
        resumable = isinstance(exc, (TrackingOutage, TrackingStoreFull, SpoolUnwritable))
        sink = self.sink
        try:
            sink.outage_limit_s = min(sink.outage_limit_s, 10.0)
            note = f"**Failed** at step {self.steps_done}: `{message}`. The traceback is in `error.txt`."
            sink.set_tags(
                {
                    "phasesweep.status": TrialStatus.failed.value,
                    "phasesweep.error": message,
                    "mlflow.note.content": note,
                }
            )
            sink.log_text(traceback.format_exc(), "error.txt")
            sink.terminate("KILLED" if resumable else "FAILED")
        except Exception:  # the store itself may be the failure; the driver ends the run then
            pass
        return TrialResult(
            status=TrialStatus.failed,
            steps=self.steps_done,
            metrics={},
            error=message,
            run_id=self.spec.run_id,
            trial_key=self.spec.trial_key,
            node=socket.gethostname(),
            seconds=time.perf_counter() - start,
            resumable=resumable,
        )


def run_trial(
    spec: TrialSpec,
    *,
    on_step: Callable[[int], None] | None = None,
    tags: dict[str, Any] | None = None,
    draw_curves: bool = True,
) -> TrialResult:
    """Train one trial and log it to its MLflow run; returns its summary.

    If the run already holds a checkpoint (a retried or resumed trial), training continues
    from it in the same run, and steps the run already stored are not logged again.

    With `draw_curves=False` the result carries the trial's history instead of its run getting
    `plots/training_curves.png`: the sweep driver draws it (`workers.curves.log_training_curves`), off the trial's
    critical path, while the worker starts its next trial.
    """
    return run_pack([spec], on_step=on_step, tags=tags, draw_curves=draw_curves)[0]


def run_pack(
    specs: list[TrialSpec],
    *,
    on_step: Callable[[int], None] | None = None,
    tags: dict[str, Any] | None = None,
    draw_curves: bool = True,
) -> list[TrialResult]:
    """Train the trials of one pack as one batched model, each into its own MLflow run; returns each one's
    summary, in order. A pack of one is `run_trial`: the family itself, in `Solo`.

    Members share the family and every config key that shapes a tensor (the driver packs only trials that
    differ in the family's `FamilyChecks.packable` keys). Each member resumes from its own checkpoint, so a
    pack need not hold the same members as the pack that wrote them. A member that diverges ends `diverged`
    at its own step while the others go on; an error of the pack fails every member.
    """
    start = time.perf_counter()
    members = [_Member(spec) for spec in specs]
    lead = specs[0]
    try:
        device = resolve_device(lead.train.device)
        where = {"phasesweep.node": socket.gethostname(), "phasesweep.device": str(device)}
        for member in members:
            member.open(where | (tags or {}))
        torch.manual_seed(lead.seed)
        # A trial computes on the CPUs it asked for, in-process as under Ray: oversubscribed
        # OpenMP threads can make small-matrix work 10× slower.
        torch.set_num_threads(max(1, int(lead.resources.cpus)))
        solo = len(specs) == 1
        if solo:
            population = Solo(load_family(lead.model.family)(lead, device))
        else:
            population = load_population(lead.model.family)(specs, device)
        starts = [member.resume(population, i, solo) for i, member in enumerate(members)]
        for member, first in zip(members, starts, strict=True):
            member.steps_done = member.resumed_from = first
            if first:  # a fresh run gets `resumed_from` 0 with its final tags, one write fewer
                member.sink.set_tags({"phasesweep.resumed_from": first})

        def checkpoint(done: int, going: list[int]) -> None:
            for i in going:
                members[i].steps_done = done
                members[i].store.save(_checkpoint_state(population, i, members[i].sink, done))

        outcomes = train_population(
            population,
            [m.sink for m in members],
            steps=lead.train.steps,
            observe_every=lead.train.observe_every,
            checkpoint_every=lead.train.checkpoint_every,
            checkpoint=checkpoint,
            start_steps=starts,
            on_step=on_step,
            watch=lead.analysis.watch,
        )
        return [
            member.finish(outcome, population, i, start=start, device=device, draw_curves=draw_curves)
            for i, (member, outcome) in enumerate(zip(members, outcomes, strict=True))
        ]
    except Exception as exc:  # a trial-level failure is data, never a crash of the sweep
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        return [member.fail(exc, message, start) for member in members]
    finally:
        for member in members:
            member.sink.stop_heartbeat()
