"""Adaptive sweeps (`pipelines.adaptive`, `hydra/sweeper=adaptive`): where the rounds put their values,
the fitted Binder crossing they rely on, bad input refused before anything starts, and a real sweep on
Ray and MLflow that is stopped after two rounds and continued at the third without running a trial twice.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from models.transitions import TransitionEstimate, binder_crossing
from models.transitions.fits import fitted_root
from pipelines.adaptive_settings import Axis, parse_settings
from pipelines.validate import ConfigError

GOOD = {"axis": "data.alpha", "bounds": [0.04, 0.25], "estimator": "steepest:obs/overlap", "target": 0.01}


def estimate(location: float, low: float, high: float) -> TransitionEstimate:
    return TransitionEstimate("steepest_change", location, low, high, 100)


def test_values_gather_inside_the_interval_and_never_repeat():
    axis = Axis(1.8, 3.0, 0.002)
    taken = [1.8, 2.1, 2.4, 2.7, 3.0]
    new = axis.propose(taken, estimate(2.27, 2.24, 2.30), 6, target=0.01)
    assert len(new) == 6 and len(set(new)) == 6 and not set(new) & set(taken)
    assert all(2.2 <= v <= 2.34 for v in new)  # within μ ± 2.4σ, σ = the half-width 0.03
    assert all(abs(v / 0.002 - round(v / 0.002)) < 1e-6 for v in (x - 1.8 for x in new))  # on the step grid
    again = axis.propose([*taken, *new], estimate(2.27, 2.24, 2.30), 6, target=0.01)
    assert not set(again) & set(new)


def test_a_narrow_interval_spreads_over_the_target_not_one_value():
    axis = Axis(1.8, 3.0, 0.002)
    new = axis.propose([1.8, 3.0], estimate(2.27, 2.2699, 2.2701), 3, target=0.01)
    assert len(set(new)) == 3 and max(new) - min(new) >= 0.01


def test_without_an_estimate_the_widest_gaps_are_halved():
    axis = Axis(0.0, 1.0, 0.01)
    assert axis.propose([0.0, 0.2, 1.0], None, 2, target=0.05) == [0.4, 0.6]
    assert axis.propose([0.0, 0.2, 1.0], None, 1, target=0.05) == [0.6]


def test_integer_and_log_axes_give_values_as_their_params_read():
    width = Axis(16, 4096, 1.0, log=True, integer=True)
    new = width.propose([16, 128, 1024, 4096], estimate(200, 180, 220), 4, target=5)
    assert all(v == int(v) for v in new) and all(150 < v < 260 for v in new)
    assert width.text(200.0) == "200"
    lr = Axis(1e-3, 1.0, 0.01, log=True)
    assert lr.initial(4) == [0.001, 0.01, 0.1, 1.0]
    assert lr.text(0.0123456) == "0.01235"


def test_a_full_axis_gives_fewer_values():
    axis = Axis(0.0, 0.02, 0.01)
    assert axis.propose([0.0, 0.02], estimate(0.01, 0.0, 0.02), 3, target=0.01) == [0.01]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"bounds": [0.25, 0.04]}, "low must be below high"),
        ({"estimator": "median:obs/overlap"}, "use binder, peak:<observable>, steepest:<observable> or"),
        ({"estimator": "binder:obs/x"}, "use binder"),
        ({"target": 0}, "must be > 0"),
        ({"target": -0.1}, "must be > 0"),
        ({"axis": ""}, "axis is not set"),
        ({"initial": 2}, ">= 3 values"),
        ({"batch": 0}, "trials per round must be >= 1"),
        ({"bounds": [0.0, 1.0], "log": True}, "needs low > 0"),
    ],
)
def test_bad_settings_are_one_line_naming_the_key(change, message):
    with pytest.raises(ConfigError) as err:
        parse_settings(GOOD | change)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_fitted_crossing_is_exact_for_lines_and_narrows_with_points():
    x = np.linspace(2.0, 2.6, 13)
    d = 0.7 * (x - 2.269)[None, :]
    assert fitted_root(x, d, 2.3, 0.15, degree=1)[0] == pytest.approx(2.269, abs=1e-12)
    assert fitted_root(x, d + 0.3 * (x - 2.269) ** 2, 2.3, 0.15)[0] == pytest.approx(2.269, abs=1e-9)

    rng = np.random.default_rng(0)

    def half_width(n: int) -> float:
        grid = np.linspace(1.8, 3.0, n)
        curves = {
            L: (0.6 - 0.4 * np.tanh((grid - 2.269) * L / 8))[:, None] + 0.005 * rng.standard_normal((n, 3))
            for L in (8, 16)
        }
        e = binder_crossing(grid, curves, interpolation="fit", window=0.12, rng=1)
        assert abs(e.location - 2.269) < 3 * (e.ci_high - e.ci_low)
        return (e.ci_high - e.ci_low) / 2

    assert half_width(97) < 0.6 * half_width(13)  # 8× the points near the crossing: ~1/√8 of the width


def test_a_window_with_too_few_points_falls_back_to_the_cubic():
    grid = np.linspace(1.8, 3.0, 5)  # one point within ± 0.06 of the crossing
    curves = {L: (0.6 - 0.4 * np.tanh((grid - 2.269) * L / 8))[:, None] + np.zeros((5, 3)) for L in (8, 16)}
    fitted = binder_crossing(grid, curves, interpolation="fit", window=0.06, rng=1)
    cubic = binder_crossing(grid, curves, interpolation="cubic", rng=1)
    assert fitted.location == cubic.location
    assert fitted.details["fit_points"]["8-16"].startswith("cubic")


# ---- the command line: bad input, and a real sweep stopped and continued ---------------------------------

SMALL = [
    "+sweep=hopfield_capacity_adaptive",
    "model.width=120",
    "train.networks=4",
    "train.steps=10",
    "seed=0,1",
    "hydra.sweeper.target=0.0001",
    "hydra.sweeper.initial=5",
]


def phasesweep(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    exe = Path(sys.executable).parent / "phasesweep"
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    "override, message",
    [
        ("hydra.sweeper.bounds=[0.25,0.04]", "low must be below high"),
        ("hydra.sweeper.estimator=median:obs/overlap", "use binder, peak:<observable>"),
        ("hydra.sweeper.budget=5", "smaller than the first round's"),
        ("hydra.sweeper.target=0", "must be > 0"),
        ("hydra.sweeper.axis=model.family", "not a numeric key"),
        ("hydra.sweeper.estimator=binder", "sets no analysis.binder"),
    ],
)
def test_bad_adaptive_input_is_one_line_before_anything_starts(tmp_path, override, message):
    done = phasesweep(["+sweep=hopfield_capacity_adaptive", override], tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "mlflow.db").exists()


def children(db: Path):
    from mlflow.tracking import MlflowClient

    from workers import tracking

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment = client.get_experiment_by_name("hopfield_capacity")
    parents = client.search_runs([experiment.experiment_id], "tags.`phasesweep.kind` = 'sweep'")
    assert len(parents) == 1
    parent = parents[0]
    return client, parent, list(tracking.child_runs(client, experiment.experiment_id, parent.info.run_id))


@pytest.mark.slow
def test_a_sweep_stopped_after_two_rounds_continues_at_the_third(tmp_path):
    first = phasesweep([*SMALL, "hydra.sweeper.max_rounds=2", "hydra.sweeper.budget=30"], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "adaptive round 2" in first.stdout and "max_rounds=2 reached" in first.stdout
    _, parent, runs = children(tmp_path / "mlflow.db")
    assert Counter(r.data.tags["phasesweep.round"] for r in runs) == {"1": 10, "2": 2}

    second = phasesweep([*SMALL, "hydra.sweeper.budget=16"], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "continuing: rounds 1-2" in second.stdout
    assert "round 1: skipped 10" in second.stdout and "adaptive round 3" in second.stdout
    assert "budget spent" in second.stdout or "target reached" in second.stdout
    client, parent, runs = children(tmp_path / "mlflow.db")
    keys = Counter(r.data.tags["phasesweep.trial_key"] for r in runs)
    assert max(keys.values()) == 1  # no trial ran twice
    assert len(runs) == 16 and {r.info.status for r in runs} == {"FINISHED"}
    rounds = Counter(r.data.tags["phasesweep.round"] for r in runs)
    assert rounds == {"1": 10, "2": 2, "3": 2, "4": 2}
    steps = [m.step for m in client.get_metric_history(parent.info.run_id, "adaptive/trials")]
    assert steps == [1, 2, 3, 4]  # each round's estimate logged once, at step = round
    widths = client.get_metric_history(parent.info.run_id, "adaptive/half_width")
    assert all(math.isfinite(m.value) for m in widths)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "plots/adaptive_alpha.png" in artifacts
    assert "phasesweep.adaptive.stop" in client.get_run(parent.info.run_id).data.tags


@pytest.mark.slow
def test_the_adaptive_binder_sweep_finds_onsagers_critical_temperature(tmp_path):
    """`+sweep=ising_tc_adaptive` with shorter chains (so a looser target): the located crossing of L = 8
    and 16 lies within 0.02 of T_c = 2/ln(1 + √2) = 2.26919 (Onsager 1944)."""
    done = phasesweep(
        [
            "+sweep=ising_tc_adaptive",
            "train.steps=400",
            "train.chains=48",
            "hydra.sweeper.target=0.015",
            "hydra.sweeper.budget=120",
            "sweep_name=tc",
        ],
        tmp_path,
        timeout=1500,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "target reached" in done.stdout, done.stdout[-2000:]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    parent = client.search_runs(
        [client.get_experiment_by_name("ising_mc").experiment_id], "tags.`phasesweep.kind` = 'sweep'"
    )
    history = client.get_metric_history(parent[0].info.run_id, "adaptive/location")
    location = history[-1].value
    assert abs(location - 2.269185) < 0.02, (location, [m.value for m in history])
    widths = client.get_metric_history(parent[0].info.run_id, "adaptive/half_width")
    assert widths[-1].value <= 0.015
