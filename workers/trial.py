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
from workers.families import load_family
from workers.families.base import Device
from workers.loop import train
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


def _checkpoint_state(family, sink: MLflowSink, step: int) -> dict[str, Any]:
    return {
        "step": step,
        "family": family.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "history": {k: list(v) for k, v in sink.history.items()},
    }


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
    start = time.perf_counter()
    node = socket.gethostname()
    track = spec.tracking
    sink = MLflowSink(
        spec.tracking_uri,
        spec.run_id,
        flush_every=0 if spec.train.checkpoint_every else track.flush_every,
        outage_limit_s=track.outage_limit_s,
        spool_dir=track.spool_dir,
    )
    steps_done = 0
    try:
        sink.start_heartbeat(track.lease_s / 4)  # this trial owns its run while it beats
        sink.replay_spool()  # points a previous attempt could not send
        torch.manual_seed(spec.seed)
        # A trial computes on the CPUs it asked for, in-process as under Ray: oversubscribed
        # OpenMP threads can make small-matrix work 10× slower.
        torch.set_num_threads(max(1, int(spec.resources.cpus)))
        device = resolve_device(spec.train.device)
        store = CheckpointStore(
            sink, checkpoint_dir=track.checkpoint_dir, trial_key=spec.trial_key, enabled=track.log_checkpoint
        )
        family = load_family(spec.model.family)(spec, device)
        state = store.load()
        first_step = 0
        if state is None:
            sink.log_text(spec.config_yaml, "config.yaml")
            if sink.holds_metrics():  # resumed before its first checkpoint: restart, but log each step once
                sink.skip_logged()
        else:
            family.load_state_dict(state["family"])
            torch.set_rng_state(state["torch_rng"])
            for key, points in state["history"].items():
                sink.history[key] = [tuple(p) for p in points]
            first_step = int(state["step"])
            sink.skip_logged()
        sink.set_tags(
            {"phasesweep.node": node, "phasesweep.device": str(device), "phasesweep.resumed_from": first_step}
            | (tags or {})
        )
        outcome = train(
            family,
            sink,
            steps=spec.train.steps,
            observe_every=spec.train.observe_every,
            checkpoint_every=spec.train.checkpoint_every,
            checkpoint=lambda step: store.save(_checkpoint_state(family, sink, step)),
            start_step=first_step,
            on_step=on_step,
            watch=spec.analysis.watch,
        )
        steps_done = outcome.step
        sink.flush()
        watch = spec.analysis.watch
        if outcome.diverged:  # a trial that diverged early need not have a series of every watched key yet
            watch = [k for k in watch if len(sink.history.get(k, ())) > 1]
        events, cp_tags = _log_change_points(watch, sink)
        if draw_curves:
            sink.log_figure(plot_history(sink.history, title=" ".join(spec.overrides)), CURVES_FILE)
        for name, fig in family.figures(sink.history).items():
            sink.log_figure(fig, f"plots/{name}")
        if not outcome.diverged:
            store.save(_checkpoint_state(family, sink, steps_done))
        status = TrialStatus.diverged if outcome.diverged else TrialStatus.finished
        tags: dict[str, Any] = {"phasesweep.status": status.value, **cp_tags}
        if outcome.diverged:
            tags["phasesweep.diverged_step"] = outcome.step
            tags["phasesweep.diverged_keys"] = ",".join(outcome.bad_keys)
        key = getattr(family, "headline_metric", "")
        analysis = spec.analysis
        tags["mlflow.note.content"] = describe(
            status=status.value,
            steps=steps_done,
            seconds=time.perf_counter() - start,
            device=str(device),
            last=outcome.last,
            headline=key,
            keys=[*analysis.peak, *analysis.steepest, *([analysis.binder] if analysis.binder else []), *watch],
            events=events,
            detail=f"; non-finite: {', '.join(outcome.bad_keys)}" if outcome.diverged else "",
        )
        sink.set_tags(tags)
        sink.terminate("FINISHED")
        headline = f"{key}={outcome.last[key]:.4g}" if key in outcome.last else ""
        return TrialResult(
            status=status,
            headline=headline,
            steps=steps_done,
            metrics=outcome.last,
            run_id=spec.run_id,
            trial_key=spec.trial_key,
            node=node,
            seconds=time.perf_counter() - start,
            history=None if draw_curves else {k: list(v) for k, v in sink.history.items()},
        )
    except Exception as exc:  # a trial-level failure is data, never a crash of the sweep
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        resumable = isinstance(exc, (TrackingOutage, TrackingStoreFull, SpoolUnwritable))
        try:
            sink.outage_limit_s = min(sink.outage_limit_s, 10.0)
            note = f"**Failed** at step {steps_done}: `{message}`. The traceback is in `error.txt`."
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
            steps=steps_done,
            metrics={},
            error=message,
            run_id=spec.run_id,
            trial_key=spec.trial_key,
            node=node,
            seconds=time.perf_counter() - start,
            resumable=resumable,
        )
    finally:
        sink.stop_heartbeat()
