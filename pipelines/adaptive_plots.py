"""Figures of an adaptive sweep (`pipelines.adaptive`): where its rounds put their trials.

- `rounds_figure`: the observable against the refined axis, each trial a point coloured by its round
  (marker by system size for a Binder crossing), with the final estimate and its CI as a band;
- `boundary_figure`: for a boundary in a plane, the observable as a heatmap over (refined axis, held
  axis), each row's cells spanning the values that row ran, with every trial marked and the located
  boundary drawn with its CI.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from pipelines.plots import _plt, log_axis
from pipelines.sweepdata import Sweep

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MARKERS = "os^Dv<>p"


def rounds_figure(
    sweep: Sweep,
    axis: str,
    observable: str,
    rounds: dict[str, int],
    estimates: list[tuple[str, dict[str, str], Any]],
    *,
    size_axis: str | None = None,
    log: bool = False,
) -> Figure:
    """Two panels per estimate (at most 3 estimates): `observable` of every finished trial against `axis`
    over the whole range, and zoomed on where the rounds gathered, each trial coloured by its round;
    `estimates` are (label, held values, TransitionEstimate or None)."""
    plt = _plt()
    shown = estimates[:3]
    fig, axes = plt.subplots(len(shown), 2, figsize=(11, 3.9 * len(shown)), squeeze=False)
    last = max(rounds.values(), default=1)
    cmap = plt.get_cmap("viridis")
    for row, (label, combo, est) in zip(axes, shown, strict=False):
        trials = [t for t in sweep.trials if t.status == "finished" and observable in t.metrics]
        trials = [t for t in trials if all(t.values.get(k) == v for k, v in combo.items())]
        for ax, zoom in zip(row, (False, True), strict=True):
            _draw_rounds(ax, trials, axis, observable, rounds, size_axis, cmap, last)
            if est is not None and math.isfinite(est.ci_low):
                band = f"{est.location:.4g} [{est.ci_low:.4g}, {est.ci_high:.4g}]"
                ax.axvspan(est.ci_low, est.ci_high, color="tab:red", alpha=0.25, lw=0)
                ax.axvline(est.location, color="tab:red", lw=1.0, label=band)
            if zoom:
                _zoom(ax, trials, axis, observable, rounds)
            if log:
                log_axis(ax)
            ax.set_xlabel(axis)
            ax.set_ylabel(observable)
            where = f"{observable} along {axis}" if label == "all" else label
            ax.set_title(f"{where}: rounds after the first" if zoom else where, fontsize=10)
            ax.legend(fontsize=7, loc="best")
    from matplotlib.ticker import MaxNLocator

    mappable = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(1, max(last, 2)))
    fig.colorbar(mappable, ax=axes, label="round", shrink=0.8, ticks=MaxNLocator(integer=True))
    fig.suptitle(f"adaptive sweep: {len(sweep.trials)} trials in {last} rounds")
    return fig


def _draw_rounds(ax, trials, axis, observable, rounds, size_axis, cmap, last) -> None:
    """The trials as points coloured by round, one marker per system size (a grey legend entry each)."""
    sizes = sorted({t.values.get(size_axis, "") for t in trials}, key=_number) if size_axis else [""]
    for i, size in enumerate(sizes):
        mine = [t for t in trials if not size_axis or t.values.get(size_axis) == size]
        marker = MARKERS[i % len(MARKERS)]
        ax.scatter(
            [float(t.values[axis]) for t in mine],
            [t.metrics[observable] for t in mine],
            c=[rounds.get(t.run_id, 1) for t in mine],
            cmap=cmap, vmin=1, vmax=max(last, 2), marker=marker, s=24, edgecolors="k", linewidths=0.3,
        )  # fmt: skip
        if size:
            ax.scatter([], [], marker=marker, color="0.6", label=f"{size_axis.rsplit('.', 1)[-1]}={size}")


def _zoom(ax, trials, axis, observable, rounds) -> None:
    """Limit the axes to the span of the trials of round 2 on (padded), where the rounds gathered."""
    later = [t for t in trials if rounds.get(t.run_id, 1) > 1]
    if not later:
        return
    xs = [float(t.values[axis]) for t in later]
    pad = max(0.15 * (max(xs) - min(xs)), 1e-9)
    lo, hi = min(xs) - pad, max(xs) + pad
    ax.set_xlim(lo, hi)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(5))
    ys = [t.metrics[observable] for t in trials if lo <= float(t.values[axis]) <= hi]
    if ys:
        span = max(ys) - min(ys) or abs(max(ys)) or 1.0
        ax.set_ylim(min(ys) - 0.1 * span, max(ys) + 0.1 * span)


def boundary_figure(
    sweep: Sweep,
    axis: str,
    other: str,
    observable: str,
    estimates: list[tuple[str, dict[str, str], Any]],
    *,
    log: bool = False,
) -> Figure:
    """The observable's replica mean as a heatmap over (axis, other): each row of `other` is split into
    cells at the midpoints between the values it ran, so the cells are finest where the trials gathered.
    Dots are the axis values run; the red line with bars is the located boundary and its CI."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    rows = sorted({float(t.values[other]) for t in sweep.trials}, key=float)
    edges_y = _edges(np.asarray(rows))
    finished = [t for t in sweep.trials if t.status == "finished" and observable in t.metrics]
    lo = min((float(t.values[axis]) for t in finished), default=0.0)
    hi = max((float(t.values[axis]) for t in finished), default=1.0)
    norm = plt.Normalize(*_limits([t.metrics[observable] for t in finished]))
    mesh = None
    for j, row in enumerate(rows):
        mine = [t for t in finished if float(t.values[other]) == row]
        xs = np.asarray(sorted({float(t.values[axis]) for t in mine}))
        if xs.size == 0:
            continue
        means = np.array([np.mean([t.metrics[observable] for t in mine if float(t.values[axis]) == x]) for x in xs])
        edges_x = np.clip(_edges(xs), lo, hi)
        mesh = ax.pcolormesh(edges_x, edges_y[j : j + 2], means[None, :], cmap="coolwarm", norm=norm, shading="flat")
        ax.plot(xs, np.full(xs.size, row), "k.", ms=3)
    found = [(float(c[other]), e) for _, c, e in estimates if e is not None and other in c]
    found.sort(key=lambda pair: pair[0])
    if found:
        y = [p[0] for p in found]
        x = [p[1].location for p in found]
        err = [
            [max(0.0, p[1].location - p[1].ci_low) for p in found],
            [max(0.0, p[1].ci_high - p[1].location) for p in found],
        ]
        ax.errorbar(x, y, xerr=err, color="tab:red", lw=1.5, capsize=3, label="located boundary (CI)")
        ax.legend(loc="upper right", fontsize=8)
    if mesh is not None:
        fig.colorbar(mesh, ax=ax, label=observable)
    pad = 0.02 * (hi - lo)  # the first and last values run sit on the edges of their cells
    ax.set_xlim(lo - pad, hi + pad)
    if log:
        log_axis(ax)
    ax.set_xlabel(axis)
    ax.set_ylabel(other)
    ax.set_title(f"{observable}: {len(sweep.trials)} trials, gathered along the boundary")
    return fig


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges at the midpoints between sorted centres, the outer cells as wide as their neighbours."""
    if centres.size == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mids = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - mids[0]], mids, [2 * centres[-1] - mids[-1]]])


def _limits(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    return (min(finite), max(finite)) if finite else (0.0, 1.0)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.inf
