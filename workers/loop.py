"""The one training loop. Every family runs through `train`, fresh or resumed.

Each step: the family's update; its observables every `observe_every` steps, together with
a finiteness check of its parameters; a finiteness check of every metric (non-finite, or an
update that overflows its dtype, ends the trial as *diverged*: an outcome with its step, not a
crash); one call to the sink; and
every `checkpoint_every` steps a flush of the metrics followed by a checkpoint, so that a
resumed trial starts exactly where the stored metrics end.

The loop adds `sys/steps_per_s` at each observation: training steps per second since the last one,
timing the updates only (an observation's own cost would make the last value, which the MLflow runs
table shows, say nothing about training speed). Metrics in `ON_CHANGE` (a learning rate) are logged at
the first and last step and whenever they change, not every step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from workers.families.base import Family
    from workers.sink import MLflowSink


ON_CHANGE = frozenset({"train/lr"})
"""Metrics logged only when their value changes, and at a run's first and last step."""


@dataclass
class LoopOutcome:
    diverged: bool
    step: int
    """Steps completed (== steps when finished), or the step that diverged."""
    last: dict[str, float]
    """Most recent value of every metric."""
    bad_keys: list[str]


def non_finite_tensors(state: Any, prefix: str = "") -> list[str]:
    """Names of floating tensors in a (nested) state dict that hold NaN or inf."""
    if isinstance(state, torch.Tensor):
        return [prefix or "tensor"] if state.is_floating_point() and not torch.isfinite(state).all() else []
    if isinstance(state, dict):
        return [bad for k, v in state.items() for bad in non_finite_tensors(v, f"{prefix}{k}.")]
    if isinstance(state, (list, tuple)):
        return [bad for i, v in enumerate(state) for bad in non_finite_tensors(v, f"{prefix}{i}.")]
    return []


def train(
    family: Family,
    sink: MLflowSink,
    *,
    steps: int,
    observe_every: int,
    checkpoint_every: int = 0,
    checkpoint: Callable[[int], None] | None = None,
    start_step: int = 0,
    on_step: Callable[[int], None] | None = None,
    watch: list[str] | None = None,
) -> LoopOutcome:
    """Run `family` from `start_step` to `steps`, logging every step through `sink`.

    `watch` names observables whose change points will be detected: every one must be logged
    by the first step (which always observes), else `MissingObservableError` stops the trial.
    """
    last: dict[str, float] = {}
    trained, train_s = 0, 0.0
    unlogged: set[str] = set()
    """ON_CHANGE keys whose value at the step before was held back (unchanged)."""
    for step in range(start_step, steps):
        tick = time.perf_counter()
        try:
            metrics = dict(family.step(step))
            train_s += time.perf_counter() - tick
            trained += 1
        except (OverflowError, RuntimeError) as exc:
            if "overflow" not in str(exc).lower():
                raise
            # a value too large for the parameters' dtype (e.g. train.lr=1e308 into float32) is the
            # update blowing up: the same outcome as a non-finite loss, not a crash
            return LoopOutcome(diverged=True, step=step, last=last, bad_keys=[f"overflow: {exc}"[:200]])
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        observing = step % observe_every == 0 or step == steps - 1
        if observing and not bad:
            bad = [f"param:{name.rstrip('.')}" for name in non_finite_tensors(family.state_dict())]
            if not bad:
                metrics.update(family.observe(step))
                bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        if observing:
            metrics["sys/steps_per_s"] = trained / max(train_s, 1e-9)
            trained, train_s = 0, 0.0
        finite = {k: v for k, v in metrics.items() if k not in bad}
        edge = step in (start_step, steps - 1) or bool(bad)
        held = {k: v for k, v in finite.items() if k in ON_CHANGE and not edge and last.get(k) == v}
        changed = [k for k in unlogged if k in finite and last.get(k) != finite[k]]
        if changed:  # the old value up to the step before, so that a chart draws a step, not a ramp
            sink(step - 1, {k: last[k] for k in changed})
        unlogged = set(held)
        sink(step, {k: v for k, v in finite.items() if k not in held})
        last.update(finite)
        if bad:
            return LoopOutcome(diverged=True, step=step, last=last, bad_keys=bad)
        if watch and step == start_step:
            _check_watched(watch, sink)
        if on_step is not None:
            on_step(step)
        done = step + 1
        if checkpoint is not None and checkpoint_every and done % checkpoint_every == 0 and done < steps:
            sink.flush()  # every point before `done` is stored before the checkpoint says so
            checkpoint(done)
    return LoopOutcome(diverged=False, step=steps, last=last, bad_keys=[])


def _check_watched(watch: list[str], sink: MLflowSink) -> None:
    from models.transitions import MissingObservableError

    missing = [k for k in watch if k not in sink.history]
    if missing:
        raise MissingObservableError(
            f"analysis.watch names {', '.join(missing)}, which this model family does not log; "
            f"it logs: {', '.join(sorted(sink.history))}"
        )
