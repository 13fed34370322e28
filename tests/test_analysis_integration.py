"""Sweep analysis end to end: real sweeps, estimates read back from MLflow, reproducible."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY
from tests.test_sweep_integration import runs_of, store

MC_TINY = ["experiment=ising_mc", "train.steps=30", "train.chains=8", "data.burn_in=20"]


def parent_json(workdir: Path, name: str) -> dict:
    client = store(workdir)
    parents, _ = runs_of(client)
    path = client.download_artifacts(parents[0].info.run_id, name, str(workdir / f"dl-{name}"))
    return json.loads(Path(path).read_text())


def test_too_few_points_gives_a_clear_note(run_cli, workdir: Path):
    out = run_cli("-m", *MC_TINY, "data.L=4", "data.temperature=2.2,2.4", cwd=workdir)
    assert out.returncode == 0, out.stdout + out.stderr
    text = " ".join(out.stdout.split())
    assert "note:" in text and "need >= 4 distinct values of data.temperature" in text, out.stdout
    assert len([line for line in out.stdout.splitlines() if line.startswith("note:")]) <= 3, "one line per cause"
    notes = parent_json(workdir, "transitions.json")["notes"]
    assert any("peak" in n and "needs" in n for n in notes), notes

    import subprocess
    import sys

    parents, children = runs_of(store(workdir))
    env = {**os.environ, "COLUMNS": "200", "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"}

    def analyze(*args: str):
        command = [sys.executable, "-m", "pipelines.analyze", parents[0].info.run_id, *args]
        return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=300, env=env)

    one_axis = analyze("--table", "obs/energy")  # a sweep along one axis is a one-column table
    assert one_axis.returncode == 0, one_axis.stderr
    assert all(f"{c.data.metrics['obs/energy']:.4g}" in one_axis.stdout for c in children), one_axis.stdout
    unknown = analyze("--table", "obs/nope")
    assert unknown.returncode == 2 and "no finished trial logged 'obs/nope'; they log: " in unknown.stderr
    assert "obs/energy" in unknown.stderr, unknown.stderr


@pytest.mark.slow  # a sweep and a re-analysis through the CLI, about a minute: the default tier keeps ~10 min
def test_analyze_command_reproduces_the_automatic_numbers(run_cli, workdir: Path):
    out = run_cli("-m", *MC_TINY, "data.L=4,6", "data.temperature=range(1.8,3.01,0.2)", cwd=workdir)
    assert out.returncode == 0, out.stdout + out.stderr
    automatic = parent_json(workdir, "transitions.json")
    methods = {e["method"] for e in automatic["estimates"]}
    assert {"peak", "steepest", "binder"} <= methods, automatic
    client = store(workdir)
    parents, _ = runs_of(client)
    parent = parents[0]
    metrics = parent.data.metrics
    assert any(k.startswith("transition/temperature/binder/binder") for k in metrics), sorted(metrics)

    import subprocess
    import sys

    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.analyze",
            parent.info.run_id,
            "--tracking-uri",
            f"sqlite:///{workdir / 'mlflow.db'}",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert parent_json(workdir, "transitions.json") == automatic
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert {"plots/sweep_temperature.png", "plots/binder_temperature.png"} <= plots
    assert any(p.startswith("plots/phase_") for p in plots), "two swept axes give a phase diagram"
    assert "plots/summary.png" in plots, "one figure to look at first"

    # the parent's description (its Overview tab): command, grid, counts, every estimate with its CI
    note = client.get_run(parent.info.run_id).data.tags["mlflow.note.content"]
    assert "phasesweep -m experiment=ising_mc" in note and "| `data.L` | 4, 6 |" in note
    n = len(runs_of(client)[1])
    assert f"{n} trials, {n} finished" in note
    estimates_section = note.split("### Transition estimates", 1)[1]
    for e in automatic["estimates"]:
        assert f"**{e['location']:.4g}** (95% CI {e['ci_low']:.4g} to {e['ci_high']:.4g})" in estimates_section
    # the results as an MLflow table: one row per trial, the same values as sweep_results.json
    rows = parent_json(workdir, "sweep_results.json")
    logged = parent_json(workdir, "sweep_results_table.json")
    assert len(logged["data"]) == len(rows) == n
    column = logged["columns"].index("obs/energy")
    by_run = {r["run_id"]: r["obs/energy"] for r in rows}
    run_column = logged["columns"].index("run_id")
    assert {row[run_column]: row[column] for row in logged["data"]} == pytest.approx(by_run, rel=1e-9)  # 10 digits

    table = subprocess.run(
        [sys.executable, "-m", "pipelines.analyze", parent.info.run_id, "--table", "obs/energy"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"},
    )
    assert table.returncode == 0, table.stderr
    _, children = runs_of(client)
    child = next(
        c for c in children if c.data.params["data.L"] == "6" and float(c.data.params["data.temperature"]) > 2.9
    )
    assert f"{child.data.metrics['obs/energy']:.4g}" in table.stdout, table.stdout
    assert parent_json(workdir, "transitions.json") == automatic, "a table is read-only"
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.analyze",
            parent.info.run_id,
            "--table",
            "obs/energy",
            "--rows",
            "model.width",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"},
    )
    assert bad.returncode == 2 and "'model.width' is not a swept axis" in bad.stderr, bad.stderr


def test_watching_a_missing_observable_fails_the_trial(run_cli, workdir: Path):
    out = run_cli("experiment=rbm_ising", "analysis.watch=[obs/nope]", *TINY, cwd=workdir)
    assert out.returncode == 1
    run = store(workdir).search_runs([e.experiment_id for e in store(workdir).search_experiments()])[0]
    assert run.info.status == "FAILED"
    assert "obs/nope" in run.data.tags["phasesweep.error"]


def test_change_points_of_watched_observables_are_logged(run_cli, workdir: Path):
    out = run_cli("experiment=rbm_ising", *TINY, "train.steps=60", cwd=workdir)
    assert out.returncode == 0, out.stdout + out.stderr
    client = store(workdir)
    run = client.search_runs([e.experiment_id for e in client.search_experiments()])[0]
    events = json.loads(
        Path(client.download_artifacts(run.info.run_id, "change_points.json", str(workdir))).read_text()
    )
    assert set(events) == {"train/recon_error", "obs/model_abs_magnetization"}
    summary = run.data.tags["phasesweep.cp.train/recon_error"]
    assert summary.startswith(f"count={len(events['train/recon_error'])}")
    assert not any(k.startswith("cp/") for k in run.data.metrics), "no single-point charts on the metric page"
    note = run.data.tags["mlflow.note.content"]
    assert note.startswith("**Finished** after 60 steps") and "abs_magnetization: model " in note


def test_pivot_pools_replicas_into_mean_and_standard_error():
    from scipy import stats

    from pipelines.sweepdata import Sweep, Trial, pivot

    axes = {"data.temperature": ["1.8", "3.0"], "model.width": ["4", "16"], "seed": ["0", "1", "2"]}
    rng = np.random.default_rng(3)
    sweep = Sweep("p", "s", axes)
    values: dict[tuple[str, str], list[float]] = {}
    for T in axes["data.temperature"]:
        for w in axes["model.width"]:
            for seed in axes["seed"]:
                v = float(rng.normal())
                values.setdefault((T, w), []).append(v)
                sweep.trials.append(
                    Trial(
                        f"{T}{w}{seed}",
                        {"data.temperature": T, "model.width": w, "seed": seed},
                        "finished",
                        {"obs/x": v},
                    )
                )
    sweep.trials.append(
        Trial("f", {"data.temperature": "1.8", "model.width": "4", "seed": "9"}, "failed", {"obs/x": 1e9})
    )
    cells = pivot(sweep, "obs/x", "data.temperature", "model.width")
    for key, vals in values.items():
        mean, sem, n = cells[key]
        assert n == 3 and mean == pytest.approx(np.mean(vals)) and sem == pytest.approx(stats.sem(vals))
    with pytest.raises(ValueError, match="no finished trial logged 'obs/y'"):
        pivot(sweep, "obs/y", "data.temperature", "model.width")


def test_a_logged_float_takes_the_spelling_of_the_swept_value_it_equals():
    """The params hold the resolved config (`1.0`), the axis the command line's `1`: without this match the
    analysis found no trial at η·λ₀ = 1 for the estimates along the width."""
    from pipelines.sweepdata import _as_swept, _spellings

    axis = _spellings(["0.5", "1", "2", "1e-3"])
    assert _as_swept("1.0", axis) == "1"
    assert _as_swept("2", axis) == "2"
    assert _as_swept("0.001", axis) == "1e-3"
    assert _as_swept("3.0", axis) == "3.0"  # not swept: left as logged
    assert _as_swept("sgd", _spellings(["sgd", "adam"])) == "sgd"
