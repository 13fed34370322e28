"""Issue 17: transitions along the learning rate and the width, against the thresholds theory gives.

In process: the catapult family's three regimes, resume, and the random-features readout trained by GD
converging to the minimum-norm solution. Analysis: log-spaced axes are fitted in log space, and theory's
marks are read back from the trials. In the slow tier, on real parts (the CLI, Ray, MLflow): the
double-descent peak at p = n_train, and the catapult and edge-of-stability sweeps meet the issue's acceptance.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pipelines.sweepdata import Sweep, Trial, log_scaled, theory_marks
from tests.conftest import cli
from tests.test_analysis_integration import parent_json
from tests.test_sweep_integration import artifact_paths, runs_of, store
from workers.families.base import TeacherDataConfig
from workers.families.fullbatch.config import GDTrainConfig, MLPModelConfig
from workers.families.fullbatch.family import FullBatchFamily
from workers.families.random_features.config import RandomFeaturesModelConfig, ReadoutTrainConfig
from workers.families.random_features.family import RandomFeaturesFamily

CPU = torch.device("cpu")


def catapult(lr_scaled: float, steps: int = 300, seed: int = 0, width: int = 256) -> FullBatchFamily:
    spec = SimpleNamespace(
        seed=seed,
        model=MLPModelConfig(width=width),
        data=TeacherDataConfig(n_train=32, dim=8, n_test=50),
        train=GDTrainConfig(lr_scaled=lr_scaled, steps=steps, sharpness_every=25, observe_every=100),
        sampler=None,
    )
    return FullBatchFamily(spec, CPU)


def train(family, start: int = 0, stop: int | None = None) -> dict[str, float]:
    stop = family.cfg.steps if stop is None else stop
    for step in range(start, stop):
        family.step(step)
    return family.observe(stop - 1)


def test_the_step_is_set_in_units_of_the_initial_ntk_eigenvalue():
    family = catapult(3.0, steps=1)
    assert family.eta * family.lambda0 == pytest.approx(3.0, rel=1e-12)
    assert family.observe(0)["theory/train.lr_scaled"] == 2.0


def test_catapult_regimes_below_between_and_beyond_the_thresholds():
    lazy, cat, div = (train(catapult(x)) for x in (1.0, 3.0, 20.0))
    # lazy: the loss never rises and the kernel barely moves; η·λ_end/2 stays η·λ₀/2 = 0.5
    assert lazy["obs/outcome"] == 0 and lazy["obs/log_peak_loss_ratio"] == 0.0
    assert lazy["obs/ntk_ratio"] == pytest.approx(1.0, abs=0.02)
    assert lazy["obs/edge_ratio"] == pytest.approx(0.5, abs=0.01)
    # catapult: the loss spikes, then the curvature ends below the stability edge 2/η
    assert cat["obs/outcome"] == 1 and cat["obs/log_peak_loss_ratio"] > 0.3
    assert cat["obs/edge_ratio"] < 1.0 and cat["obs/ntk_ratio"] < 2 / 3
    assert cat["obs/loss"] < 1e-3
    # divergent: training stops, the outcome is recorded, no curvature is claimed
    assert div["obs/outcome"] == 2 and div["obs/diverged"] == 1.0 and "obs/edge_ratio" not in div


def test_a_resumed_catapult_trial_is_bit_identical_to_an_uninterrupted_one():
    whole = train(catapult(3.0, steps=120))
    first = catapult(3.0, steps=120)
    train(first, 0, 60)  # observes at the end too: an observation must not move the trial's RNG
    state = first.state_dict()
    again = catapult(3.0, steps=120)
    again.load_state_dict(state)
    assert train(again, 60) == whole


def readout(width: int, solver: str, steps: int = 1, lr_scaled: float | None = None) -> RandomFeaturesFamily:
    spec = SimpleNamespace(
        seed=0,
        model=RandomFeaturesModelConfig(width=width, solver=solver),
        data=TeacherDataConfig(n_train=20, dim=5, n_test=100, label_noise=0.1),
        train=ReadoutTrainConfig(steps=steps, lr_scaled=lr_scaled),
        sampler=None,
    )
    return RandomFeaturesFamily(spec, CPU)


def test_gradient_descent_on_the_readout_converges_to_the_minimum_norm_fit():
    exact = readout(60, "lstsq")
    exact.step(0)
    descent = readout(60, "gd", steps=20000, lr_scaled=1.0)
    for step in range(descent.cfg.steps):
        descent.step(step)
    torch.testing.assert_close(descent.coef, exact.coef, rtol=1e-4, atol=1e-6)
    obs = exact.observe(0)
    assert obs["obs/train_mse"] < 1e-20  # p > n interpolates
    assert obs["theory/model.width"] == 20.0
    assert obs["obs/log10_test_mse"] == pytest.approx(math.log10(obs["obs/test_mse"]))


def _sweep(axes: dict[str, list[str]], analysis=None, trials=()) -> Sweep:
    return Sweep("p", "x", axes, analysis or {}, list(trials))


def test_log_spaced_axes_are_recognised_and_the_config_overrides():
    assert log_scaled(_sweep({"train.lr": ["1e-3", "3e-3", "1e-2", "3e-2"]}), "train.lr")
    assert log_scaled(_sweep({"model.width": ["16", "32", "64", "128", "256"]}), "model.width")
    assert not log_scaled(_sweep({"data.temperature": ["1.6", "1.8", "2.0", "2.2"]}), "data.temperature")
    assert not log_scaled(_sweep({"model.width": ["10", "40", "70", "100"]}), "model.width")  # linear steps
    assert not log_scaled(_sweep({"x": ["-1", "1", "10", "100"]}), "x")
    listed = {"log_axes": ["data.temperature"]}
    assert log_scaled(_sweep({"data.temperature": ["1.6", "1.8", "2.0"]}, listed), "data.temperature")
    assert not log_scaled(_sweep({"train.lr": ["1e-3", "1e-2", "1e-1"]}, listed), "train.lr")


def test_estimates_along_a_log_axis_are_fitted_in_log_space():
    """A tanh step in ln x centred at x = 2 is located at 2 exactly in log space; a fit in x would put
    the centre elsewhere, since the curve is not a tanh in x."""
    from pipelines.analyze import estimate_transitions

    xs = np.geomspace(0.25, 16, 13)
    trials = [
        Trial(
            f"r{i}{s}",
            {"train.lr_scaled": f"{x:.6g}", "seed": str(s)},
            "finished",
            {"obs/m": math.tanh((math.log(x) - math.log(2)) / 0.4) + 1e-3 * (s - 1)},
        )
        for i, x in enumerate(xs)
        for s in range(3)
    ]
    sweep = _sweep(
        {"train.lr_scaled": [f"{x:.6g}" for x in xs], "seed": ["0", "1", "2"]},
        {"steepest": ["obs/m"], "n_boot": 100},
        trials,
    )
    [est], notes = estimate_transitions(sweep)
    assert not notes
    assert est["details"]["scale"] == "log"
    assert est["location"] == pytest.approx(2.0, rel=1e-3)
    assert est["ci_low"] <= est["location"] <= est["ci_high"]
    assert est["details"]["width"] == pytest.approx(0.4, rel=1e-3)  # in ln units


def test_theory_marks_are_read_from_the_matching_trials():
    trials = [
        Trial("a", {"model.width": "50", "data.n_train": "100"}, "finished", {"theory/model.width": 100.0}),
        Trial("b", {"model.width": "50", "data.n_train": "200"}, "finished", {"theory/model.width": 200.0}),
        Trial("c", {"model.width": "80", "data.n_train": "200"}, "finished", {"theory/model.width/other": 7.0}),
    ]
    sweep = _sweep({"model.width": ["50", "80"], "data.n_train": ["100", "200"]}, trials=trials)
    assert theory_marks(sweep, "model.width", {"data.n_train": "100"}) == {"theory": 100.0}
    assert theory_marks(sweep, "model.width", {"data.n_train": "200"}) == {"theory": 200.0, "other": 7.0}
    assert theory_marks(sweep, "data.n_train", {}) == {}


@pytest.mark.slow  # a real sweep of 18 trials; the default tier is near its 10-minute budget
def test_double_descent_peaks_at_the_interpolation_threshold(workdir: Path):
    widths = "30,60,80,90,100,110,125,160,300"
    out = cli("-m", "experiment=width_double_descent", f"model.width={widths}", "seed=0,1", cwd=workdir)
    assert out.returncode == 0, out.stdout + out.stderr
    [est] = [e for e in parent_json(workdir, "transitions.json")["estimates"] if e["axis"] == "model.width"]
    assert est["method"] == "peak" and est["details"]["scale"] == "log"
    assert est["location"] == pytest.approx(100, rel=0.10), est
    assert est["ci_low"] <= est["location"] <= est["ci_high"]
    client = store(workdir)
    [parent], _ = runs_of(client)
    paths = artifact_paths(client, parent.info.run_id)
    assert {"plots/summary.png", "plots/sweep_width.png"} <= set(paths), paths
    note = parent.data.tags["mlflow.note.content"]
    assert f"**{est['location']:.4g}**" in note and "fitted in log space" in note, note


def _estimates(workdir: Path, axis: str, observable: str, method: str) -> dict[str, dict]:
    found = parent_json(workdir, "transitions.json")["estimates"]
    return {
        "/".join(f"{k}={v}" for k, v in e["fixed"].items()): e
        for e in found
        if e["axis"] == axis and e["observable"] == observable and e["method"] == method
    }


@pytest.mark.slow
def test_the_catapult_sweep_locates_eta_lambda0_2_at_both_widths(workdir: Path):
    out = cli("+sweep=lr_catapult", cwd=workdir, timeout=1200)
    assert out.returncode == 0, out.stdout + out.stderr
    peaks = _estimates(workdir, "train.lr_scaled", "obs/edge_ratio", "peak")
    assert set(peaks) == {"model.width=512", "model.width=2048"}, peaks
    for est in peaks.values():
        assert est["location"] == pytest.approx(2.0, abs=0.2), est
        assert est["details"]["scale"] == "log"
    jumps = _estimates(workdir, "train.lr_scaled", "obs/log_peak_loss_ratio", "steepest")
    narrow, wide = jumps["model.width=512"], jumps["model.width=2048"]
    # wider nets spike harder and closer to η·λ₀ = 2: the jump of log10(peak/initial loss) is taller, and
    # the steepest rise sits nearer the threshold (a narrow net's kernel adapts before the loss can spike)
    assert wide["details"]["amplitude"] > narrow["details"]["amplitude"], (narrow, wide)
    assert 2.0 < wide["location"] < narrow["location"], (narrow, wide)
    onsets = _estimates(workdir, "train.lr_scaled", "obs/log_peak_loss_ratio", "onset")
    # the rise starts at the threshold and is steeper past it at the larger width (its slope per ln η·λ₀)
    for est in onsets.values():
        assert 1.7 < est["location"] < 2.1 and est["details"]["diverged_from"] >= 4, est
    assert onsets["model.width=2048"]["details"]["slope"] > onsets["model.width=512"]["details"]["slope"], onsets
    kernels = _estimates(workdir, "train.lr_scaled", "obs/ntk_ratio", "onset")
    # λ_end/λ₀ is 1 in the lazy phase and falls past the threshold (a catapult leaves λ_end ≤ 2/η): its
    # corner is the threshold itself, at both widths
    assert set(kernels) == {"model.width=512", "model.width=2048"}, kernels
    for est in kernels.values():
        assert est["location"] == pytest.approx(2.0, abs=0.2) and est["details"]["slope"] < 0, est
        assert est["ci_low"] <= est["location"] <= est["ci_high"], est
    for est in _estimates(workdir, "train.lr_scaled", "obs/diverged", "steepest").values():
        assert 2.4 < est["location"] < 8 and est["ci_low"] <= est["location"] <= est["ci_high"], est
        assert est["details"]["grid_limited"] and est["ci_high"] > est["ci_low"], est  # a bracket, not a point
    client = store(workdir)
    [parent], _ = runs_of(client)
    assert "plots/outcomes_lr_scaled_width.png" in artifact_paths(client, parent.info.run_id)


@pytest.mark.slow
def test_the_edge_of_stability_hovers_at_2_over_eta(workdir: Path):
    out = cli("+sweep=edge_of_stability", cwd=workdir, timeout=1200)
    assert out.returncode == 0, out.stdout + out.stderr
    client = store(workdir)
    _, children = runs_of(client)
    ratio = {float(r.data.params["train.lr"]): r.data.metrics["obs/sharpness_ratio_median"] for r in children}
    assert len(ratio) == 5
    for eta in (0.08, 0.12, 0.16):  # at the edge of stability
        assert 0.9 <= ratio[eta] <= 1.1, ratio
    assert ratio[0.02] < 0.5, ratio  # still sharpening progressively, far below 2/η
