"""Figures of a sweep: observables against a swept axis, Binder curves, phase diagrams.

All functions take the `Sweep` loaded from MLflow by `pipelines.sweepdata` and return a
matplotlib Figure; replicas (`seed`) are drawn as mean ± standard error.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from pipelines.sweepdata import Sweep, log_scaled, other_combinations, series, theory_marks

if TYPE_CHECKING:
    from matplotlib.figure import Figure


MAX_PANELS = 9


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def log_axis(ax, which: str = "x") -> None:
    """A log scale labelled in plain numbers (0.5, 2, 100), as the values were swept, not 5×10⁻¹; minor
    ticks are labelled at 2 and 5 of each decade."""
    from matplotlib.ticker import FuncFormatter

    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.1g}"[0] in "25" else ""))


def onsager_overlay(ax, axis: str, metric: str) -> None:
    """Onsager's exact infinite-lattice curve where the panel is an Ising observable vs T."""
    if axis != "data.temperature":
        return
    from models import ising

    lo, hi = ax.get_xlim()
    T = np.linspace(max(lo, 1e-3), hi, 200)
    name = metric.split("/")[-1]
    if name.endswith("energy") and "error" not in name:
        ax.plot(T, ising.onsager_energy(T), "k--", lw=1, label="Onsager (L=∞)")
    elif name.endswith("abs_magnetization"):
        ax.plot(T, ising.onsager_magnetization(T), "k--", lw=1, label="Onsager (L=∞)")
    else:
        return
    ax.axvline(ising.T_CRITICAL, color="gray", lw=0.8, ls=":")


def axis_figure(sweep: Sweep, axis: str, metrics: list[str], estimates: list[dict] | None = None) -> Figure:
    """Every metric against `axis`, one curve per combination of the other axes, with error
    bars over replicas, Onsager's curve where it applies, and located transitions as bands."""
    from models.transitions import aggregate_replicas

    plt = _plt()
    metrics = metrics[:MAX_PANELS]
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axs = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    for ax, metric in zip(axs.flat, metrics, strict=False):
        colors: dict[str, str] = {}
        for combo in other_combinations(sweep, axis):
            x, y = series(sweep, axis, metric, combo)
            if len(x) == 0:
                continue
            xu, mean, err, _ = aggregate_replicas(x, y)
            label = " ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in combo.items()) or None
            line = ax.errorbar(xu, mean, yerr=np.nan_to_num(err), marker="o", ms=3, capsize=2, label=label)
            colors[str(sorted(combo.items()))] = line.lines[0].get_color()
            draw_theory_marks(ax, sweep, axis, combo, line.lines[0].get_color())
        onsager_overlay(ax, axis, metric)
        for est in estimates or []:
            if est["axis"] == axis and est["observable"] == metric and est.get("ci_low") is not None:
                color = colors.get(str(sorted(est["fixed"].items())), "tab:red")
                ax.axvspan(est["ci_low"], est["ci_high"], color=color, alpha=0.15)
                ax.axvline(est["location"], color=color, lw=1, ls="-.")
        ax.set_xlabel(axis)
        if log_scaled(sweep, axis):
            log_axis(ax)
        ax.set_title(metric, fontsize="medium")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="x-small")
    for ax in list(axs.flat)[len(metrics) :]:
        ax.axis("off")
    fig.suptitle(f"{sweep.experiment}: observables vs {axis} (mean ± s.e. over seeds)", fontsize="medium")
    fig.tight_layout()
    return fig


def binder_figure(sweep: Sweep, axis: str, metric: str, size_axis: str, estimate: dict | None) -> Figure:
    """U₄ against `axis` for each system size, with the located crossing."""
    from models.transitions import aggregate_replicas

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for size in sorted(sweep.axes[size_axis], key=float):
        x, y = series(sweep, axis, metric, {size_axis: size})
        if len(x):
            xu, mean, err, _ = aggregate_replicas(x, y)
            ax.errorbar(xu, mean, yerr=np.nan_to_num(err), marker="o", ms=3, capsize=2, label=f"L={size}")
    if estimate is not None:
        ax.axvspan(estimate["ci_low"], estimate["ci_high"], color="tab:red", alpha=0.15, label="crossing (CI)")
        ax.axvline(estimate["location"], color="tab:red", lw=1)
    if axis == "data.temperature":
        from models.ising import T_CRITICAL

        ax.axvline(T_CRITICAL, color="k", ls="--", lw=0.8, label="T_c (Onsager)")
    ax.set_xlabel(axis)
    ax.set_ylabel(metric)
    ax.set_title(f"{sweep.experiment}: Binder cumulant crossing")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def heatmap_figure(sweep: Sweep, a: str, b: str, metric: str) -> Figure:
    """Phase diagram: `metric` (mean over replicas and other axes) on the (a, b) grid."""
    plt = _plt()
    xs = sorted({float(v) for v in sweep.axes[a]})
    ys = sorted({float(v) for v in sweep.axes[b]})
    grid = np.full((len(ys), len(xs)), np.nan)
    sums: dict[tuple[int, int], list[float]] = {}
    for t in sweep.trials:
        if t.status == "finished" and metric in t.metrics:
            key = (ys.index(float(t.values[b])), xs.index(float(t.values[a])))
            sums.setdefault(key, []).append(t.metrics[metric])
    for (i, j), vals in sums.items():
        grid[i, j] = float(np.mean(vals))
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    mesh = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs], rotation=45, fontsize="small")
    ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys], fontsize="small")
    ax.set_xlabel(a)
    ax.set_ylabel(b)
    fig.colorbar(mesh, ax=ax, label=metric)
    ax.set_title(f"{sweep.experiment}: phase diagram of {metric}", fontsize="medium")
    fig.tight_layout()
    return fig


def status_figure(sweep: Sweep, a: str, b: str) -> Figure:
    """Trial outcomes on the (a, b) plane: divergence is a phase boundary too."""
    plt = _plt()
    colors = {"finished": "tab:green", "diverged": "tab:orange", "failed": "tab:red"}
    fig, ax = plt.subplots(figsize=(5, 4))
    for status, color in colors.items():
        pts = [(float(t.values[a]), float(t.values[b])) for t in sweep.trials if t.status == status]
        if pts:
            ax.scatter(*zip(*pts, strict=True), c=color, label=status, s=40)
    ax.set_xlabel(a)
    ax.set_ylabel(b)
    ax.legend(fontsize="small")
    ax.set_title(f"{sweep.experiment}: trial outcomes")
    fig.tight_layout()
    return fig


def theory_overlay(ax, axis: str, metric: str) -> str | None:
    """The exact answer where physics gives one, drawn on `ax`; returns its legend label or None.

    Onsager's infinite-lattice energy and magnetisation (and T_c) for Ising observables against
    temperature; the Hopfield capacity α_c ≈ 0.138 (Amit, Gutfreund & Sompolinsky 1985) against load."""
    if axis == "data.temperature":
        before = len(ax.get_lines())
        onsager_overlay(ax, axis, metric)
        return "Onsager (L=∞)" if len(ax.get_lines()) > before else None
    if axis == "data.alpha":
        from models.hopfield import ALPHA_C

        ax.axvline(ALPHA_C, color="k", ls="--", lw=1, label=f"α_c = {ALPHA_C} (T=0 theory)")
        return "α_c"
    return None


def draw_theory_marks(ax, sweep: Sweep, axis: str, combo: dict[str, str], color) -> None:
    """Dashed vertical lines where the trials of `combo` say theory puts a transition along `axis`
    (`sweepdata.theory_marks`); a mark already drawn at the same place is not drawn twice."""
    for label, where in theory_marks(sweep, axis, combo).items():
        name = f"theory: {axis.rsplit('.', 1)[-1]} = {where:g}" if label == "theory" else f"theory {label} = {where:g}"
        if name not in ax.get_legend_handles_labels()[1]:
            ax.axvline(where, color=color, ls="--", lw=1, alpha=0.8, label=name)


OUTCOME_COLORS = ("tab:green", "tab:orange", "tab:red", "tab:purple", "tab:brown", "tab:gray")


def outcome_figure(sweep: Sweep, a: str, b: str, metric: str, labels: list[str]) -> Figure:
    """The regime of every trial on the (a, b) plane, from its integer outcome code `metric` (the most
    common code over replicas): a phase diagram of lazy / catapult / divergent and the like, with theory's
    marks along either axis."""
    from collections import Counter

    plt = _plt()
    cells: dict[tuple[float, float], Counter] = {}
    for t in sweep.trials:
        if t.status == "finished" and metric in t.metrics:
            key = (float(t.values[a]), float(t.values[b]))
            cells.setdefault(key, Counter())[round(t.metrics[metric])] += 1
    fig, ax = plt.subplots(figsize=(6, 4.4))
    codes = sorted({c for counter in cells.values() for c in counter})
    for code in codes:
        pts = [xy for xy, counter in cells.items() if counter.most_common(1)[0][0] == code]
        if pts:
            name = labels[code] if 0 <= code < len(labels) else f"outcome {code}"
            color = OUTCOME_COLORS[code % len(OUTCOME_COLORS)]
            ax.scatter(*zip(*pts, strict=True), s=70, marker="s", color=color, label=name)
    for axis, line in ((a, ax.axvline), (b, ax.axhline)):
        for label, where in theory_marks(sweep, axis, {}).items():
            name = f"theory: {axis.rsplit('.', 1)[-1]} = {where:g}" if label == "theory" else label
            line(where, color="k", ls="--", lw=1, label=name)
    if log_scaled(sweep, a):
        log_axis(ax)
    if log_scaled(sweep, b):
        log_axis(ax, "y")
    ax.set_xlabel(a)
    ax.set_ylabel(b)
    ax.legend(fontsize="small", loc="best")
    ax.set_title(f"{sweep.experiment}: regimes ({metric}, most common over seeds)", fontsize="medium")
    fig.tight_layout()
    return fig


MAX_CURVES = 6
"""Most combinations of the other axes drawn in one summary panel (the rest are in sweep_*.png)."""


def summary_figure(sweep: Sweep, axis: str, metrics: list[str], estimates: list[dict]) -> Figure:
    """The one figure to look at first: each headline observable against `axis` (at most two panels).

    Where the family measures the same observable on the model and on its training data
    (`obs/model_X`, `obs/data_X`), both are drawn on the same axes, the data dashed in the model's
    colour; exact theory is overlaid where it exists; located transitions are shaded CI bands."""
    from models.transitions import aggregate_replicas

    plt = _plt()
    metrics = metrics[:2]
    fig, axs = plt.subplots(1, len(metrics), figsize=(6.2 * len(metrics), 4.4), squeeze=False, layout="constrained")
    for ax, metric in zip(axs.flat, metrics, strict=True):
        twin = metric.replace("obs/model_", "obs/data_", 1) if metric.startswith("obs/model_") else None
        combos = other_combinations(sweep, axis)[:MAX_CURVES]
        for combo in combos:
            label = " ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in combo.items())
            color = None
            for key, style, who in ((metric, "-", "model"), (twin, "--", "data")):
                if key is None:
                    continue
                x, y = series(sweep, axis, key, combo)
                if len(x) == 0:
                    continue
                _, e = series(sweep, axis, f"{key}_err", combo)  # a lone trial's own error, if it logged one
                xu, mean, err, _ = aggregate_replicas(x, y, stderr=e if len(e) == len(y) else None)
                text = " ".join(p for p in ((who if twin else ""), label) if p) or None
                bars = ax.errorbar(
                    xu, mean, yerr=np.nan_to_num(err), fmt="o" + style, ms=3, capsize=2, color=color, label=text
                )
                color = bars.lines[0].get_color()
            draw_theory_marks(ax, sweep, axis, combo, color or "k")
            for est in estimates:
                same = est["observable"] == metric and est["fixed"] == combo and est["axis"] == axis
                if same and est.get("ci_low") is not None:
                    ax.axvspan(est["ci_low"], est["ci_high"], color=color or "tab:red", alpha=0.15)
                    ax.axvline(est["location"], color=color or "tab:red", lw=1, ls="-.")
        theory_overlay(ax, axis, twin or metric)
        if log_scaled(sweep, axis):
            log_axis(ax)
        ax.set_xlabel(axis)
        name = metric.split("/")[-1].removeprefix("model_")
        ax.set_ylabel(name)
        title = name.replace("_", " ")
        ax.set_title(f"{title}: model vs data" if twin else title, fontsize="medium")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="x-small")
    shaded = any(e["axis"] == axis and e["observable"] in metrics for e in estimates)
    fig.suptitle(
        f"{sweep.experiment}: {', '.join(m.split('/')[-1] for m in metrics)} vs {axis}"
        + (" · shaded: located transition (CI)" if shaded else ""),
        fontsize="medium",
    )
    return fig
