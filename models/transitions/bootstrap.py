"""The replica bootstrap behind every transition estimate.

A sweep gives replicas (seeds) y_1..y_k of an observable at every swept value x. Confidence intervals
come from a bootstrap over them: at every x the replicas are resampled with replacement, each x
independently, and the estimator is rerun on every resampled mean curve.

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy import stats


class TooFewPointsError(ValueError):
    """The sweep has too few distinct points (or sizes) for the requested estimator."""


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
        return jsonable(
            {
                "method": self.method,
                "location": self.location,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "n_boot": self.n_boot,
                "details": self.details,
            }
        )


class Table(NamedTuple):
    """Replicas grouped by distinct x: values Y[i, :n[i]] (NaN-padded) and their standard errors S."""

    x: np.ndarray
    Y: np.ndarray
    S: np.ndarray
    n: np.ndarray

    def mean(self) -> np.ndarray:
        return np.nanmean(self.Y, axis=1)


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


def table(x, y, stderr=None) -> Table:
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
    return Table(xs, Y, S, n)


def require_points(x: np.ndarray, n_need: int, what: str, axis: str | None) -> None:
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


def make_rng(rng, n_boot: int, level: float) -> np.random.Generator:
    """The bootstrap generator, after checking the bootstrap options."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}; e.g. 0.95 for a 95 % interval")
    if int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be an integer >= 0, got {n_boot}")
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


# ----------------------------------------------------------------------------- bootstrap
def bootstrap_means(tab: Table, n_boot: int, rng: np.random.Generator) -> np.ndarray:
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


def dof_of(tab: Table) -> np.ndarray:
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


def interval(
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


def jsonable(value):
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    return value
