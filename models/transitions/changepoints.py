"""Change points inside one trial's time series: where a logged observable jumps during training.

A training run logs observables against the step, for example ``obs/magnetization`` every 50 steps.
This module finds the steps where such a series changes level, using penalised optimal partitioning
(PELT, Killick, Fearnhead & Eckley 2012, J. Am. Stat. Assoc. 107:1590) from ``ruptures``
(Truong, Oudre & Vayatis 2020, Signal Process. 167:107299). For a series v_1..v_n it picks the
change points τ_1 < … < τ_m that minimise

    Σ_{k=0..m} C(v_{τ_k : τ_{k+1}}) + m·pen

where C is the segment cost of ``model``:

* ``"l2"``: C = Σ_t (v_t − v̄)², a change in mean (the default),
* ``"normal"``: C = n_seg·log σ̂²_seg, a change in mean and/or variance (Gaussian −2 log L),
* ``"rbf"``: C = n_seg − (1/n_seg) Σ_{s,t} exp(−(v_s − v_t)²/2), a change in distribution (kernel CPD).

The series is first standardised by a robust noise scale, so one default penalty fits every observable:

    σ̂ = 1.4826 · MAD(Δv) / √2,    z_t = (v_t − median v) / σ̂.

First differences Δv_t = v_{t+1} − v_t of white noise have variance 2σ², and a few jumps are outliers
that the MAD ignores (the estimator of Fryzlewicz 2014, Ann. Stat. 42:2243). The default penalty is

    pen = β · log n,   β = 3 for "l2" and "normal",  β = 1 for "rbf",

in units of σ̂². For "l2", β = 3 is the leading term of the modified BIC of Zhang & Siegmund (2007,
Biometrics 63:22). Measured on white Gaussian noise (min_size = 5), the share of series with any
change point is, at n = 20 / 50 / 200 / 1000: "l2" 11 / 4.5 / 0.5 / 0 %, "normal" 10 / 7 / 3 / 0 %,
"rbf" 1 / 0.5 / 0 / 0 %. The "rbf" cost is bounded by n_seg, hence its smaller β. Positively
autocorrelated noise (e.g. persistent Markov chains) makes σ̂ too small and the rate higher: raise
``penalty`` for such series.

A gradual change is cut by these piecewise-constant costs into a staircase of small same-sign steps;
such steps are reported as one event whose width measures the ramp (see ``merge_gap``).

Usable from a notebook::

    events = detect_change_points(steps, values, observable="obs/magnetization")
    [e.to_dict() for e in events]
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import ruptures as rpt
from ruptures.base import BaseCost
from scipy.optimize import curve_fit

MODELS = ("l2", "normal", "rbf")
PENALTY_BETA = {"l2": 3.0, "normal": 3.0, "rbf": 1.0}
MIN_POINTS = 8  # series shorter than this return no change points
LN81 = 2.0 * math.log(9.0)  # 10 %→90 % width of a logistic step, in units of its scale s


class MissingObservableError(KeyError, ValueError):
    """A watched observable is absent from the logged series. Catch it as KeyError or ValueError."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class ChangePoint:
    """One detected change of level in a time series: a single step, or a ramp of same-sign steps.

    Attributes:
        observable: name of the series, e.g. ``"obs/magnetization"``.
        step: the logged step of the first point after the change (after the largest step of a ramp).
            The change happened between the previous logged step and this one.
        index: position of that point in the (sorted, finite) series.
        before: mean of the segment that ends where the change starts.
        after: mean of the segment that starts where the change ends.
        jump: ``after − before``.
        sharpness: signal-to-noise ratio of the step, |jump| / s_p, with s_p the pooled standard
            deviation of the two adjacent segments,
            s_p² = ((n₁−1)s₁² + (n₂−1)s₂²) / (n₁+n₂−2). Above about 3 the step is plain to the eye.
        width: steps over which 10 % → 90 % of the jump happens, from a least-squares logistic fit
            v(t) = before + jump / (1 + exp(−(t − t₀)/s)) over the two adjacent segments:
            width = 2 ln 9 · s. A width of about one logging interval or less means the jump is not
            resolved (it happened between two logged steps); with sharpness below ~5 the width is
            uncertain by a few intervals. NaN when the fit fails.
    """

    observable: str
    step: float
    index: int
    before: float
    after: float
    jump: float
    sharpness: float
    width: float

    def to_dict(self) -> dict:
        """A JSON-safe dict (NaN becomes None)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def robust_noise_scale(values: np.ndarray) -> float:
    """σ̂ = 1.4826 · MAD(Δv) / √2, falling back to std(Δv)/√2 when more than half the Δv are equal."""
    diffs = np.diff(np.asarray(values, dtype=float))
    if diffs.size == 0:
        return 0.0
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    sigma = 1.4826 * mad / math.sqrt(2.0)
    return sigma if sigma > 0 else float(np.std(diffs)) / math.sqrt(2.0)


def detect_change_points(
    steps,
    values,
    *,
    observable: str,
    penalty: float | None = None,
    min_size: int = 5,
    model: str = "l2",
    max_events: int | None = 10,
    merge_gap: int | None = None,
    jump: int | None = None,
) -> list[ChangePoint]:
    """Find the steps where one logged series changes level (PELT, see the module docstring).

    Args:
        steps: logged step of each value; sorted here if it is not.
        values: the observable; non-finite values (NaN, inf) are dropped with their steps.
        observable: name used in the returned events and in error messages.
        penalty: cost added per change point, in units of σ̂² of the standardised series. Default
            β·log n (β = 3 for "l2"/"normal", 1 for "rbf"). Raise it to find fewer, stronger changes.
        min_size: fewest points between two change points (and at either end).
        model: segment cost, one of "l2" (mean), "normal" (mean and variance), "rbf" (distribution).
        max_events: keep at most this many; the weakest (lowest sharpness) are dropped one at a time
            and the neighbouring segments merged. None keeps all.
        merge_gap: a gradual change (a ramp) is cut into several small steps of the same sign. Steps
            of the same sign are reported as one event, whose ``width`` measures the ramp, when the
            segment between them is shorter than ``merge_gap`` points or itself trends the same way
            (slope t-statistic ≥ 3.5). Default 3·min_size; 0 reports every step on its own.
        jump: consider change points only every ``jump`` points. Default 1, except for "normal"
            (pure-Python PELT) where it is ⌈n/500⌉ to keep long series fast.

    Returns:
        Events in step order. Empty for a series shorter than max(8, 2·min_size) finite points or
        with zero noise scale and no change; the caller decides whether to warn.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(repr(m) for m in MODELS)}, got {model!r}")
    if int(min_size) < 1:
        raise ValueError(f"min_size must be an integer >= 1, got {min_size}")
    t = np.asarray(steps, dtype=float).ravel()
    v = np.asarray(values, dtype=float).ravel()
    if t.shape != v.shape:
        raise ValueError(
            f"steps and values of {observable!r} must have the same length, got {t.size} and {v.size}; "
            "pass the step and value columns of one metric history"
        )
    keep = np.isfinite(t) & np.isfinite(v)
    order = np.argsort(t[keep], kind="stable")
    t, v = t[keep][order], v[keep][order]
    n = v.size
    if n < max(MIN_POINTS, 2 * int(min_size)):
        return []
    sigma = robust_noise_scale(v)
    if sigma == 0.0:
        return []  # exactly constant
    z = (v - np.median(v)) / sigma
    pen = PENALTY_BETA[model] * math.log(n) if penalty is None else float(penalty)
    breaks = _segment(z, model=model, pen=pen, min_size=int(min_size), jump=jump)
    gap = 3 * int(min_size) if merge_gap is None else int(merge_gap)
    described: dict[tuple[int, ...], ChangePoint] = {}

    def describe(group: list[int]) -> ChangePoint:
        # an event depends only on its breaks and the two segments around them: dropping the weakest
        # event leaves the others' unchanged, so each is fitted once however many are dropped
        key = tuple(breaks[group[0] - 1 : group[-1] + 2])
        if key not in described:
            described[key] = _describe(observable, t, v, breaks, group)
        return described[key]

    groups = _group_ramps(v, breaks, gap)
    events = [describe(group) for group in groups]
    while max_events is not None and len(events) > max_events:
        weakest = min(range(len(events)), key=lambda i: events[i].sharpness)
        breaks = [b for k, b in enumerate(breaks) if k not in groups[weakest]]
        groups = _group_ramps(v, breaks, gap)
        events = [describe(group) for group in groups]
    return events


def detect_all(
    series: dict[str, tuple],
    watch: list[str] | None = None,
    **kwargs,
) -> dict[str, list[ChangePoint]]:
    """Run :func:`detect_change_points` on each watched observable of ``series``.

    Args:
        series: ``{name: (steps, values)}``, e.g. built from an MLflow metric history.
        watch: names to analyse; None analyses every series.
        **kwargs: passed on to :func:`detect_change_points` (penalty, model, min_size, ...).

    Raises:
        MissingObservableError: a watched name is not in ``series``; the message lists the names present.
    """
    names = list(series) if watch is None else list(watch)
    missing = [name for name in names if name not in series]
    if missing:
        raise MissingObservableError(
            f"watched observable(s) {', '.join(repr(m) for m in missing)} not found in the logged series; "
            f"available: {', '.join(repr(k) for k in sorted(series)) or 'none'}. "
            "Fix the watch list or log the observable during training"
        )
    return {name: detect_change_points(*series[name], observable=name, **kwargs) for name in names}


# ----------------------------------------------------------------------------- internals
class _GaussianCost(BaseCost):
    """C = n_seg · log(σ̂²_seg + 10⁻⁶) from cumulative sums, O(1) per segment (ruptures' CostNormal is O(n_seg))."""

    model = "normal_cumsum"
    min_size = 2

    def fit(self, signal: np.ndarray) -> _GaussianCost:
        self.signal = np.asarray(signal, dtype=float).reshape(-1, 1)
        self._s1 = np.concatenate([[0.0], np.cumsum(self.signal[:, 0])])
        self._s2 = np.concatenate([[0.0], np.cumsum(self.signal[:, 0] ** 2)])
        return self

    def error(self, start: int, end: int) -> float:
        n = end - start
        mean = (self._s1[end] - self._s1[start]) / n
        var = (self._s2[end] - self._s2[start]) / n - mean * mean
        return n * math.log(max(var, 0.0) + 1e-6)


def _segment(z: np.ndarray, *, model: str, pen: float, min_size: int, jump: int | None) -> list[int]:
    """Segment boundaries [0, τ_1, …, τ_m, n] of the standardised series z (PELT)."""
    n = z.size
    if model == "normal":  # pure-Python PELT, O(n²/jump²) without pruning
        jump = max(1, math.ceil(n / 500)) if jump is None else int(jump)
        algo = rpt.Pelt(custom_cost=_GaussianCost(), min_size=max(min_size, 2), jump=jump)
        ends = algo.fit(z).predict(pen=pen)
    else:  # kernel change-point detection: the C implementation of PELT
        if jump not in (None, 1):
            raise ValueError(f"jump is only supported for model='normal', got jump={jump} with model={model!r}")
        kernel, params = ("linear", None) if model == "l2" else ("rbf", {"gamma": 0.5})
        ends = rpt.KernelCPD(kernel=kernel, min_size=min_size, params=params).fit(z).predict(pen=pen)
    return [0, *(int(e) for e in ends)]


def _group_ramps(v: np.ndarray, breaks: list[int], gap: int) -> list[list[int]]:
    """Positions k in ``breaks`` of each event: runs of same-sign jumps whose segments in between are
    shorter than ``gap`` points or trend the same way themselves (slope t-statistic ≥ 3.5 on the middle 80 %)."""
    means = [v[lo:hi].mean() for lo, hi in itertools.pairwise(breaks)]
    groups: list[list[int]] = []
    for k in range(1, len(breaks) - 1):
        sign = 1.0 if means[k] > means[k - 1] else -1.0
        between = v[breaks[k - 1] : breaks[k]]
        trim = len(between) // 10  # edge points are the likeliest to be misassigned
        joins = len(between) < gap or sign * _trend_t(between[trim : len(between) - trim]) >= 3.5
        if groups and gap > 0 and (means[k - 1] > means[k - 2]) == (sign > 0) and joins:
            groups[-1].append(k)
        else:
            groups.append([k])
    return groups


def _trend_t(segment: np.ndarray) -> float:
    """t-statistic b / se(b) of the least-squares slope b of a segment against its position."""
    n = segment.size
    if n < 3:
        return 0.0
    u = np.arange(n) - (n - 1) / 2
    slope = float(u @ segment / (u @ u))
    residual = segment - segment.mean() - slope * u
    se = math.sqrt(float(residual @ residual) / (n - 2) / float(u @ u))
    return slope / se if se > 0 else math.copysign(math.inf, slope) if slope else 0.0


def _describe(observable: str, t: np.ndarray, v: np.ndarray, breaks: list[int], group: list[int]) -> ChangePoint:
    """Statistics of the change at breaks[group], between the segment that ends at its first break and the
    segment that starts at its last; the reported index is the break with the largest single jump."""
    lo, hi = breaks[group[0] - 1], breaks[group[-1] + 1]
    left, right = v[lo : breaks[group[0]]], v[breaks[group[-1]] : hi]
    means = {k: v[breaks[k] : breaks[k + 1]].mean() for k in range(group[0] - 1, group[-1] + 1)}
    mid = breaks[max(group, key=lambda k: abs(means[k] - means[k - 1]))]
    before, after = float(left.mean()), float(right.mean())
    squares = float(((left - before) ** 2).sum() + ((right - after) ** 2).sum())
    pooled = math.sqrt(squares / max(left.size + right.size - 2, 1))
    jump_size = after - before
    sharpness = abs(jump_size) / pooled if pooled > 0 else math.inf
    width = _logistic_width(t[lo:hi], v[lo:hi], before, jump_size, t0=0.5 * (t[mid - 1] + t[mid]))
    return ChangePoint(observable, float(t[mid]), int(mid), before, after, jump_size, sharpness, width)


def _rise(t: np.ndarray, c: float, log_s: float) -> np.ndarray:
    """u = 1 / (1 + exp(−(t − c)/s)), with the exponent clipped to ±500."""
    return 1.0 / (1.0 + np.exp(np.clip(-(t - c) / np.exp(log_s), -500.0, 500.0)))


def _logistic(t: np.ndarray, a: float, b: float, c: float, log_s: float) -> np.ndarray:
    """The step a + b u(t) that `_logistic_width` fits."""
    return a + b * _rise(t, c, log_s)


def _logistic_jacobian(t: np.ndarray, a: float, b: float, c: float, log_s: float) -> np.ndarray:
    """∂/∂(a, b, c, ln s) of `_logistic`, shape (len(t), 4): with x = (t − c)/s, du/dx = u(1 − u),
    dx/dc = −1/s and dx/d ln s = −x. Given to the fit, it costs one evaluation per iteration where
    finite differences cost five."""
    s = np.exp(log_s)
    u = _rise(t, c, log_s)
    slope = b * u * (1.0 - u)
    return np.stack([np.ones_like(u), u, -slope / s, -slope * (t - c) / s], axis=-1)


def _logistic_width(t: np.ndarray, v: np.ndarray, before: float, jump: float, t0: float) -> float:
    """10 %→90 % width 2 ln 9 · s of v ≈ a + b / (1 + exp(−(t − t₀)/s)), fitted by least squares."""
    gaps = np.diff(t)
    spacing = float(np.median(gaps[gaps > 0])) if np.any(gaps > 0) else 0.0
    span = float(t[-1] - t[0])
    if not (spacing > 0 and span > 0 and jump != 0):
        return math.nan
    p0 = (before, jump, t0, math.log(spacing))
    bounds = ([-np.inf, -np.inf, t[0], math.log(1e-3 * spacing)], [np.inf, np.inf, t[-1], math.log(span)])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, _ = curve_fit(_logistic, t, v, p0=p0, bounds=bounds, jac=_logistic_jacobian, maxfev=2000)
    except (RuntimeError, ValueError):
        return math.nan
    return LN81 * math.exp(popt[3])
