"""Where an observable changes sharply along a swept axis, with bootstrap confidence intervals.

A sweep measures an observable y at values x of one axis (temperature, width, learning rate), with
several replicas (seeds) per x. Three estimators locate a transition:

* :func:`peak_location`: the maximum of a susceptibility-like curve χ(x), refined by a least-squares
  parabola through the grid maximum and its neighbours, x* = x_i − c₁/(2c₂) for χ ≈ c₀ + c₁u + c₂u²,
  u = x − x_i (``shape="gaussian"`` fits log χ, exact for a Gaussian peak; ``"lorentzian"`` fits −1/χ,
  exact for a Lorentzian A/(1 + ((x−x₀)/γ)²)).
* :func:`steepest_change`: the centre x₀ of an order parameter fitted as m(x) = a + b·tanh((x − x₀)/w),
  with w the width of the change (its sharpness); the midpoint of the largest |Δm/Δx| when the fit fails.
* :func:`binder_crossing`: the crossing of Binder cumulants U_L(x) of different sizes L. Near a critical
  point U_L(x) = g((x − x_c)·L^{1/ν}) (Binder 1981, Z. Phys. B 43:119), so all curves cross at x_c.

Confidence intervals come from a bootstrap over replicas: at every x the replicas y_1..y_k are resampled
with replacement, each x independently, and the estimator is rerun on every resampled mean curve.

* The residuals are inflated by √(k/(k−1)) before resampling, so the bootstrap variance of a mean is s²/k
  rather than (k−1)s²/k² (the adjusted residuals of Davison & Hinkley 1997, §2.3 and §6.2.3).
* With 3-5 seeds the variance itself is uncertain, and a plain percentile interval covers the truth
  less often than its nominal level. The interval is therefore the *expanded percentile* interval
  (Hesterberg 2015, Am. Stat. 69:371): the quantiles α' and 1 − α' of the draws, with
  α' = Φ(−t_{ν, (1+level)/2}). The degrees of freedom ν are those of the linearised estimator,
  ν = (Σ_i v_i)² / Σ_i (v_i² / (k_i − 1)) (Welch-Satterthwaite), where v_i is the variance that point i
  contributes. ν → ∞ gives the ordinary percentile interval (Efron & Tibshirani 1993, ch. 13).
* Where an x has a single replica with a supplied standard error σ, the bootstrap draws y + σ·N(0, 1)
  (a parametric bootstrap, ν_i = ∞); a single replica without σ stays fixed and adds no width.

Shapes accepted for ``y``: an array (n_x, n_replicas) with NaN for missing runs, a list of n_x arrays
(ragged), or a 1-D array aligned with ``x`` where x repeats once per run. Usable from a notebook::

    est = peak_location(temperatures, chi, rng=0)
    est.location, (est.ci_low, est.ci_high)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy import stats

SHAPES = ("parabola", "gaussian", "lorentzian")
COMBINE = ("largest", "mean")


class TooFewPointsError(ValueError):
    """The sweep has too few distinct points (or sizes) for the requested estimator."""


class NoCrossingError(ValueError):
    """Two Binder curves do not cross inside the swept range."""


@dataclass(frozen=True)
class TransitionEstimate:
    """A transition location with its bootstrap confidence interval.

    Attributes:
        method: "peak_location", "steepest_change" or "binder_crossing".
        location: the estimate on the replica-mean curve(s).
        ci_low, ci_high: expanded percentile bootstrap interval at ``details["level"]`` (module docstring);
            NaN with fewer than two bootstrap draws.
        n_boot: bootstrap draws the interval is computed from (draws where the estimator failed are
            left out; their count is ``details["n_boot_failed"]``).
        details: estimator-specific numbers, e.g. the tanh width w or the pairwise Binder crossings, and
            ``dof``, the effective degrees of freedom ν behind the interval.
    """

    method: str
    location: float
    ci_low: float
    ci_high: float
    n_boot: int
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-safe dict: numpy scalars and arrays become Python numbers and lists, NaN becomes None."""
        return _jsonable(
            {
                "method": self.method,
                "location": self.location,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "n_boot": self.n_boot,
                "details": self.details,
            }
        )


class _Table(NamedTuple):
    """Replicas grouped by distinct x: values Y[i, :n[i]] (NaN-padded) and their standard errors S."""

    x: np.ndarray
    Y: np.ndarray
    S: np.ndarray
    n: np.ndarray

    def mean(self) -> np.ndarray:
        return np.nanmean(self.Y, axis=1)


def aggregate_replicas(x, y, stderr=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group replicas at equal x: returns (x_unique, mean, stderr, n), sorted by x.

    stderr is s/√n with s the sample standard deviation (ddof = 1). Where n = 1 it is the supplied
    per-point standard error, or NaN without one. NaN values of y are missing runs and are not counted.
    """
    tab = _table(x, y, stderr)
    k = tab.n.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.sqrt(np.nansum((tab.Y - tab.mean()[:, None]) ** 2, axis=1) / (k - 1) / k)
    se = np.where(tab.n > 1, spread, tab.S[:, 0])
    return tab.x, tab.mean(), se, tab.n.copy()


def peak_location(
    x,
    y,
    *,
    stderr=None,
    shape: str = "parabola",
    half_window: int = 2,
    n_boot: int = 500,
    level: float = 0.95,
    rng=None,
    axis: str | None = None,
) -> TransitionEstimate:
    """Location of the maximum of y(x), refined by a local quadratic fit (see the module docstring).

    The fit uses the 2·half_window + 1 grid points around the grid maximum (shifted inwards at the edges
    of the sweep) and the vertex is clamped to that window, hence to the data range. A concave-up fit
    falls back to the grid maximum. ``details["at_edge"]`` is True when the grid maximum is the first or
    last point: the true peak may then lie outside the sweep.
    """
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {', '.join(map(repr, SHAPES))}, got {shape!r}")
    if int(half_window) < 1:
        raise ValueError(f"half_window must be an integer >= 1, got {half_window}")
    gen = _rng(rng, n_boot, level)
    tab = _table(x, y, stderr)
    _require(tab.x, 4, "peak_location", axis)
    hw = min(int(half_window), (tab.x.size - 1) // 2)
    mean = tab.mean()
    location = float(_peak_batch(tab.x, mean[None, :], shape, hw)[0])
    if not math.isfinite(location):
        raise ValueError(f"peak_location with shape={shape!r} needs y > 0 around the maximum; use shape='parabola'")
    boot = _bootstrap_means(tab, n_boot, gen)
    draws = _peak_batch(tab.x, boot, shape, hw)
    i = int(np.argmax(mean))
    details = {
        "shape": shape,
        "half_window": hw,
        "grid_max": tab.x[i],
        "peak_height": mean[i],
        "at_edge": i in (0, tab.x.size - 1),
        "n_x": tab.x.size,
    }
    return _estimate("peak_location", location, draws, level, details, boot, _dof(tab))


def steepest_change(
    x, y, *, stderr=None, n_boot: int = 500, level: float = 0.95, rng=None, axis: str | None = None
) -> TransitionEstimate:
    """Centre x₀ of the steepest change, from a least-squares fit m(x) = a + b·tanh((x − x₀)/w).

    The fit is a batched Levenberg-Marquardt over all bootstrap curves at once. A fit whose x₀ leaves the
    data range falls back to the midpoint of the largest |Δm/Δx| between neighbouring points
    (``details["fallback"]``). ``details["width"]`` is w: 76 % of the change |2b| happens within x₀ ± w,
    so a small w is a sharp transition; ``details["max_slope"]`` = b/w is the slope at x₀.
    """
    gen = _rng(rng, n_boot, level)
    tab = _table(x, y, stderr)
    _require(tab.x, 4, "steepest_change", axis)
    mean = tab.mean()[None, :]
    starts = _tanh_starts(tab.x, mean[0])
    params, ok, sse = _fit_tanh(tab.x, np.repeat(mean, len(starts), axis=0), starts)
    best = int(np.nanargmin(np.where(np.isfinite(sse), sse, np.inf)))
    a, b, x0, w = params[best]
    fallback = not ok[best]
    location = float(_steepest_difference(tab.x, mean)[0]) if fallback else float(x0)
    boot = _bootstrap_means(tab, n_boot, gen)
    bparams, bok, _ = _fit_tanh(tab.x, boot, params[best] if ok[best] else starts[0])
    draws = np.where(bok, bparams[:, 2], _steepest_difference(tab.x, boot))
    widths = bparams[bok, 3]
    width_ci = np.quantile(widths, [(1 - level) / 2, (1 + level) / 2]) if widths.size >= 2 else [math.nan] * 2
    details = {
        "width": math.nan if fallback else w,
        "width_ci": list(width_ci),
        "amplitude": b,
        "offset": a,
        "max_slope": b / w if not fallback else math.nan,
        "fallback": fallback,
        "n_fallback_draws": int(np.sum(~bok)),
        "n_x": tab.x.size,
    }
    return _estimate("steepest_change", location, draws, level, details, boot, _dof(tab))


def binder_crossing(
    x,
    curves: dict,
    *,
    stderr: dict | None = None,
    combine: str = "largest",
    interpolation: str = "cubic",
    n_boot: int = 500,
    level: float = 0.95,
    rng=None,
    axis: str | None = None,
) -> TransitionEstimate:
    """Crossing point of the Binder cumulants U_L(x) of several system sizes.

    For each pair L₁ < L₂ the difference d(x) = U_L₂(x) − U_L₁(x) is formed on their common grid. In an
    interval [x_i, x_{i+1}] where d changes sign, the crossing is the root of the cubic through d at the
    four grid points around it (``interpolation="cubic"``, default), or of the chord,
    x* = x_i − d_i (x_{i+1} − x_i)/(d_{i+1} − d_i) (``"linear"``). Curves converge at both ends of a
    sweep, where noise can flip the sign of d; of several sign changes the one that splits ∫d dx into the
    largest lobes of opposite sign, max |∫_{x_0}^{x*} d dx − ∫_{x*}^{x_n} d dx|, is taken.

    ``combine="largest"`` (default) reports the crossing of the two largest sizes, the one least shifted by
    corrections to scaling (the shift shrinks as L^{−ω−1/ν}); ``"mean"`` averages all pairwise crossings.
    ``details["pairs"]`` always lists every pairwise crossing of the mean curves.
    """
    if interpolation not in ("cubic", "linear"):
        raise ValueError(f"interpolation must be 'cubic' or 'linear', got {interpolation!r}")
    if combine not in COMBINE:
        raise ValueError(f"combine must be one of {', '.join(map(repr, COMBINE))}, got {combine!r}")
    gen = _rng(rng, n_boot, level)
    sizes = sorted(curves, key=float)
    if len(sizes) < 2:
        raise TooFewPointsError(
            f"binder_crossing needs >= 2 system sizes, got {len(sizes)} ({sizes}); "
            "run the sweep at a second size too, e.g. data.L=8,16"
        )
    stderr = stderr or {}
    tabs = {L: _table(x, curves[L], stderr.get(L)) for L in sizes}
    pairs = [(l1, l2) for i, l1 in enumerate(sizes) for l2 in sizes[i + 1 :]]
    used = [(sizes[-2], sizes[-1])] if combine == "largest" else pairs
    boots = {L: _bootstrap_means(tab, n_boot, gen) for L, tab in tabs.items()}
    found, draws = {}, []
    for l1, l2 in pairs:
        xc, i1, i2 = np.intersect1d(tabs[l1].x, tabs[l2].x, return_indices=True)
        if (l1, l2) not in used and xc.size < 3:
            found[f"{l1}-{l2}"] = math.nan  # only listed in details
            continue
        _require(xc, 3, f"binder_crossing for L={l1} and L={l2}", axis)
        d = (tabs[l2].mean()[i2] - tabs[l1].mean()[i1])[None, :]
        found[f"{l1}-{l2}"] = crossing = float(_crossing_batch(xc, d, interpolation)[0])
        if not math.isfinite(crossing) and (l1, l2) in used:
            sign = "+" if d[0, 0] > 0 else "-"
            raise NoCrossingError(
                f"binder_crossing: U_{l2} - U_{l1} keeps the sign {sign} over {axis or 'x'} in "
                f"[{xc[0]:g}, {xc[-1]:g}], so the curves do not cross inside the sweep; extend the sweep "
                "past the transition on both sides, or check that the curves are labelled by the right L"
            )
        if (l1, l2) in used:
            draws.append(_crossing_batch(xc, boots[l2][:, i2] - boots[l1][:, i1], interpolation))
    location = float(np.mean([found[f"{l1}-{l2}"] for l1, l2 in used]))
    with np.errstate(invalid="ignore"):
        combined = np.mean(draws, axis=0)  # NaN where any used pair failed to cross
    details = {
        "combine": combine,
        "sizes": sizes,
        "pairs": found,
        "binder_at_crossing": float(np.interp(location, tabs[sizes[-1]].x, tabs[sizes[-1]].mean())),
    }
    used_sizes = sorted({L for pair in used for L in pair}, key=float)
    means = np.concatenate([boots[L] for L in used_sizes], axis=1)
    dof = np.concatenate([_dof(tabs[L]) for L in used_sizes])
    return _estimate("binder_crossing", location, combined, level, details, means, dof)


# ----------------------------------------------------------------------------- input handling
def _rows(values, n_rows: int, name: str) -> list[np.ndarray]:
    """Split y (or stderr) into one 1-D array of replicas per input x."""
    if isinstance(values, (list, tuple)) and any(np.ndim(v) > 0 for v in values):
        rows = [np.atleast_1d(np.asarray(v, dtype=float)).ravel() for v in values]
    else:
        arr = np.asarray(values, dtype=float)
        if arr.ndim not in (1, 2):
            raise ValueError(f"{name} must be 1-D or (n_x, n_replicas), got shape {arr.shape}")
        rows = list(arr[:, None] if arr.ndim == 1 else arr)
    if len(rows) != n_rows:
        raise ValueError(
            f"{name} has {len(rows)} rows but x has {n_rows} values; give {name} one row of replicas per x, "
            "shape (n_x, n_replicas), or a 1-D array aligned with x"
        )
    return rows


def _table(x, y, stderr=None) -> _Table:
    """Group the finite replicas of y by distinct x (sorted), with their standard errors (NaN if none)."""
    x = np.asarray(x, dtype=float).ravel()
    if not np.all(np.isfinite(x)):
        raise ValueError(f"x must be finite, got {x[~np.isfinite(x)][:3].tolist()}; drop runs without a swept value")
    ys = _rows(y, x.size, "y")
    ss = [np.full(r.shape, np.nan) for r in ys] if stderr is None else _rows(stderr, x.size, "stderr")
    groups: dict[float, tuple[list, list]] = {}
    for xi, yr, sr in zip(x, ys, ss, strict=True):
        yr, sr = np.broadcast_arrays(yr, sr)
        keep = np.isfinite(yr)
        if keep.any():
            vals, errs = groups.setdefault(float(xi), ([], []))
            vals.extend(yr[keep]), errs.extend(sr[keep])
    xs = np.array(sorted(groups))
    n = np.array([len(groups[xi][0]) for xi in xs], dtype=int)
    Y = np.full((xs.size, max(n, default=1)), np.nan)
    S = np.full_like(Y, np.nan)
    for i, xi in enumerate(xs):
        Y[i, : n[i]], S[i, : n[i]] = groups[xi]
    return _Table(xs, Y, S, n)


def _require(x: np.ndarray, n_need: int, what: str, axis: str | None) -> None:
    """Raise TooFewPointsError unless `x` has `n_need` values; the hint spans the values given."""
    if x.size < n_need:
        name = axis or "the swept axis"
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        if hi > lo and lo.is_integer() and hi.is_integer():  # an integer axis (width, L) keeps integer steps
            hint = f"{axis or 'AXIS'}='range({lo:g},{hi + 1:g},{max(1, int(hi - lo) // (2 * n_need))})'"
        elif hi > lo:
            step = (hi - lo) / (2 * n_need)
            hint = f"{axis or 'AXIS'}='range({lo:g},{hi + step / 2:g},{step:.3g})'"
        else:
            hint = f"{axis or 'AXIS'}=a,b,c,d ({n_need} or more values around the transition)"
        raise TooFewPointsError(
            f"{what} needs >= {n_need} distinct values of {name} with data, got {x.size}; "
            f"sweep more points, e.g. {hint}"
        )


def _rng(rng, n_boot: int, level: float) -> np.random.Generator:
    """The bootstrap generator, after checking the bootstrap options."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}; e.g. 0.95 for a 95 % interval")
    if int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be an integer >= 0, got {n_boot}")
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


# ----------------------------------------------------------------------------- bootstrap
def _bootstrap_means(tab: _Table, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n_x) replica means, resampled at every x independently (see the module docstring)."""
    out = np.empty((n_boot, tab.x.size))
    for i, k in enumerate(tab.n):
        vals = tab.Y[i, :k]
        if k >= 2:
            centre = vals.mean()
            resid = (vals - centre) * math.sqrt(k / (k - 1))
            out[:, i] = centre + resid[rng.integers(0, k, size=(out.shape[0], k))].mean(axis=1)
        else:
            sigma = tab.S[i, 0]
            noise = sigma * rng.standard_normal(out.shape[0]) if np.isfinite(sigma) else 0.0
            out[:, i] = vals[0] + noise
    return out


def _dof(tab: _Table) -> np.ndarray:
    """Degrees of freedom k − 1 of each x's variance estimate (∞ where one replica has a known σ)."""
    return np.where(tab.n >= 2, tab.n - 1, np.inf).astype(float)


def _effective_dof(draws: np.ndarray, means: np.ndarray, dof: np.ndarray) -> float:
    """Welch-Satterthwaite degrees of freedom ν = (Σ v_i)² / Σ v_i²/ν_i of the linearised estimator.

    θ* − θ̄* ≈ Σ_i g_i (m*_i − m̄*_i) is fitted by least squares over the bootstrap draws, and
    v_i = g_i² Var*(m_i) is the variance that point i contributes. With fewer draws than twice the number
    of points, the smallest ν_i is returned (conservative).
    """
    finite = np.isfinite(dof)
    if not finite.any():
        return math.inf
    if draws.size < 2 * means.shape[1] + 2:
        return float(dof[finite].min())
    centred = means - means.mean(axis=0)
    g = np.linalg.lstsq(centred, draws - draws.mean(), rcond=None)[0]
    v = g**2 * np.mean(centred**2, axis=0)
    denominator = float(np.sum(v[finite] ** 2 / dof[finite]))
    return float(v.sum() ** 2 / denominator) if denominator > 0 else math.inf


def _estimate(
    method: str, location: float, draws: np.ndarray, level: float, details: dict, means: np.ndarray, dof: np.ndarray
) -> TransitionEstimate:
    """Expanded percentile interval (see the module docstring) from the bootstrap draws of one estimator."""
    ok = np.isfinite(draws)
    if means.size and not np.any(np.ptp(means, axis=0) > 0):  # every point fixed: the draws carry no spread
        ok[:] = False
        details = {**details, "ci_note": "one replica per point and no stderr: pass stderr= or run more seeds"}
    good = draws[ok]
    nu, ci = math.nan, (math.nan, math.nan)
    if good.size >= 2:
        nu = _effective_dof(good, means[ok], dof)
        tail = float(stats.norm.sf(stats.t.ppf((1 + level) / 2, nu)))
        ci = tuple(float(q) for q in np.quantile(good, [tail, 1 - tail]))
    details = {**details, "level": level, "dof": nu, "n_boot_failed": int(np.sum(~np.isfinite(draws)))}
    return TransitionEstimate(method, float(location), ci[0], ci[1], int(good.size), details)


# ----------------------------------------------------------------------------- estimators, batched over curves
def _peak_batch(x: np.ndarray, curves: np.ndarray, shape: str, hw: int) -> np.ndarray:
    """Vertex of a least-squares quadratic through 2·hw + 1 points around each curve's maximum."""
    rows = np.arange(curves.shape[0])[:, None]
    top = np.argmax(curves, axis=1)
    start = np.clip(top - hw, 0, x.size - 2 * hw - 1)
    idx = start[:, None] + np.arange(2 * hw + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = {"parabola": curves, "gaussian": np.log(curves), "lorentzian": -1.0 / curves}[shape]
        f = np.where(curves > 0, f, np.nan) if shape != "parabola" else f
        u = x[idx] - x[top][:, None]
        design = np.stack([np.ones_like(u), u, u * u], axis=2)
        gram = np.einsum("bni,bnj->bij", design, design)
        coef = np.linalg.solve(gram, np.einsum("bni,bn->bi", design, f[rows, idx])[..., None])[..., 0]
        vertex = x[top] - coef[:, 1] / (2 * coef[:, 2])
    vertex = np.where(coef[:, 2] < 0, vertex, np.where(np.isfinite(coef[:, 2]), x[top], np.nan))
    return np.clip(vertex, x[idx[:, 0]], x[idx[:, -1]])


def _steepest_difference(x: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """Midpoint of the interval with the largest |Δm/Δx|, for each curve."""
    slope = np.abs(np.diff(curves, axis=1) / np.diff(x))
    i = np.argmax(slope, axis=1)
    return 0.5 * (x[i] + x[i + 1])


def _tanh_starts(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Starting points (a, b, x₀, w) for the tanh fit: x₀ at the steepest difference and at the quartiles
    of the range, each with w a twentieth and a fifth of the range."""
    quarter = max(1, x.size // 4)
    low, high = m[:quarter].mean(), m[-quarter:].mean()
    span = x[-1] - x[0]
    centres = [_steepest_difference(x, m[None, :])[0], *(x[0] + span * np.array([0.25, 0.5, 0.75]))]
    return np.array([[(low + high) / 2, (high - low) / 2, c, w] for c in centres for w in (span / 20, span / 5)])


def _fit_tanh(x: np.ndarray, curves: np.ndarray, p0: np.ndarray, iterations: int = 200):
    """Batched Levenberg-Marquardt fit of a + b·tanh((x − x₀)/w) to each row of ``curves``.

    w is fitted as log w, kept between a hundredth of the grid spacing and ten times the range.
    ``p0`` is one starting point (4,) or one per curve (B, 4). Returns params (B, 4) as (a, b, x₀, w),
    ok (B,): finite and x₀ inside the data range, and the residual sums of squares (B,).
    """
    B = curves.shape[0]
    p = np.array(np.broadcast_to(np.asarray(p0, dtype=float), (B, 4)))
    p[:, 3] = np.log(p[:, 3])
    log_w_range = (math.log(np.min(np.diff(x)) / 100), math.log(10 * (x[-1] - x[0])))

    def residuals(q):
        z = (x - q[:, 2:3]) / np.exp(q[:, 3:4])
        t = np.tanh(z)
        return q[:, 0:1] + q[:, 1:2] * t - curves, t, z

    r, t, z = residuals(p)
    sse = np.sum(r * r, axis=1)
    damping = np.full(B, 1e-3)
    done = np.zeros(B, dtype=bool)  # a tiny relative gain, or no step accepted even with huge damping
    for _ in range(iterations):
        sech2 = 1 - t * t
        jac = np.stack([np.ones_like(t), t, -p[:, 1:2] * sech2 / np.exp(p[:, 3:4]), -p[:, 1:2] * sech2 * z], axis=2)
        jtj = np.einsum("bni,bnj->bij", jac, jac)
        diag = np.diagonal(jtj, axis1=1, axis2=2)
        diag = np.maximum(diag, 1e-9 * diag.max(axis=1, keepdims=True))
        lhs = jtj + damping[:, None, None] * np.einsum("bi,ij->bij", diag, np.eye(4))
        step = np.linalg.solve(lhs, -np.einsum("bni,bn->bi", jac, r)[..., None])[..., 0]
        trial = p + step
        trial[:, 3] = np.clip(trial[:, 3], *log_w_range)
        r_new, t_new, z_new = residuals(trial)
        sse_new = np.sum(r_new * r_new, axis=1)
        better = sse_new < sse
        done |= (better & (sse - sse_new <= 1e-10 * sse)) | (damping > 1e10)
        p[better], r[better], t[better], z[better], sse[better] = (
            trial[better],
            r_new[better],
            t_new[better],
            z_new[better],
            sse_new[better],
        )
        damping = np.clip(np.where(better, damping / 3, damping * 4), 1e-12, 1e12)
        if done.all():
            break
    params = p.copy()
    params[:, 3] = np.exp(p[:, 3])
    ok = np.all(np.isfinite(params), axis=1) & (params[:, 2] >= x[0]) & (params[:, 2] <= x[-1])
    return params, ok, sse


def _crossing_batch(x: np.ndarray, d: np.ndarray, interpolation: str = "cubic") -> np.ndarray:
    """Crossing x* of each row of d (linear root, refined by a cubic) in its main sign change (NaN if none).

    The main interval splits the trapezoid integral of d into the largest opposite lobes: it maximises
    |I_i + I_{i+1} − I_n|, with I_i = ∫_{x_0}^{x_i} d dx.
    """
    left, right = d[:, :-1], d[:, 1:]
    changes = (left * right <= 0) & ~((left == 0) & (right == 0))
    integral = np.concatenate([np.zeros((d.shape[0], 1)), np.cumsum(0.5 * (left + right) * np.diff(x), axis=1)], 1)
    lobes = np.abs(integral[:, :-1] + integral[:, 1:] - integral[:, -1:])
    i = np.argmax(np.where(changes, lobes, -1.0), axis=1)
    rows = np.arange(d.shape[0])
    dl, dr = left[rows, i], right[rows, i]
    with np.errstate(invalid="ignore", divide="ignore"):
        root = x[i] - dl * (x[i + 1] - x[i]) / (dr - dl)
    if interpolation == "cubic" and x.size >= 4:
        root = _cubic_root(x, d, i, root)
    return np.where(changes[rows, i], root, np.nan)


def _cubic_root(x: np.ndarray, d: np.ndarray, i: np.ndarray, guess: np.ndarray) -> np.ndarray:
    """Refine each guess to the root in [x_i, x_{i+1}] of the cubic through d at 4 nodes around the interval.

    Newton's method on p(u) = c₀ + c₁u + c₂u² + c₃u³, u = (x − x_i)/h; the linear guess is kept where
    the refinement leaves the interval.
    """
    rows = np.arange(d.shape[0])[:, None]
    nodes = np.clip(i - 1, 0, x.size - 4)[:, None] + np.arange(4)
    h = (x[i + 1] - x[i])[:, None]
    u_nodes = (x[nodes] - x[i][:, None]) / h
    coef = np.linalg.solve(u_nodes[..., None] ** np.arange(4), d[rows, nodes][..., None])[..., 0]
    u = (guess - x[i]) / h[:, 0]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for _ in range(30):
            value = coef[:, 0] + u * (coef[:, 1] + u * (coef[:, 2] + u * coef[:, 3]))
            slope = coef[:, 1] + u * (2 * coef[:, 2] + 3 * u * coef[:, 3])
            u = u - value / slope
    inside = np.isfinite(u) & (u >= 0) & (u <= 1)
    return np.where(inside, x[i] + u * h[:, 0], guess)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    return value
