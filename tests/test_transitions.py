"""Tests of the transition locators: exactness on noiseless curves, CI coverage on noisy ones, errors.

Coverage tests draw 50 seeded synthetic sweeps (4 replicas per point, 21 points) around a known
location x₀ = 2.27 and count how often the 95 % interval contains x₀; the nominal rate is 47.5 / 50 and
the test asks for at least 45 / 50. The `slow` tier repeats this with 300 sweeps and 3 or 5 replicas.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from models.transitions import (
    NoCrossingError,
    TooFewPointsError,
    aggregate_replicas,
    binder_crossing,
    onset_location,
    peak_location,
    steepest_change,
)

X0 = 2.27
X = np.round(np.arange(1.8, 2.80001, 0.05), 3)


def lorentzian_sweep(seed: int, replicas: int = 4, noise: float = 0.05) -> np.ndarray:
    """χ(x) = 0.1 + 1 / (1 + ((x − x₀)/0.15)²) plus Gaussian noise; shape (n_x, replicas)."""
    mean = 0.1 + 1.0 / (1.0 + ((X - X0) / 0.15) ** 2)
    return mean[:, None] + noise * np.random.default_rng(seed).normal(size=(X.size, replicas))


def tanh_sweep(seed: int, replicas: int = 4, noise: float = 0.05) -> np.ndarray:
    """m(x) = 0.5 − 0.4·tanh((x − x₀)/0.12) plus Gaussian noise."""
    mean = 0.5 - 0.4 * np.tanh((X - X0) / 0.12)
    return mean[:, None] + noise * np.random.default_rng(seed).normal(size=(X.size, replicas))


def binder_sweep(seed: int, replicas: int = 4, noise: float = 0.02) -> dict[int, np.ndarray]:
    """U_L(x) = g((x − x₀)·L^{1/ν}/2) with ν = 1 and g(s) = (1 − tanh s)/3: all sizes cross at x₀."""
    rng = np.random.default_rng(seed)
    curves = {}
    for L in (8, 16, 32):
        mean = (1.0 - np.tanh((X - X0) * L / 2)) / 3.0
        curves[L] = mean[:, None] + noise * rng.normal(size=(X.size, replicas))
    return curves


ESTIMATORS = {
    "peak_location": lambda seed, r: peak_location(X, lorentzian_sweep(seed, r), n_boot=400, rng=seed),
    "steepest_change": lambda seed, r: steepest_change(X, tanh_sweep(seed, r), n_boot=400, rng=seed),
    "binder_crossing": lambda seed, r: binder_crossing(X, binder_sweep(seed, r), n_boot=400, rng=seed),
    "binder_crossing_mean": lambda seed, r: binder_crossing(
        X, binder_sweep(seed, r), combine="mean", n_boot=400, rng=seed
    ),
}


def coverage(name: str, seeds: range, replicas: int) -> int:
    hits = 0
    for seed in seeds:
        est = ESTIMATORS[name](seed, replicas)
        hits += est.ci_low <= X0 <= est.ci_high
    return hits


# ------------------------------------------------------------------------ aggregation
def test_aggregate_replicas_hand_example():
    # one value per run, x repeated per run, unsorted, one missing run (NaN)
    x = [2.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
    y = [2.0, 1.0, 4.0, 5.0, 3.0, 6.0, np.nan]
    xs, mean, se, n = aggregate_replicas(x, y)
    np.testing.assert_array_equal(xs, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(mean, [2.0, 4.0, 5.0])
    # x=1: s = √((1+1)/1) = √2, se = √2/√2 = 1;  x=2: s = 2, se = 2/√3;  x=3: one run, no stderr
    np.testing.assert_allclose(se[:2], [1.0, 2.0 / math.sqrt(3.0)])
    assert math.isnan(se[2])
    np.testing.assert_array_equal(n, [2, 3, 1])


def test_aggregate_replicas_accepts_matrix_ragged_and_stderr():
    matrix = aggregate_replicas([1.0, 2.0], [[1.0, 3.0, np.nan], [2.0, 4.0, 6.0]])
    ragged = aggregate_replicas([1.0, 2.0], [[1.0, 3.0], [2.0, 4.0, 6.0]])
    for a, b in zip(matrix, ragged, strict=True):
        np.testing.assert_allclose(a, b)
    _, mean, se, n = aggregate_replicas([1.0, 2.0], [0.5, 0.7], stderr=[0.1, 0.2])
    np.testing.assert_allclose(mean, [0.5, 0.7])
    np.testing.assert_allclose(se, [0.1, 0.2])  # single replicas keep their supplied standard error
    np.testing.assert_array_equal(n, [1, 1])


def test_mismatched_rows_say_how_to_fix():
    with pytest.raises(ValueError, match=r"y has 3 rows but x has 2 values; give y one row of replicas per x"):
        aggregate_replicas([1.0, 2.0], np.ones((3, 2)))


# ------------------------------------------------------------------------ exactness without noise
def test_noiseless_curves_give_the_true_location():
    one = dict(n_boot=0)
    assert steepest_change(X, tanh_sweep(0, 1, noise=0.0), **one).location == pytest.approx(X0, abs=1e-6)
    assert peak_location(X, lorentzian_sweep(0, 1, 0.0), **one).location == pytest.approx(X0, abs=3e-3)
    assert peak_location(X, lorentzian_sweep(0, 1, 0.0), shape="lorentzian", **one).location == pytest.approx(
        X0, abs=5e-4
    )
    gaussian = np.exp(-((X - X0) ** 2) / (2 * 0.1**2))
    assert peak_location(X, gaussian, shape="gaussian", **one).location == pytest.approx(X0, abs=1e-9)
    crossing = binder_crossing(X, binder_sweep(0, 1, noise=0.0), combine="mean", **one)
    assert crossing.location == pytest.approx(X0, abs=1e-3)
    assert all(v == pytest.approx(X0, abs=1e-3) for v in crossing.details["pairs"].values())


def test_tanh_width_is_reported_as_sharpness():
    est = steepest_change(X, tanh_sweep(1, 4, noise=0.01), n_boot=100, rng=1)
    assert est.details["width"] == pytest.approx(0.12, rel=0.1)
    assert est.details["width_ci"][0] < 0.12 < est.details["width_ci"][1]
    assert not est.details["fallback"]


# ------------------------------------------------------------------------ CI coverage
@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_ci_covers_true_location(name):
    hits = coverage(name, range(50), replicas=4)
    assert hits >= 45, f"{name}: 95 % CI contained x0 in {hits}/50 sweeps"


@pytest.mark.slow
@pytest.mark.parametrize("replicas", [3, 5])
@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_ci_coverage_many_sweeps(name, replicas):
    rate = coverage(name, range(1000, 1300), replicas) / 300
    assert rate >= 0.91, f"{name} with {replicas} replicas: coverage {rate:.3f}"


def test_parametric_bootstrap_with_one_replica_and_stderr():
    sigma = 0.025
    hits = 0
    for seed in range(50):
        y = tanh_sweep(seed, replicas=1, noise=sigma)[:, 0]
        est = steepest_change(X, y, stderr=np.full(X.size, sigma), n_boot=400, rng=seed)
        hits += est.ci_low <= X0 <= est.ci_high
    assert hits >= 45, f"parametric bootstrap CI contained x0 in {hits}/50 sweeps"


def test_one_replica_without_stderr_has_no_interval():
    est = peak_location(X, lorentzian_sweep(0, 1), n_boot=50, rng=0)
    assert math.isnan(est.ci_low) and math.isnan(est.ci_high) and est.n_boot == 0
    assert "pass stderr=" in est.details["ci_note"]


def test_seeded_rng_is_reproducible_and_to_dict_is_strict_json():
    a = binder_crossing(X, binder_sweep(3), n_boot=100, rng=7)
    b = binder_crossing(X, binder_sweep(3), n_boot=100, rng=np.random.default_rng(7))
    assert a == b
    payload = json.loads(json.dumps(a.to_dict(), allow_nan=False))
    assert payload["method"] == "binder_crossing" and set(payload["details"]["pairs"]) == {"8-16", "8-32", "16-32"}
    est = peak_location(X, lorentzian_sweep(0, 1), n_boot=10)
    assert est.to_dict()["ci_low"] is None


def test_missing_replicas_are_allowed():
    y = lorentzian_sweep(2, 4)
    y[::3, 1:] = np.nan  # some temperatures have a single seed
    y[5, :] = np.nan  # and one temperature has none
    est = peak_location(X, y, n_boot=200, rng=2)
    assert est.details["n_x"] == X.size - 1
    assert est.ci_low < X0 < est.ci_high


def test_peak_at_the_edge_is_flagged():
    y = np.exp(-X)[:, None] + 0.001 * np.random.default_rng(0).normal(size=(X.size, 3))
    est = peak_location(X, y, n_boot=50, rng=0)
    assert est.details["at_edge"]
    assert X[0] <= est.location <= X[2]


def test_steepest_change_falls_back_when_the_step_is_outside_the_sweep():
    y = 0.5 - 0.4 * np.tanh((X - 3.5) / 0.3)
    est = steepest_change(X, y, n_boot=0)
    assert est.details["fallback"]
    assert est.location == pytest.approx(X[-1] - 0.025)


# ------------------------------------------------------------------------ clear errors
@pytest.mark.parametrize("fn", [peak_location, steepest_change])
def test_too_few_points(fn):
    expected = (
        rf"{fn.__name__} needs >= 4 distinct values of data.temperature with data, got 2; "
        r"sweep more points, e.g. data.temperature='range\(2,2.53125,0.0625\)'"
    )
    with pytest.raises(TooFewPointsError, match=expected):
        fn([2.0, 2.0, 2.5], [1.0, 1.1, 0.5], axis="data.temperature")
    with pytest.raises(TooFewPointsError, match=r"e.g. model.width='range\(4,65,7\)'"):
        fn([4, 64], [1.0, 0.5], axis="model.width")  # the hint spans the values swept, on any axis
    with pytest.raises(TooFewPointsError, match=r"e.g. train.lr=a,b,c,d \(4 or more values"):
        fn([0.01], [1.0], axis="train.lr")
    with pytest.raises(TooFewPointsError, match=r"the swept axis with data, got 3"):
        fn([2.0, 2.1, 2.2, 2.3], [1.0, 1.1, 0.5, np.nan])  # a point without data does not count


def test_binder_needs_two_sizes_and_three_points():
    with pytest.raises(TooFewPointsError, match=r"binder_crossing needs >= 2 system sizes, got 1 \(\[16\]\)"):
        binder_crossing(X, {16: binder_sweep(0)[16]})
    short = {8: [0.6, 0.3], 16: [0.65, 0.2]}
    with pytest.raises(TooFewPointsError, match=r"binder_crossing for L=8 and L=16 needs >= 3 distinct values"):
        binder_crossing([2.2, 2.3], short)


def test_binder_without_crossing_says_so():
    curves = {8: np.full(X.size, 0.3), 16: np.full(X.size, 0.5)}
    with pytest.raises(NoCrossingError, match=r"U_16 - U_8 keeps the sign \+ over T in \[1.8, 2.8\]"):
        binder_crossing(X, curves, axis="T", n_boot=10)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match=r"shape must be one of 'parabola', 'gaussian', 'lorentzian', got 'cubic'"):
        peak_location(X, lorentzian_sweep(0), shape="cubic")
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\), got 95"):
        steepest_change(X, tanh_sweep(0), level=95, n_boot=10)
    with pytest.raises(ValueError, match=r"combine must be one of 'largest', 'mean', got 'all'"):
        binder_crossing(X, binder_sweep(0), combine="all")


# ------------------------------------------------------------------------ onset (rounded hinge)
def hinge_sweep(seed: int, w: float = 0.06, s: float = 2.0, noise: float = 0.02, replicas: int = 4) -> np.ndarray:
    """y(x) = 0.3 + s·w·softplus((x − x₀)/w) plus Gaussian noise: flat, then slope s past x₀ = 2.27."""
    mean = 0.3 + s * w * np.logaddexp(0.0, (X - X0) / w)
    return mean[:, None] + noise * np.random.default_rng(seed).normal(size=(X.size, replicas))


def test_onset_recovers_the_corner_slope_and_rounding_within_their_intervals():
    hits = slope_hits = width_hits = 0
    for seed in range(12):
        est = onset_location(X, hinge_sweep(seed), n_boot=100, rng=seed)
        assert est.method == "onset_location" and est.details["p_flat"] < 1e-6 and est.details["p_line"] < 1e-6
        hits += est.ci_low <= X0 <= est.ci_high
        slope_hits += est.details["slope_ci"][0] <= 2.0 <= est.details["slope_ci"][1]
        width_hits += est.details["width_ci"][0] <= 0.06 <= est.details["width_ci"][1]
        assert est.location == pytest.approx(X0, abs=0.03)
    assert hits >= 10, f"95 % CI contained x0 in {hits}/12 sweeps"
    assert slope_hits >= 9 and width_hits >= 9, (slope_hits, width_hits)


def test_onset_is_exact_without_noise_and_a_tighter_corner_is_sharper():
    exact = onset_location(X, hinge_sweep(0, noise=0.0, replicas=1)[:, 0], n_boot=0)
    assert exact.location == pytest.approx(X0, abs=1e-5)
    assert exact.details["slope"] == pytest.approx(2.0, rel=1e-4) and exact.details["width"] == pytest.approx(
        0.06, 1e-3
    )
    assert exact.details["sharpness"] == pytest.approx(2.0 / 0.06, rel=1e-3)
    tight, round_ = (onset_location(X, hinge_sweep(1, w=w, noise=0.01), n_boot=100, rng=1) for w in (0.03, 0.15))
    assert tight.details["width"] == pytest.approx(0.03, rel=0.3) and round_.details["width"] == pytest.approx(
        0.15, 0.3
    )
    assert not tight.details["grid_limited"] and tight.details["width_at_bound"] is None
    assert tight.details["sharpness"] > 3 * round_.details["sharpness"]
    assert tight.details["sharpness_ci"][0] > round_.details["sharpness_ci"][1]


def test_a_kink_sharper_than_the_grid_puts_the_width_at_its_bound():
    kink = 0.3 + 2.0 * np.maximum(X - X0, 0.0)  # w = 0: sharper than any grid
    est = onset_location(X, kink, n_boot=0)
    spacing = 0.05
    assert est.location == pytest.approx(X0, abs=1e-4)
    assert est.details["width_at_bound"] == "lower" and est.details["width"] < spacing / 10
    # w is floored at half the grid spacing in the sharpness, which is then a lower bound
    assert est.details["grid_limited"] and est.details["sharpness"] == pytest.approx(2.0 / (spacing / 2), rel=1e-3)
    noisy = onset_location(X, hinge_sweep(2, w=1e-4, noise=0.01), n_boot=100, rng=2)
    assert noisy.details["grid_limited"] and noisy.ci_low <= X0 <= noisy.ci_high


def test_no_onset_in_a_flat_or_straight_curve_or_at_the_edge():
    from models.transitions import NoOnsetError

    noise = 0.02 * np.random.default_rng(0).normal(size=(X.size, 4))
    with pytest.raises(NoOnsetError, match=r"the curve is flat over T in \[1.8, 2.8\].*F-test p = "):
        onset_location(X, 0.3 + noise, axis="T", n_boot=10)
    with pytest.raises(NoOnsetError, match=r"the curve is flat"):
        onset_location(X, np.zeros(X.size), n_boot=10)
    with pytest.raises(NoOnsetError, match=r"the curve is straight over x .*extend the sweep to where it is flat"):
        onset_location(X, (0.3 + 2 * X)[:, None] + noise, n_boot=10)
    with pytest.raises(NoOnsetError, match=r"the curve is straight"):
        onset_location(X, 2 * X, n_boot=10)
    late = 0.3 + 20.0 * np.maximum(X - 2.765, 0.0) + noise[:, 0]  # one point past the corner
    with pytest.raises(NoOnsetError, match=r"1 point\(s\) above it over x in \[1.8, 2.8\]; .* extend it above"):
        onset_location(X, late, n_boot=10)
    early = 0.3 + 20.0 * np.maximum(X - 1.83, 0.0) + noise[:, 0]  # one point before it
    with pytest.raises(NoOnsetError, match=r"1 point\(s\) below it"):
        onset_location(X, early, n_boot=10)
    with pytest.raises(TooFewPointsError, match=r"onset_location needs >= 6 distinct values"):
        onset_location(X[:5], hinge_sweep(0)[:5], n_boot=10)


def test_onset_fits_only_up_to_the_upper_bound():
    y = hinge_sweep(3)
    y[X > 2.6] = 8.0  # a different regime past 2.6 (e.g. runs capped at a divergence threshold)
    est = onset_location(X, y, upper=2.6, n_boot=100, rng=3)
    assert est.details["fit_range"] == [1.8, 2.6] and est.details["n_x"] == int(np.sum(X <= 2.6))
    assert est.ci_low <= X0 <= est.ci_high and est.details["slope"] == pytest.approx(2.0, rel=0.2)
    unbounded = onset_location(X, y, n_boot=0)
    assert abs(unbounded.location - X0) > 0.1  # the cut-off regime drags an unbounded fit away


def test_the_analysis_fits_an_onset_in_log_space_up_to_the_first_divergence():
    from pipelines.analyze import estimate_transitions, transition_metrics
    from pipelines.sweepdata import Sweep, Trial

    xs = np.geomspace(0.5, 8, 13)
    trials = []
    for i, x in enumerate(xs):
        for seed in range(3):
            diverged = x > 4.5
            value = 8.0 if diverged else 1.5 * 0.1 * math.log1p(math.exp((math.log(x / 2)) / 0.1)) + 0.01 * seed
            metrics = {"obs/peak": value, "obs/diverged": float(diverged)}
            trials.append(Trial(f"r{i}{seed}", {"train.lr_scaled": f"{x:.6g}", "seed": str(seed)}, "finished", metrics))
    axes = {"train.lr_scaled": [f"{x:.6g}" for x in xs], "seed": ["0", "1", "2"]}
    sweep = Sweep("p", "x", axes, {"onset": ["obs/peak"], "n_boot": 100}, trials)
    [est], notes = estimate_transitions(sweep)
    assert not notes and est["method"] == "onset"
    details = est["details"]
    assert details["scale"] == "log" and details["diverged_from"] == pytest.approx(xs[xs > 4.5][0], rel=1e-5)
    assert details["fit_range"][1] == pytest.approx(xs[xs <= 4.5][-1], rel=1e-5)  # in x, not ln x
    assert est["location"] == pytest.approx(2.0, rel=0.02) and est["ci_low"] <= 2.0 <= est["ci_high"]
    assert details["slope"] == pytest.approx(1.5, rel=0.05) and details["width"] == pytest.approx(0.1, rel=0.3)
    metrics = transition_metrics([est])
    assert metrics["transition/lr_scaled/onset/peak_sharpness"] == pytest.approx(details["sharpness"])
    assert {"transition/lr_scaled/onset/peak", "transition/lr_scaled/onset/peak_ci_low"} <= set(metrics)
