"""Sweep-level analysis, read back from MLflow only (never local files or logs).

`analyze_sweep(client, parent_run_id)` loads the sweep's child runs (params and final
observables), aggregates `seed` replicas to mean ± standard error, and logs to the parent run:

- `sweep_results.json`: one row per trial (swept values, status, final observables);
- `plots/sweep_<axis>.png`: every observable against each numeric swept axis, one curve per
  combination of the other axes, with error bars over replicas;
- `plots/status_<a>_<b>.png`: a map of trial outcomes (finished/diverged/failed) when two
  numeric axes are swept: divergence is a phase boundary too.

It runs automatically at the end of a sweep and by hand as `phasesweep-analyze`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from mlflow.tracking import MlflowClient

REPLICA_AXIS = "seed"
MAX_PANELS = 9


@dataclass
class Trial:
    run_id: str
    values: dict[str, str]
    """The swept keys' values, as given on the command line."""
    status: str
    metrics: dict[str, float]


@dataclass
class Sweep:
    parent_id: str
    experiment: str
    axes: dict[str, list[str]]
    trials: list[Trial] = field(default_factory=list)

    def numeric_axes(self) -> list[str]:
        return [a for a, vals in self.axes.items() if a != REPLICA_AXIS and all(_is_number(v) for v in vals)]

    def observables(self) -> list[str]:
        keys = sorted({k for t in self.trials if t.status == "finished" for k in t.metrics if k.startswith("obs/")})
        return keys


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def load_sweep(client: MlflowClient, parent_id: str) -> Sweep:
    """The sweep under `parent_id`: its axes (from the parent's `sweep.*` params) and trials."""
    parent = client.get_run(parent_id)
    axes = {
        k[len("sweep.") :]: v.split(",")
        for k, v in parent.data.params.items()
        if k.startswith("sweep.") and k != "sweep.n_trials"
    }
    sweep = Sweep(parent_id, parent.data.tags.get("phasesweep.sweep_name", ""), axes)
    token = None
    while True:
        page = client.search_runs(
            [parent.info.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parent_id}'",
            max_results=1000,
            page_token=token,
        )
        for run in page:
            if run.info.status != "FINISHED" and run.data.tags.get("phasesweep.status") != "failed":
                continue  # interrupted runs are not results
            values = {a: _param_value(run.data.params, a) for a in axes}
            status = run.data.tags.get("phasesweep.status", "finished")
            sweep.trials.append(Trial(run.info.run_id, values, status, dict(run.data.metrics)))
        token = page.token
        if not token:
            return sweep


def _param_value(params: dict[str, str], axis: str) -> str:
    return params.get(axis.lstrip("+~"), "")


def series(sweep: Sweep, axis: str, metric: str, fixed: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) over finished trials matching `fixed`; replicas appear as repeated x."""
    xs, ys = [], []
    for t in sweep.trials:
        if t.status != "finished" or metric not in t.metrics:
            continue
        if any(t.values.get(k) != v for k, v in fixed.items()):
            continue
        xs.append(float(t.values[axis]))
        ys.append(t.metrics[metric])
    return np.asarray(xs), np.asarray(ys)


def replica_stats(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean ± standard error of y at each distinct x (replicas = seeds)."""
    from models.transitions import aggregate_replicas

    xu, mean, stderr, _ = aggregate_replicas(x, y)
    return xu, mean, stderr


def other_combinations(sweep: Sweep, axis: str) -> list[dict[str, str]]:
    """Every combination of the swept axes other than `axis` and the replica axis."""
    others = [a for a in sweep.axes if a not in (axis, REPLICA_AXIS)]
    combos: list[dict[str, str]] = [{}]
    for a in others:
        combos = [c | {a: v} for c in combos for v in sweep.axes[a]]
    return combos


def axis_figure(sweep: Sweep, axis: str, metrics: list[str], overlay=None) -> Figure:
    """Every metric against `axis`, one errorbar curve per combination of the other axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = metrics[:MAX_PANELS]
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axs = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    for ax, metric in zip(axs.flat, metrics, strict=False):
        for combo in other_combinations(sweep, axis):
            x, y = series(sweep, axis, metric, combo)
            if len(x) == 0:
                continue
            xu, mean, err = replica_stats(x, y)
            label = " ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in combo.items()) or None
            ax.errorbar(xu, mean, yerr=err, marker="o", ms=3, capsize=2, label=label)
        if overlay is not None:
            overlay(ax, axis, metric)
        ax.set_xlabel(axis)
        ax.set_title(metric, fontsize="medium")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="x-small")
    for ax in list(axs.flat)[len(metrics) :]:
        ax.axis("off")
    fig.suptitle(f"{sweep.experiment}: observables vs {axis} (mean ± s.e. over seeds)", fontsize="medium")
    fig.tight_layout()
    return fig


def status_figure(sweep: Sweep, a: str, b: str) -> Figure:
    """Trial outcomes on the (a, b) plane."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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


def results_table(sweep: Sweep) -> list[dict[str, Any]]:
    return [{"run_id": t.run_id, "status": t.status, **t.values, **t.metrics} for t in sweep.trials]


def analyze_sweep(client: MlflowClient, parent_id: str) -> dict[str, Any]:
    """Analyse the sweep under `parent_id` and log the results to that parent run."""
    sweep = load_sweep(client, parent_id)
    client.log_text(parent_id, json.dumps(results_table(sweep), indent=1, default=str), "sweep_results.json")
    import matplotlib.pyplot as plt

    logged = []
    metrics = sweep.observables()
    axes = sweep.numeric_axes()
    for axis in axes if metrics else []:
        fig = axis_figure(sweep, axis, metrics)
        name = f"plots/sweep_{axis.rsplit('.', 1)[-1]}.png"
        client.log_figure(parent_id, fig, name)
        plt.close(fig)
        logged.append(name)
    for i, a in enumerate(axes):
        for b in axes[i + 1 :]:
            fig = status_figure(sweep, a, b)
            name = f"plots/status_{a.rsplit('.', 1)[-1]}_{b.rsplit('.', 1)[-1]}.png"
            client.log_figure(parent_id, fig, name)
            plt.close(fig)
            logged.append(name)
    return {"trials": len(sweep.trials), "artifacts": logged}


def main(argv: list[str] | None = None) -> None:
    """`phasesweep-analyze`: re-run the sweep analysis of an existing sweep from MLflow."""
    import argparse
    import sys

    from mlflow.tracking import MlflowClient

    from workers import tracking

    parser = argparse.ArgumentParser(
        prog="phasesweep-analyze",
        description="Analyse a finished sweep from its MLflow runs and log the results to its parent run.",
    )
    parser.add_argument("parent", nargs="?", help="parent run id of the sweep")
    parser.add_argument("--sweep-name", help="the sweep's name (tag phasesweep.sweep_name) instead of a run id")
    parser.add_argument("--tracking-uri", default=None, help="default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db")
    args = parser.parse_args(argv)
    uri = tracking.resolve_tracking_uri(args.tracking_uri)
    client = MlflowClient(tracking_uri=uri)
    parent = args.parent
    if parent is None:
        if not args.sweep_name:
            parser.error("give a parent run id or --sweep-name")
        runs = client.search_runs(
            [e.experiment_id for e in client.search_experiments()],
            filter_string=f"tags.`phasesweep.sweep_name` = '{args.sweep_name}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not runs:
            print(f"phasesweep-analyze: error: no sweep named {args.sweep_name!r} in {uri}", file=sys.stderr)
            raise SystemExit(2)
        parent = runs[0].info.run_id
    try:
        report = analyze_sweep(client, parent)
    except Exception as exc:
        print(f"phasesweep-analyze: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    print(json.dumps(report, indent=1))
