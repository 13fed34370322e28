"""Tests of change-point detection in one trial's time series.

Synthetic series are piecewise constant with known steps plus Gaussian noise of σ = 1 (or σ = 0.05 on
a training-like step axis); detections must land within 3 points of the truth, and pure noise must give
no change point in at least 45 of 50 seeds for every cost model.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from models.transitions.changepoints import (
    ChangePoint,
    MissingObservableError,
    _logistic,
    _logistic_jacobian,
    detect_all,
    detect_change_points,
    robust_noise_scale,
)


def piecewise(seed: int, n: int, breaks: list[int], levels: list[float], noise: float = 1.0) -> np.ndarray:
    """levels[k] on [breaks[k-1], breaks[k]) plus N(0, noise²)."""
    values = np.empty(n)
    for lo, hi, level in zip([0, *breaks], [*breaks, n], levels, strict=True):
        values[lo:hi] = level
    return values + noise * np.random.default_rng(seed).normal(size=n)


CASES = {
    "one step": ([120], [0.0, 3.0]),
    "two steps": ([100, 220], [0.0, -3.0, 1.0]),
    "three steps": ([60, 150, 240], [0.0, 3.0, 6.5, 2.5]),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("seed", range(5))
def test_known_steps_are_found_within_three_points(case, seed):
    breaks, levels = CASES[case]
    steps = np.arange(300) * 10  # logged every 10 training steps
    events = detect_change_points(steps, piecewise(seed, 300, breaks, levels), observable="obs/m")
    assert [e.index for e in events] == pytest.approx(breaks, abs=3)
    for event, true_jump in zip(events, np.diff(levels), strict=True):
        assert event.step == steps[event.index]
        assert event.jump == pytest.approx(true_jump, abs=0.5)
        assert event.sharpness == pytest.approx(abs(true_jump), rel=0.25)  # |jump| / σ with σ = 1


@pytest.mark.parametrize("seed", range(5))
def test_abrupt_step_is_about_one_logging_interval_wide(seed):
    steps = np.arange(200) * 10.0
    (event,) = detect_change_points(steps, piecewise(seed, 200, [100], [0.0, 10.0]), observable="x")
    assert event.width < 15.0  # the jump happened between two logged steps: not resolved


@pytest.mark.parametrize("model", ["l2", "normal", "rbf"])
def test_every_model_finds_a_clear_step(model):
    values = piecewise(0, 200, [80], [0.0, 4.0])
    events = detect_change_points(np.arange(200), values, observable="x", model=model)
    assert [e.index for e in events] == pytest.approx([80], abs=3)


@pytest.mark.parametrize("model", ["l2", "normal", "rbf"])
def test_pure_noise_rarely_gives_change_points(model):
    false_alarms = sum(
        bool(detect_change_points(np.arange(200), piecewise(seed, 200, [], [0.0]), observable="x", model=model))
        for seed in range(50)
    )
    assert false_alarms <= 5, f"{model}: change points on pure noise in {false_alarms}/50 seeds"


def test_short_noise_series_rarely_gives_change_points():
    false_alarms = sum(
        bool(detect_change_points(np.arange(40), piecewise(seed, 40, [], [0.0]), observable="x")) for seed in range(50)
    )
    assert false_alarms <= 5


def test_scale_of_the_observable_does_not_matter():
    values = piecewise(3, 200, [90], [0.0, 3.0])
    small = detect_change_points(np.arange(200), 1e-4 * values, observable="x")
    large = detect_change_points(np.arange(200), 1e4 * values + 7, observable="x")
    assert [e.index for e in small] == [e.index for e in large] == pytest.approx([90], abs=3)
    assert small[0].sharpness == pytest.approx(large[0].sharpness)


def test_gradual_change_reports_its_width():
    steps = np.arange(400, dtype=float)
    ramp = 1.0 / (1.0 + np.exp(-(steps - 200.0) / 8.0))  # 10 %→90 % width 2 ln 9 · 8 ≈ 35 steps
    values = ramp + 0.02 * np.random.default_rng(0).normal(size=steps.size)
    events = detect_change_points(steps, values, observable="x")  # the staircase is merged into one event,
    assert len(events) <= 2  # perhaps with a small leftover step in a tail
    ramp_event = max(events, key=lambda e: abs(e.jump))
    assert ramp_event.width == pytest.approx(2 * math.log(9) * 8, rel=0.3)
    assert ramp_event.jump == pytest.approx(1.0, abs=0.05)
    assert 185 <= ramp_event.index <= 215
    staircase = detect_change_points(steps, values, observable="x", merge_gap=0, max_events=None)
    assert len(staircase) > 3 and all(e.jump > 0 for e in staircase)


@pytest.mark.parametrize("params", [(0.3, 1.5, 40.0, math.log(8.0)), (-2.0, -0.7, 55.0, math.log(0.5))])
def test_the_step_fit_jacobian_is_the_derivative_of_the_step(params):
    """The analytic ∂/∂(a, b, c, ln s) the width fit uses, against central differences of the step."""
    t = np.linspace(0.0, 100.0, 201)
    exact = _logistic_jacobian(t, *params)
    for k in range(4):
        h = 1e-6 * max(1.0, abs(params[k]))
        up, down = list(params), list(params)
        up[k] += h
        down[k] -= h
        numeric = (_logistic(t, *up) - _logistic(t, *down)) / (2 * h)
        np.testing.assert_allclose(exact[:, k], numeric, rtol=1e-6, atol=1e-8)


def test_survivors_of_max_events_are_described_between_their_surviving_neighbours():
    """With `max_events`, each surviving event is described over the segments between it and the
    surviving neighbours, not over those it had before the weak events between them were merged away."""
    levels = [0.0, 4.0, 4.6, 9.0, 9.5, 15.0]
    values = piecewise(3, 600, [100, 200, 300, 400, 500], levels, noise=0.5)
    steps = np.arange(600, dtype=float)
    all_events = detect_change_points(steps, values, observable="x", merge_gap=0, max_events=None)
    kept = detect_change_points(steps, values, observable="x", merge_gap=0, max_events=3)
    assert len(all_events) > 3 and len(kept) == 3
    big = sorted(all_events, key=lambda e: -e.sharpness)[:3]
    assert sorted(e.step for e in kept) == sorted(e.step for e in big)
    bounds = [0, *sorted(e.index for e in kept), 600]  # each survivor now sits between its neighbours
    for k, event in enumerate(sorted(kept, key=lambda e: e.index), start=1):
        assert abs(event.jump) > 3.0  # the three large steps survive, the 0.5-0.6 ones were merged away
        assert event.before == pytest.approx(values[bounds[k - 1] : bounds[k]].mean(), rel=1e-12)
        assert event.after == pytest.approx(values[bounds[k] : bounds[k + 1]].mean(), rel=1e-12)


def test_nan_values_are_dropped_and_steps_sorted():
    values = piecewise(1, 200, [100], [0.0, 3.0])
    steps = np.arange(200) * 5.0
    values[[10, 50, 150]] = np.nan
    order = np.random.default_rng(0).permutation(200)
    events = detect_change_points(steps[order], values[order], observable="x")
    assert len(events) == 1
    assert events[0].step == pytest.approx(500.0, abs=15.0)


def test_max_events_keeps_the_strongest():
    values = piecewise(2, 300, [100, 200], [0.0, 1.5, 6.0])
    events = detect_change_points(np.arange(300), values, observable="x", max_events=1)
    assert len(events) == 1
    assert events[0].index == pytest.approx(200, abs=3)
    assert events[0].before == pytest.approx(0.75, abs=0.3)  # the merged segment [0, 200)


def test_higher_penalty_finds_fewer():
    values = piecewise(4, 300, [100, 200], [0.0, 1.0, 5.0])
    default = detect_change_points(np.arange(300), values, observable="x")
    strict = detect_change_points(np.arange(300), values, observable="x", penalty=200.0)
    assert len(strict) < len(default) == 2


def test_short_or_constant_series_give_no_events():
    assert detect_change_points(np.arange(7), [0, 0, 0, 5, 5, 5, 5], observable="x") == []
    assert detect_change_points(np.arange(50), np.ones(50), observable="x") == []


def test_to_dict_is_strict_json():
    event = detect_change_points(np.arange(200), piecewise(0, 200, [80], [0.0, 4.0]), observable="obs/m")[0]
    payload = json.loads(json.dumps(event.to_dict(), allow_nan=False))
    assert payload["observable"] == "obs/m" and payload["index"] == event.index
    nan_width = ChangePoint("x", 1.0, 1, 0.0, 1.0, 1.0, 2.0, math.nan)
    assert nan_width.to_dict()["width"] is None


def test_robust_noise_scale_ignores_jumps():
    values = piecewise(0, 1000, [300, 600], [0.0, 50.0, -50.0], noise=2.0)
    assert robust_noise_scale(values) == pytest.approx(2.0, rel=0.1)


def test_detect_all_watches_named_series():
    series = {
        "obs/m": (np.arange(200), piecewise(0, 200, [80], [0.0, 4.0])),
        "train/loss": (np.arange(200), piecewise(1, 200, [], [1.0])),
        "obs/e": (np.arange(5), np.arange(5.0)),
    }
    found = detect_all(series, ["obs/m", "train/loss"])
    assert set(found) == {"obs/m", "train/loss"}
    assert len(found["obs/m"]) == 1 and found["obs/m"][0].observable == "obs/m"
    assert found["train/loss"] == []
    assert detect_all(series)["obs/e"] == []  # too short: no events, no error


def test_missing_observable_names_it_and_the_available_ones():
    series = {"obs/m": (np.arange(20), np.zeros(20)), "train/loss": (np.arange(20), np.zeros(20))}
    with pytest.raises(MissingObservableError) as info:
        detect_all(series, ["obs/m", "obs/susceptibility"])
    message = str(info.value)
    assert "'obs/susceptibility' not found" in message
    assert "available: 'obs/m', 'train/loss'" in message
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"model must be one of 'l2', 'normal', 'rbf', got 'ar'"):
        detect_change_points(np.arange(20), np.zeros(20), observable="x", model="ar")
    with pytest.raises(ValueError, match=r"steps and values of 'obs/m' must have the same length, got 3 and 2"):
        detect_change_points([1, 2, 3], [1.0, 2.0], observable="obs/m")
