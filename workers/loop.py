"""The one training loop. Every trial runs through it, fresh or resumed, alone or in a pack.

A pack is P trials trained as one batched model (`workers.families.base.Population`); a trial on its own
is a pack of one (`Solo`). Each member keeps its own sink, its own record of what it logged, and its own
outcome: the loop steps the members still active, and a member that diverges is masked out of every later
update while the others go on.

Each step: the population's update of its active members; their observables every `observe_every` steps,
together with a finiteness check of each member's parameters; a finiteness check of every metric
(non-finite, or an update that overflows its dtype, ends the member as *diverged*: an outcome with its
step, not a crash); one call to each member's sink; and every `checkpoint_every` steps a flush of the
metrics followed by a checkpoint, so that a resumed member starts exactly where its stored metrics end.
Members may start at different steps (resumed from checkpoints of different packs): a member takes part
from its own start step on.

The loop adds `sys/steps_per_s` at each observation: training steps per second since the last one,
timing the updates only (an observation's own cost would make the last value, which the MLflow runs
table shows, say nothing about training speed). Metrics in `ON_CHANGE` (a learning rate) are logged at
the first and last step and whenever they change, not every step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from workers.families.base import Family, Population
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


class Solo:
    """One `Family` as a population of one, so that a lone trial runs through the same loop as a pack."""

    size = 1

    def __init__(self, family: Family) -> None:
        self.family = family
        self.headline_metric = getattr(family, "headline_metric", "")

    def step(self, step: int, members: Sequence[int]) -> list[dict[str, float]]:
        return [self.family.step(step)]

    def observe(self, step: int, members: Sequence[int]) -> list[dict[str, float]]:
        return [self.family.observe(step)]

    def member_state(self, i: int) -> dict[str, Any]:
        return self.family.state_dict()

    def load_member_state(self, i: int, state: dict[str, Any]) -> None:
        self.family.load_state_dict(state)

    def figures(self, i: int, history: dict[str, list[tuple[int, float]]]) -> dict[str, Any]:
        draw = getattr(self.family, "figures", None)
        return draw(history) if draw is not None else {}


@dataclass
class _Log:
    """What one member has sent: its latest values, and the ON_CHANGE values it held back."""

    sink: Any
    start: int
    last: dict[str, float] = field(default_factory=dict)
    unlogged: set[str] = field(default_factory=set)
    outcome: LoopOutcome | None = None

    def send(self, step: int, metrics: dict[str, float], bad: list[str], final: bool) -> None:
        finite = {k: v for k, v in metrics.items() if k not in bad}
        edge = step == self.start or final or bool(bad)
        held = {k: v for k, v in finite.items() if k in ON_CHANGE and not edge and self.last.get(k) == v}
        changed = [k for k in self.unlogged if k in finite and self.last.get(k) != finite[k]]
        if changed:  # the old value up to the step before, so that a chart draws a step, not a ramp
            self.sink(step - 1, {k: self.last[k] for k in changed})
        self.unlogged = set(held)
        self.sink(step, {k: v for k, v in finite.items() if k not in held})
        self.last.update(finite)
        if bad:
            self.outcome = LoopOutcome(diverged=True, step=step, last=self.last, bad_keys=bad)


def _bad(metrics: dict[str, float]) -> list[str]:
    return [k for k, v in metrics.items() if not math.isfinite(v)]


def train_population(
    population: Population,
    sinks: Sequence[MLflowSink],
    *,
    steps: int,
    observe_every: int,
    checkpoint_every: int = 0,
    checkpoint: Callable[[int, list[int]], None] | None = None,
    start_steps: Sequence[int] | None = None,
    on_step: Callable[[int], None] | None = None,
    watch: list[str] | None = None,
) -> list[LoopOutcome]:
    """Run every member of `population` from its start step to `steps`, logging each through its sink.

    `checkpoint(done, members)` saves the state of the members still training after `done` steps.
    `watch` names observables whose change points will be detected: every one must be logged by a member's
    first step (which always observes), else `MissingObservableError` stops the pack.
    """
    starts = list(start_steps) if start_steps is not None else [0] * len(sinks)
    logs = [_Log(sink, start) for sink, start in zip(sinks, starts, strict=True)]
    trained, train_s = 0, 0.0
    for step in range(min(starts, default=steps), steps):
        active = [i for i, log in enumerate(logs) if log.outcome is None and log.start <= step]
        if not active:
            continue
        tick = time.perf_counter()
        try:
            results = [dict(m) for m in population.step(step, active)]
            train_s += time.perf_counter() - tick
            trained += 1
        except (OverflowError, RuntimeError) as exc:
            if "overflow" not in str(exc).lower():
                raise
            # a value too large for the parameters' dtype (e.g. train.lr=1e308 into float32) is the
            # update blowing up: the same outcome as a non-finite loss, not a crash
            for i in active:
                logs[i].outcome = LoopOutcome(True, step, logs[i].last, [f"overflow: {exc}"[:200]])
            continue
        bad = [_bad(m) for m in results]
        observing = step % observe_every == 0 or step == steps - 1
        if observing:
            for j, i in enumerate(active):
                if not bad[j]:
                    names = non_finite_tensors(population.member_state(i))
                    bad[j] = [f"param:{name.rstrip('.')}" for name in names]
            clean = [j for j in range(len(active)) if not bad[j]]
            if clean:
                for j, extra in zip(clean, population.observe(step, [active[j] for j in clean]), strict=True):
                    results[j].update(extra)
                    bad[j] = _bad(results[j])
            rate = trained / max(train_s, 1e-9)
            for metrics in results:
                metrics["sys/steps_per_s"] = rate
            trained, train_s = 0, 0.0
        for j, i in enumerate(active):
            logs[i].send(step, results[j], bad[j], final=step == steps - 1)
            if watch and step == logs[i].start and logs[i].outcome is None:
                _check_watched(watch, logs[i].sink)
        if on_step is not None:
            on_step(step)
        done = step + 1
        if checkpoint is not None and checkpoint_every and done % checkpoint_every == 0 and done < steps:
            going = [i for i in active if logs[i].outcome is None]
            for i in going:
                logs[i].sink.flush()  # every point before `done` is stored before the checkpoint says so
            if going:
                checkpoint(done, going)
    return [log.outcome or LoopOutcome(diverged=False, step=steps, last=log.last, bad_keys=[]) for log in logs]


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
    """`train_population` for one family and its sink (a pack of one)."""
    (outcome,) = train_population(
        Solo(family),
        [sink],
        steps=steps,
        observe_every=observe_every,
        checkpoint_every=checkpoint_every,
        checkpoint=None if checkpoint is None else (lambda done, _members: checkpoint(done)),
        start_steps=[start_step],
        on_step=on_step,
        watch=watch,
    )
    return outcome


def _check_watched(watch: list[str], sink: MLflowSink) -> None:
    from models.transitions import MissingObservableError

    missing = [k for k in watch if k not in sink.history]
    if missing:
        raise MissingObservableError(
            f"analysis.watch names {', '.join(missing)}, which this model family does not log; "
            f"it logs: {', '.join(sorted(sink.history))}"
        )
