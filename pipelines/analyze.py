"""Sweep-level analysis, read back from MLflow only (never local files or logs).

`analyze_sweep(client, parent_run_id)` loads the sweep's child runs (params and final
observables) and, for every numeric swept axis with the other axes held fixed, locates where
the observables named in the experiment's `analysis` config change sharply:

- `peak`: the location of a susceptibility-like peak, refined by a local fit;
- `steepest`: the steepest change of an order parameter (tanh fit);
- `onset`: the corner of a curve flat on one side and rising on the other (a rounded-hinge fit), with
  its slope, rounding width and sharpness, fitted up to the last value at which no run diverged;
- `binder`: the crossing of the curves for different system sizes (`analysis.size_axis`).

Each estimate has a bootstrap confidence interval over the `seed` replicas (parametric, from
the trial's own `<observable>_err`, when there is one replica). Replicas are aggregated to
mean ± standard error, never treated as separate points. Logged to the parent run:

- metrics `transition/<axis>/<method>/<observable>[/<other axes>]` with `…_ci_low`/`…_ci_high`
  (and `…_sharpness` for an onset);
- `transitions.json`: every estimate and every note (e.g. too few points);
- `sweep_results.json`: one row per trial;
- plots: observables vs each axis (Onsager overlaid where it applies, estimates as bands),
  Binder curves, and for two swept axes a phase-diagram heatmap and an outcome map.

The bootstrap is seeded, so `phasesweep-analyze` reproduces the automatic numbers exactly.
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from pipelines.sweepdata import (
    REPLICA_AXIS,
    Sweep,
    is_number,
    load_sweep,
    log_scaled,
    other_combinations,
    pivot,
    series,
)
from workers import tracking

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


def _short(key: str) -> str:
    return key.rsplit(".", 1)[-1].rsplit("/", 1)[-1]


def _label(combo: dict[str, str]) -> str:
    return "/".join(f"{_short(k)}_{v}" for k, v in combo.items())


def _replicated(sweep: Sweep) -> bool:
    return len(sweep.axes.get(REPLICA_AXIS, [])) > 1


def estimate_transitions(sweep: Sweep) -> tuple[list[dict[str, Any]], list[str]]:
    """Every configured estimator along every numeric axis, other axes held fixed."""
    size_axis = sweep.analysis.get("size_axis") or "data.L"
    if not [a for a in sweep.numeric_axes() if a != size_axis]:
        return [], []  # nothing to locate (and no need to import the estimators' scipy)
    from models import transitions as tr

    cfg = sweep.analysis
    rng = np.random.default_rng(0)
    estimates: list[dict[str, Any]] = []
    notes: list[str] = []

    def record(axis: str, combo: dict[str, str], method: str, observable: str) -> None:
        try:
            est = locate(sweep, axis, method, observable, combo, rng=rng)
        except (tr.TooFewPointsError, tr.NoCrossingError, ValueError) as err:
            notes.append(f"{method} of {observable} along {axis} [{_label(combo) or 'all'}]: {err}")
            return
        estimates.append(est.to_dict() | {"axis": axis, "fixed": combo, "method": method, "observable": observable})

    for axis in [a for a in sweep.numeric_axes() if a != size_axis]:
        for combo in other_combinations(sweep, axis):
            for method in ("peak", "steepest", "onset"):
                for obs in cfg.get(method) or []:
                    record(axis, combo, method, obs)
        binder = cfg.get("binder")
        if binder and size_axis in sweep.axes:
            for combo in crossing_combinations(sweep, axis):
                record(axis, combo, "binder", binder)
    return estimates, notes


def crossing_combinations(sweep: Sweep, axis: str) -> list[dict[str, str]]:
    """The combinations of the other axes along which a Binder crossing is located: the size axis is
    what the crossing compares, so it is left out of them."""
    size_axis = sweep.analysis.get("size_axis") or "data.L"
    out: list[dict[str, str]] = []
    for combo in other_combinations(sweep, axis):
        combo = {k: v for k, v in combo.items() if k != size_axis}
        if combo not in out:
            out.append(combo)
    return out


def locate(sweep: Sweep, axis: str, method: str, observable: str, combo: dict[str, str], *, rng):
    """One transition estimate (`models.transitions.TransitionEstimate`): `method` ("peak", "steepest",
    "onset" or "binder") of `observable` along `axis`, the other axes held at `combo`, with the bootstrap
    settings of the sweep's analysis config. Raises the estimators' TooFewPointsError / NoCrossingError /
    ValueError (NoOnsetError is one)."""
    from models import transitions as tr

    cfg = sweep.analysis
    boot = {"n_boot": int(cfg.get("n_boot") or 500), "level": float(cfg.get("level") or 0.95), "rng": rng}
    if method == "binder":
        return _binder(sweep, axis, observable, cfg.get("size_axis") or "data.L", combo, **boot)
    fn = {"peak": tr.peak_location, "steepest": tr.steepest_change, "onset": tr.onset_location}[method]
    x, y = series(sweep, axis, observable, combo)
    stderr = None
    if not _replicated(sweep):
        _, err = series(sweep, axis, f"{observable}_err", combo)
        stderr = err if len(err) == len(y) else None
    extra: dict[str, Any] = {}
    diverged = first_divergence(sweep, axis, combo) if method == "onset" else None
    if diverged is not None:  # the onset regime ends where runs start to diverge
        stable = x[x < diverged]
        if not stable.size:
            raise tr.TooFewPointsError(
                f"onset_location: a run along {axis} diverged at {diverged:g}, its smallest value; no stable "
                "point is left to fit"
            )
        extra["upper"] = float(stable.max())
    if log_scaled(sweep, axis):  # fit in u = ln x, report in x
        fn = _in_log_space(fn)
    est = fn(x, y, stderr=stderr, axis=axis, **boot, **extra)
    if diverged is not None:
        from dataclasses import replace

        est = replace(est, details=est.details | {"diverged_from": diverged})
    return est


DIVERGED = "obs/diverged"
"""A trial's divergence indicator (1: diverged), for a family that stops a blowing-up run itself and
finishes it with that outcome (`fullbatch`); a run a non-finite value stopped has status `diverged`."""


def first_divergence(sweep: Sweep, axis: str, combo: dict[str, str]) -> float | None:
    """The smallest value of `axis` at which a trial matching `combo` diverged (status `diverged`, or
    `DIVERGED` logged as 1); None if none did. An onset is fitted only below it: past it the observable
    measures the blow-up (for the catapult's peak loss, the divergence cut-off), not the onset regime."""
    found = [
        float(t.values[axis])
        for t in sweep.trials
        if all(t.values.get(k) == v for k, v in combo.items())
        and is_number(t.values.get(axis, ""))
        and (t.status == "diverged" or t.metrics.get(DIVERGED, 0.0) >= 0.5)
    ]
    return min(found, default=None)


def _in_log_space(fn):
    """`fn` fitted against u = ln x: the location and its CI are mapped back by exp, the fitted width w
    of a steepest change or an onset stays in ln units (a relative width: the change spans x₀·e^{±w}), an
    onset's slope and sharpness are per ln x, and the estimate says `scale: log`. An onset's `upper` is
    given in x and its `fit_range` reported in x."""

    def fitted(x, y, **kwargs):
        from dataclasses import replace

        if kwargs.get("upper") is not None:
            kwargs["upper"] = math.log(kwargs["upper"])
        est = fn(np.log(np.asarray(x, dtype=float)), y, **kwargs)
        details = est.details | {"scale": "log"}
        if "grid_max" in details:
            details["grid_max"] = float(np.exp(details["grid_max"]))
        if "fit_range" in details:
            details["fit_range"] = [float(np.exp(v)) for v in details["fit_range"]]
        back = (float(np.exp(v)) for v in (est.location, est.ci_low, est.ci_high))
        return replace(est, **dict(zip(("location", "ci_low", "ci_high"), back, strict=True)), details=details)

    return fitted


def _binder(sweep: Sweep, axis: str, metric: str, size_axis: str, combo, *, n_boot, level, rng):
    """Curves U_L(x) on one shared x grid (NaN where a run is missing), one column per replica."""
    from models.transitions import binder_crossing

    matching = [t for t in sweep.trials if all(t.values.get(k) == v for k, v in combo.items())]
    grid = sorted({float(t.values[axis]) for t in matching})
    curves, errs = {}, {}
    for size in sweep.axes[size_axis]:
        x, y = series(sweep, axis, metric, combo | {size_axis: size})
        _, e = series(sweep, axis, f"{metric}_err", combo | {size_axis: size})
        reps = max((int(np.sum(x == g)) for g in grid), default=0)
        if reps == 0:
            continue
        mat = np.full((len(grid), reps), np.nan)
        err = np.full(len(grid), np.nan)
        for i, g in enumerate(grid):
            vals = y[x == g]
            mat[i, : len(vals)] = vals
            if len(e) == len(y) and len(vals):
                err[i] = float(np.mean(e[x == g]))
        curves[float(size)], errs[float(size)] = mat, err
    stderr = errs if not _replicated(sweep) else None
    window = sweep.analysis.get("binder_window")
    return binder_crossing(
        np.asarray(grid),
        curves,
        stderr=stderr,
        interpolation=sweep.analysis.get("binder_interpolation") or "cubic",
        window=float(window) if window is not None else None,
        n_boot=n_boot,
        level=level,
        rng=rng,
        axis=axis,
    )


def transition_metrics(estimates: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for e in estimates:
        if e["method"] == "rg_match":  # T* and ν go to rg/… (`pipelines.rg_analysis.rg_metrics`)
            continue
        key = f"transition/{_short(e['axis'])}/{e['method']}/{_short(e['observable'])}"
        if e["fixed"]:
            key += "/" + _label(e["fixed"])
        for suffix, field_name in (("", "location"), ("_ci_low", "ci_low"), ("_ci_high", "ci_high")):
            value = e.get(field_name)
            if value is not None and math.isfinite(value):
                out[key + suffix] = float(value)
        sharpness = (e.get("details") or {}).get("sharpness") if e["method"] == "onset" else None
        if sharpness is not None and math.isfinite(sharpness):
            out[key + "_sharpness"] = float(sharpness)
    return out


def results_table(sweep: Sweep) -> list[dict[str, Any]]:
    return [{"run_id": t.run_id, "status": t.status, **t.values, **t.metrics} for t in sweep.trials]


def analyze_sweep(client: MlflowClient, parent_id: str) -> dict[str, Any]:
    """Analyse the sweep under `parent_id` and log everything to that parent run."""
    from mlflow.entities import Metric

    sweep = load_sweep(client, parent_id)
    estimates, notes = estimate_transitions(sweep)
    flows: dict[str, Any] = {}
    if sweep.analysis.get("rg_match"):  # a block-spin sweep: the fixed point by Swendsen's matching
        from pipelines.rg_analysis import rg_estimates

        matched, rg_notes, flows = rg_estimates(sweep)
        estimates, notes = estimates + matched, notes + rg_notes
    table = results_table(sweep)
    client.log_text(parent_id, json.dumps(table, indent=1, default=str), "sweep_results.json")
    if table:  # the same rows as a table the UI shows (Artifacts, and the Evaluation view)
        columns = list(dict.fromkeys(k for row in table for k in row))
        data = {c: [_cell_value(row.get(c)) for row in table] for c in columns}
        if any(a.path == RESULTS_TABLE for a in client.list_artifacts(parent_id)):
            import pandas as pd  # a re-analysis replaces the table: log_table would append to it

            client.log_text(parent_id, pd.DataFrame(data).to_json(orient="split", index=False), RESULTS_TABLE)
        else:
            client.log_table(parent_id, data=data, artifact_file=RESULTS_TABLE)
    client.log_text(
        parent_id, json.dumps({"estimates": estimates, "notes": notes}, indent=1, default=str), "transitions.json"
    )
    metrics = transition_metrics(estimates)
    if flows:
        from pipelines.rg_analysis import rg_metrics

        metrics |= rg_metrics(estimates)
    now = int(time.time() * 1000)
    items = [Metric(k, v, now, 0) for k, v in metrics.items()]
    for chunk in tracking.chunks(items, tracking.MAX_METRICS_PER_BATCH):
        client.log_batch(parent_id, metrics=chunk)

    from pipelines import plots  # matplotlib: only once there is something to draw

    figures: dict[str, Any] = {}
    if flows:
        from pipelines.rg_analysis import flow_figure

        figures["plots/rg_flow.png"] = flow_figure(estimates, flows)
    observables = sweep.observables()
    observables = [o for o in observables if not o.endswith("_err")]
    axes = sweep.numeric_axes()
    size_axis = sweep.analysis.get("size_axis") or "data.L"
    lead = next((a for a in axes if a != size_axis), axes[0] if axes else None)
    if lead is not None and observables:
        figures[SUMMARY_FIGURE] = plots.summary_figure(sweep, lead, _headline(sweep, observables), estimates)
    for axis in axes if observables else []:
        figures[f"plots/sweep_{_short(axis)}.png"] = plots.axis_figure(
            sweep, axis, _ranked(sweep, observables), estimates
        )
        binder = sweep.analysis.get("binder")
        if binder and axis != size_axis and size_axis in sweep.axes:
            est = next((e for e in estimates if e["method"] == "binder" and e["axis"] == axis), None)
            figures[f"plots/binder_{_short(axis)}.png"] = plots.binder_figure(sweep, axis, binder, size_axis, est)
    for i, a in enumerate(axes):
        for b in axes[i + 1 :]:
            figures[f"plots/status_{_short(a)}_{_short(b)}.png"] = plots.status_figure(sweep, a, b)
            outcome = sweep.analysis.get("outcome")
            if outcome and outcome in observables:
                figures[f"plots/outcomes_{_short(a)}_{_short(b)}.png"] = plots.outcome_figure(
                    sweep, a, b, outcome, list(sweep.analysis.get("outcome_labels") or [])
                )
            for metric in _ranked(sweep, observables)[:3]:
                figures[f"plots/phase_{_short(a)}_{_short(b)}_{_short(metric)}.png"] = plots.heatmap_figure(
                    sweep, a, b, metric
                )
    for name, fig in figures.items():
        import matplotlib.pyplot as plt

        client.log_figure(parent_id, fig, name)
        plt.close(fig)
    parent = client.get_run(parent_id)
    client.set_tag(parent_id, "mlflow.note.content", describe_sweep(sweep, parent.data.tags, estimates, notes))
    return {"trials": len(sweep.trials), "estimates": estimates, "notes": notes, "artifacts": sorted(figures)}


SUMMARY_FIGURE = "plots/summary.png"
RESULTS_TABLE = "sweep_results_table.json"
MAX_NOTE = 8000
"""MLflow's limit on a tag's value: the parent's description is one tag."""


def _cell_value(value: Any) -> Any:
    """A table cell MLflow can store: numbers and text, missing as NaN (a column needs one type)."""
    if value is None:
        return float("nan")
    return value if isinstance(value, (int, float, str)) else str(value)


def _headline(sweep: Sweep, observables: list[str]) -> list[str]:
    """The summary figure's observables: the configured ones first, a data twin drawn with its model."""
    cfg = sweep.analysis
    if cfg.get("headline"):
        chosen = [o for o in cfg["headline"] if o in observables]
        if chosen:
            return chosen[:2]
    # the order parameter first (it has exact theory to compare with), then the peaked response
    chosen = [
        *(cfg.get("steepest") or []),
        *(cfg.get("onset") or []),
        *(cfg.get("peak") or []),
        *([cfg["binder"]] if cfg.get("binder") else []),
    ]
    chosen = list(dict.fromkeys(chosen))
    ranked = [o for o in chosen if o in observables] + [o for o in observables if o not in chosen]
    twinned = {o.replace("obs/model_", "obs/data_", 1) for o in ranked if o.startswith("obs/model_")}
    chosen = [o for o in ranked if o not in twinned]
    return chosen[:2]


def describe_sweep(sweep: Sweep, tags: dict[str, str], estimates: list[dict[str, Any]], notes: list[str]) -> str:
    """The parent run's note, markdown on its Overview tab: the command, the grid, the counts, and the
    located transitions with their confidence intervals."""
    level = float(sweep.analysis.get("level") or 0.95)
    counts = {k: tags.get(f"phasesweep.{k}") for k in ("finished", "diverged", "failed", "killed")}
    if counts["finished"] is None:  # analysed before the driver's tags (or by an older driver)
        counts = {k: str(sum(t.status == k for t in sweep.trials)) for k in ("finished", "diverged", "failed")}
    n = tags.get("phasesweep.n_trials") or str(len(sweep.trials))
    name = tags.get("phasesweep.sweep_name") or sweep.experiment
    lines = [
        f"**{name}**: {n} trials, " + ", ".join(f"{v} {k}" for k, v in counts.items() if v is not None) + ".",
        "",
    ]
    command = tags.get("phasesweep.command")
    if command:
        lines += ["```", command, "```", ""]
    if sweep.axes:
        lines += ["| swept | values |", "|---|---|"]
        lines += [f"| `{axis}` | {', '.join(values)} |" for axis, values in sweep.axes.items()]
        lines.append("")
    lines += ["### Transition estimates", ""]
    if estimates:
        shown = 0
        for e in estimates:
            where = f" at {_label(e['fixed']).replace('/', ', ')}" if e["fixed"] else ""
            ci = (
                f" ({level:.0%} CI {e['ci_low']:.4g} to {e['ci_high']:.4g})"
                if e.get("ci_low") is not None and math.isfinite(e["ci_low"])
                else " (no CI)"
            )
            line = f"- {e['method']} of `{e['observable']}` along `{e['axis']}`{where}: **{e['location']:.4g}**{ci}"
            details = e.get("details") or {}
            if details.get("scale") == "log":
                line += ", fitted in log space"
            if e["method"] == "onset" and details.get("sharpness") is not None:
                line += f", slope {details['slope']:.3g}"
                if details.get("grid_limited"):  # w unresolved: the sharpness s/(Δ/2) is a lower bound
                    line += f", a corner sharper than the grid, sharpness ≥ {details['sharpness']:.3g}"
                else:
                    line += f", rounding width {details['width']:.3g}, sharpness {details['sharpness']:.3g}"
            elif details.get("grid_limited"):
                line += ", sharper than the grid (CI: the bracketing grid points)"
            if sum(map(len, lines)) + len(line) > MAX_NOTE - 400:
                break
            lines.append(line)
            shown += 1
        if shown < len(estimates):
            lines.append(f"- … and {len(estimates) - shown} more in `transitions.json`")
    else:
        lines.append("None located.")
    for note in note_lines(notes)[:3]:
        lines.append(f"\n_{note}_")
    lines += [
        "",
        f"Look first at `{SUMMARY_FIGURE}`; every trial's final values are in `{RESULTS_TABLE}`, "
        "every estimate and skipped estimate in `transitions.json`.",
    ]
    return "\n".join(lines)[:MAX_NOTE]


def _ranked(sweep: Sweep, observables: list[str]) -> list[str]:
    """Configured observables first, then the rest."""
    cfg = sweep.analysis
    chosen = [
        *(cfg.get("peak") or []),
        *(cfg.get("steepest") or []),
        *(cfg.get("onset") or []),
        *([cfg["binder"]] if cfg.get("binder") else []),
    ]
    chosen = list(dict.fromkeys(chosen))
    return [o for o in chosen if o in observables] + [o for o in observables if o not in chosen]


def main(argv: list[str] | None = None) -> None:
    """`phasesweep-analyze`: re-run the sweep analysis of an existing sweep from MLflow."""
    import argparse
    import sys

    from mlflow.tracking import MlflowClient

    parser = argparse.ArgumentParser(
        prog="phasesweep-analyze",
        description="Analyse a finished sweep from its MLflow runs and log the results to its parent run.",
    )
    parser.add_argument("parent", nargs="?", help="parent run id of the sweep")
    parser.add_argument("--sweep-name", help="the sweep's name (tag phasesweep.sweep_name) instead of a run id")
    parser.add_argument("--tracking-uri", default=None, help="default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db")
    parser.add_argument(
        "--table",
        action="append",
        metavar="METRIC",
        help="print METRIC's final value as a rows × cols table, mean ± s.e. over the other axes (seeds); "
        "repeatable; read-only: nothing is re-analysed or logged",
    )
    parser.add_argument("--rows", help="swept axis for the table rows (default: the first numeric axis)")
    parser.add_argument("--cols", help="swept axis for the table columns (default: the second numeric axis)")
    args = parser.parse_args(argv)
    uri = tracking.resolve_tracking_uri(args.tracking_uri)
    client = MlflowClient(tracking_uri=uri)
    parent = args.parent
    if parent is None:
        if not args.sweep_name:
            parser.error("give a parent run id or --sweep-name")
        found = tracking.find_sweep(client, [e.experiment_id for e in client.search_experiments()], args.sweep_name)
        if found is None:
            print(f"phasesweep-analyze: error: no sweep named {args.sweep_name!r} in {uri}", file=sys.stderr)
            raise SystemExit(2)
        parent = found.info.run_id
    if args.table:
        try:
            print_tables(load_sweep(client, parent), args.table, args.rows, args.cols)
        except ValueError as exc:
            print(f"phasesweep-analyze: error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        return
    try:
        report = analyze_sweep(client, parent)
    except Exception as exc:
        print(f"phasesweep-analyze: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    print_report(report)


def _axis_order(values: list[str]) -> list[str]:
    return sorted(values, key=float) if all(is_number(v) for v in values) else values


def _cell(value: tuple[float, float, int] | None) -> str:
    if value is None:
        return "-"
    mean, sem, _ = value
    return f"{mean:.4g}" if math.isnan(sem) else f"{mean:.4g} ± {sem:.2g}"


def print_tables(sweep: Sweep, metrics: list[str], rows: str | None, cols: str | None) -> None:
    """One rich table per metric: rows × cols of mean ± standard error over the pooled trials."""
    from rich.console import Console
    from rich.table import Table

    axes = sweep.numeric_axes()
    rows = rows or (axes[0] if axes else None)
    cols = cols or next((a for a in axes if a != rows), None)
    if rows is None:
        raise ValueError(f"give --rows: the sweep has no numeric axis ({', '.join(sweep.axes) or 'none'})")
    out = Console(highlight=False)
    for metric in metrics:
        cells = pivot(sweep, metric, rows, cols)
        n = sorted({c[2] for c in cells.values()})
        table = Table(title=f"{metric}: mean ± s.e. over {'/'.join(map(str, n))} trial(s) per cell")
        table.add_column(f"{_short(rows)} \\ {_short(cols)}" if cols else _short(rows))
        col_values = _axis_order(sweep.axes[cols]) if cols else [""]
        for c in col_values:
            table.add_column(c or metric, justify="right")
        for r in _axis_order(sweep.axes[rows]):
            table.add_row(r, *(_cell(cells.get((r, c))) for c in col_values))
        out.print(table)


_SKIPPED = re.compile(r"^(?P<where>.+?\]): \w+ (?P<cause>needs .*)$")


def note_lines(notes: list[str]) -> list[str]:
    """The notes for a terminal: estimates skipped for the same cause (`needs >= 4 distinct values of
    data.temperature ...`) in one line with their count; `transitions.json` keeps each one."""
    causes: dict[str, list[str]] = {}
    for note in notes:
        match = _SKIPPED.match(note)
        causes.setdefault(match["cause"] if match else note, []).append(note)
    lines = []
    for cause, group in causes.items():
        if len(group) == 1:
            lines.append(group[0])
        else:
            lines.append(f"{len(group)} estimates skipped: they need{cause[len('needs') :]} (each in transitions.json)")
    return lines


def print_report(report: dict[str, Any]) -> None:
    """The located transitions as a table, and the notes, on the console."""
    from rich.console import Console
    from rich.table import Table

    out = Console(highlight=False)
    if report["estimates"]:
        table = Table(title="located transitions (95% bootstrap CI unless configured otherwise)")
        for col in ("axis", "held fixed", "method", "observable", "location", "CI"):
            table.add_column(col)
        for e in report["estimates"]:
            ci = f"[{e['ci_low']:.4g}, {e['ci_high']:.4g}]" if e.get("ci_low") is not None else "n/a"
            table.add_row(
                e["axis"], _label(e["fixed"]) or "-", e["method"], e["observable"], f"{e['location']:.4g}", ci
            )
        out.print(table)
    for note in note_lines(report["notes"]):
        out.print(f"[yellow]note:[/] {note}")
    out.print(
        f"{report['trials']} trials; {len(report['artifacts'])} plots, transitions.json and "
        "sweep_results.json logged to the parent run"
    )


if __name__ == "__main__":
    main()
