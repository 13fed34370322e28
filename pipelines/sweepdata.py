"""A sweep as data, read back from MLflow only (never local files or logs).

`load_sweep(client, parent_run_id)` gives the `Sweep`: its swept axes (from the parent's `sweep.*`
params) and one `Trial` per child run, with its swept values, status and final metrics. The analysis
(`pipelines.analyze`) and the figures (`pipelines.plots`) both read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from workers import tracking

AXIS_TAG = "phasesweep.axis."
"""Parent-run tags `phasesweep.axis.<key>`: every value of a swept key over all commands of the sweep."""
ALL_VALUES = "*"
"""An axis tag too long for MLflow is written as this; its values are then the trials' own."""

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


REPLICA_AXIS = "seed"


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
    analysis: dict[str, Any] = field(default_factory=dict)
    """The experiment's `analysis` config, read back from a child's params."""
    trials: list[Trial] = field(default_factory=list)

    def numeric_axes(self) -> list[str]:
        return [a for a, vals in self.axes.items() if a != REPLICA_AXIS and all(is_number(v) for v in vals)]

    def observables(self) -> list[str]:
        keys = sorted({k for t in self.trials if t.status == "finished" for k in t.metrics if k.startswith("obs/")})
        return keys


def is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def load_sweep(client: MlflowClient, parent_id: str) -> Sweep:
    """The sweep under `parent_id`: its axes and trials.

    The axes are the parent's `phasesweep.axis.*` tags, which a continued sweep extends, or for a sweep
    made before them its `sweep.*` params (the first command's grid; params cannot change).
    """
    parent = client.get_run(parent_id)
    axes = {k[len(AXIS_TAG) :]: v.split(",") for k, v in parent.data.tags.items() if k.startswith(AXIS_TAG)}
    axes = axes or {
        k[len("sweep.") :]: v.split(",")
        for k, v in parent.data.params.items()
        if k.startswith("sweep.") and k != "sweep.n_trials"
    }
    sweep = Sweep(parent_id, parent.data.tags.get("phasesweep.sweep_name", ""), axes)
    spellings = {a: _spellings(vs) for a, vs in axes.items()}
    for run in tracking.child_runs(client, parent.info.experiment_id, parent_id):
        if run.info.status != "FINISHED" and run.data.tags.get("phasesweep.status") != "failed":
            continue  # interrupted runs are not results
        values = {a: _as_swept(_param_value(run.data.params, a), spellings[a]) for a in axes}
        if not sweep.analysis:
            sweep.analysis = _analysis_params(run.data.params)
        status = run.data.tags.get("phasesweep.status", "finished")
        sweep.trials.append(Trial(run.info.run_id, values, status, dict(run.data.metrics)))
    for axis, values in axes.items():
        if values == [ALL_VALUES]:
            seen = dict.fromkeys(t.values[axis] for t in sweep.trials)
            axes[axis] = sorted(seen, key=lambda v: (not is_number(v), float(v) if is_number(v) else 0.0, v))
    return sweep


def _analysis_params(params: dict[str, str]) -> dict[str, Any]:
    """The `analysis.*` params of a trial, parsed back into values."""
    import yaml

    out: dict[str, Any] = {}
    for key, value in params.items():
        if key.startswith("analysis."):
            out[key[len("analysis.") :]] = yaml.safe_load(value) if value not in ("", "None") else None
    return out


def _param_value(params: dict[str, str], axis: str) -> str:
    return params.get(axis.lstrip("+~"), "")


def _spellings(swept: list[str]) -> dict[str, str]:
    """Each swept value under its own spelling, and each numeric one also under its float's repr: one lookup
    per trial, however long the axis (a 10 000-value axis is scanned once, not once per trial)."""
    out = {v: v for v in swept}
    for v in swept:
        if is_number(v):
            out.setdefault(repr(float(v)), v)
    return out


def _as_swept(value: str, spellings: dict[str, str]) -> str:
    """A trial's logged value written as the sweep wrote it: the params hold the resolved config, where
    `train.lr_scaled=1` becomes `1.0`, while the axis keeps the command line's `1`; every comparison of a
    trial with an axis value is between strings, so a number equal to a swept one takes its spelling."""
    if value in spellings:
        return spellings[value]
    if not is_number(value):
        return value
    return spellings.get(repr(float(value)), value)


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


def log_scaled(sweep: Sweep, axis: str) -> bool:
    """Whether `axis` is fitted and drawn in log space: as `analysis.log_axes` lists, or, where that is
    unset, for positive values spanning 10× or more that are closer to evenly spaced in log than
    linearly (a learning rate or a width swept as 1e-3,3e-3,1e-2 or 16,32,64,128)."""
    listed = sweep.analysis.get("log_axes")
    if listed is not None:
        return axis in listed
    values = np.unique([float(v) for v in sweep.axes.get(axis, []) if is_number(v)])
    if values.size < 3 or values[0] <= 0 or values[-1] / values[0] < 10:
        return False
    spread = lambda steps: np.std(steps) / np.mean(steps)  # noqa: E731
    return bool(spread(np.diff(np.log(values))) < spread(np.diff(values)))


def theory_marks(sweep: Sweep, axis: str, combo: dict[str, str]) -> dict[str, float]:
    """Where theory puts a transition along `axis`, as the trials matching `combo` logged it: a family
    logs `theory/<axis>` (e.g. `theory/model.width` = n_train, `theory/train.lr_scaled` = 2), and
    `theory/<axis>/<name>` for a second mark. Returns {label: location}, the mean over those trials."""
    marks: dict[str, list[float]] = {}
    prefix = f"theory/{axis.lstrip('+~')}"
    for t in sweep.trials:
        if any(t.values.get(k) != v for k, v in combo.items()):
            continue
        for key, value in t.metrics.items():
            if key == prefix or key.startswith(prefix + "/"):
                marks.setdefault(key[len(prefix) + 1 :] or "theory", []).append(value)
    return {label: float(np.mean(v)) for label, v in marks.items()}


def other_combinations(sweep: Sweep, axis: str) -> list[dict[str, str]]:
    """Every combination of the swept axes other than `axis` and the replica axis."""
    others = [a for a in sweep.axes if a not in (axis, REPLICA_AXIS)]
    combos: list[dict[str, str]] = [{}]
    for a in others:
        combos = [c | {a: v} for c in combos for v in sweep.axes[a]]
    return combos


def pivot(sweep: Sweep, metric: str, rows: str, cols: str | None) -> dict[tuple[str, str], tuple[float, float, int]]:
    """`metric` of the finished trials, by (row value, column value): (mean, standard error, n). With
    `cols=None` the column value is "" (one column: a sweep along one axis).

    Replicas (and any axis other than `rows` and `cols`) are pooled by the same rule as every other
    replica aggregate here, `models.transitions.aggregate_replicas` (s/√n; NaN for a single trial).
    """
    from models.transitions import aggregate_replicas

    for axis in (rows, cols):
        if axis is not None and axis not in sweep.axes:
            raise ValueError(f"{axis!r} is not a swept axis of this sweep (swept: {', '.join(sweep.axes) or 'none'})")
    cells: dict[tuple[str, str], list[float]] = {}
    for t in sweep.trials:
        if t.status == "finished" and metric in t.metrics:
            cells.setdefault((t.values[rows], t.values[cols] if cols else ""), []).append(t.metrics[metric])
    if not cells:
        logged = sorted({k for t in sweep.trials if t.status == "finished" for k in t.metrics})
        shown = ", ".join(logged[:40]) + (f", ... ({len(logged)} in all)" if len(logged) > 40 else "")
        raise ValueError(f"no finished trial logged {metric!r}; they log: {shown or 'nothing'}")
    out = {}
    for key, vals in cells.items():
        _, mean, sem, n = aggregate_replicas(np.zeros(len(vals)), vals)
        out[key] = (float(mean[0]), float(sem[0]), int(n[0]))
    return out
