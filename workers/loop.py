"""The one training loop. Every family runs through `train`, fresh or resumed.

Each step: the family's update, its observables every `train.observe_every` steps,
a finiteness check (a non-finite metric ends the trial as *diverged*, an outcome, not a
crash), and one call to the sink. The loop adds `sys/steps_per_s`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workers.family import Family
    from workers.sink import MLflowSink


@dataclass
class LoopOutcome:
    diverged: bool
    step: int
    """Last completed step + 1 (== steps when finished), or the step that diverged."""
    last: dict[str, float]
    """Most recent value of every metric."""
    bad_keys: list[str]


def train(
    family: Family,
    sink: MLflowSink,
    *,
    steps: int,
    observe_every: int,
    start_step: int = 0,
    on_step: Callable[[int], None] | None = None,
) -> LoopOutcome:
    """Run `family` from `start_step` to `steps`, logging every step through `sink`."""
    last: dict[str, float] = {}
    tick = time.perf_counter()
    for step in range(start_step, steps):
        metrics = dict(family.step(step))
        if step % observe_every == 0 or step == steps - 1:
            metrics.update(family.observe(step))
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        now = time.perf_counter()
        metrics["sys/steps_per_s"] = 1.0 / max(now - tick, 1e-9)
        tick = now
        finite = {k: v for k, v in metrics.items() if k not in bad}
        sink(step, finite)
        last.update(finite)
        if bad:
            return LoopOutcome(diverged=True, step=step, last=last, bad_keys=bad)
        if on_step is not None:
            on_step(step)
    return LoopOutcome(diverged=False, step=steps, last=last, bad_keys=[])


def plot_history(history: dict[str, list[tuple[int, float]]], title: str = ""):
    """One panel per metric namespace (`train/`, `obs/`, …), every curve against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[str, list[str]] = {}
    for key in sorted(history):
        ns = key.split("/", 1)[0] if "/" in key else "other"
        if ns != "sys":
            groups.setdefault(ns, []).append(key)
    n = max(1, len(groups))
    fig, axes = plt.subplots(n, 1, figsize=(7, 2.8 * n), squeeze=False, sharex=True)
    for ax, (ns, keys) in zip(axes[:, 0], groups.items(), strict=False):
        for key in keys:
            steps, values = zip(*history[key], strict=False)
            ax.plot(steps, values, label=key.split("/", 1)[-1], marker="." if len(steps) < 40 else None)
        ax.set_ylabel(ns)
        ax.legend(fontsize="small", loc="best")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    if title:
        fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    return fig
