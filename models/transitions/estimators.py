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

Confidence intervals come from a bootstrap over replicas (see `models.transitions.bootstrap`).

Shapes accepted for ``y``: an array (n_x, n_replicas) with NaN for missing runs, a list of n_x arrays
(ragged), or a 1-D array aligned with ``x`` where x repeats once per run. Usable from a notebook::

    est = peak_location(temperatures, chi, rng=0)
    est.location, (est.ci_low, est.ci_high)
"""

from __future__ import annotations

import math

import numpy as np

from models.transitions.bootstrap import (
    TooFewPointsError,
    TransitionEstimate,
    bootstrap_means,
    dof_of,
    interval,
    make_rng,
    require_points,
    table,
)
from models.transitions.fits import crossing_batch, fit_tanh, fitted_root, peak_batch, steepest_difference, tanh_starts

SHAPES = ("parabola", "gaussian", "lorentzian")
COMBINE = ("largest", "mean")
INTERPOLATIONS = ("cubic", "linear", "fit")
FIT_POINTS = 5
"""Points within the window a fitted crossing needs; with fewer, the quadratic's bias is unchecked and the
crossing is interpolated by the cubic instead (``details["fit_points"]`` says which, per pair)."""
"""How `binder_crossing` finds the root of U_L₂ − U_L₁: through the grid, or fitted near the crossing."""


class NoCrossingError(ValueError):
    """Two Binder curves do not cross inside the swept range."""


def aggregate_replicas(x, y, stderr=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group replicas at equal x: returns (x_unique, mean, stderr, n), sorted by x.

    stderr is s/√n with s the sample standard deviation (ddof = 1). Where n = 1 it is the supplied
    per-point standard error, or NaN without one. NaN values of y are missing runs and are not counted.
    """
    tab = table(x, y, stderr)
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
    gen = make_rng(rng, n_boot, level)
    tab = table(x, y, stderr)
    require_points(tab.x, 4, "peak_location", axis)
    hw = min(int(half_window), (tab.x.size - 1) // 2)
    mean = tab.mean()
    location = float(peak_batch(tab.x, mean[None, :], shape, hw)[0])
    if not math.isfinite(location):
        raise ValueError(f"peak_location with shape={shape!r} needs y > 0 around the maximum; use shape='parabola'")
    boot = bootstrap_means(tab, n_boot, gen)
    draws = peak_batch(tab.x, boot, shape, hw)
    i = int(np.argmax(mean))
    details = {
        "shape": shape,
        "half_window": hw,
        "grid_max": tab.x[i],
        "peak_height": mean[i],
        "at_edge": i in (0, tab.x.size - 1),
        "n_x": tab.x.size,
    }
    return interval("peak_location", location, draws, level, details, boot, dof_of(tab))


def steepest_change(
    x, y, *, stderr=None, n_boot: int = 500, level: float = 0.95, rng=None, axis: str | None = None
) -> TransitionEstimate:
    """Centre x₀ of the steepest change, from a least-squares fit m(x) = a + b·tanh((x − x₀)/w).

    The fit is a batched Levenberg-Marquardt over all bootstrap curves at once. A fit whose x₀ leaves the
    data range falls back to the midpoint of the largest |Δm/Δx| between neighbouring points
    (``details["fallback"]``). ``details["width"]`` is w: 76 % of the change |2b| happens within x₀ ± w,
    so a small w is a sharp transition; ``details["max_slope"]`` = b/w is the slope at x₀. A change
    sharper than the grid (w below half the spacing of the two grid points around x₀) is only known to lie
    between them: the interval is widened to that bracket at least (``details["grid_limited"]``), since
    replicas that all agree would otherwise give an interval of width zero.
    """
    gen = make_rng(rng, n_boot, level)
    tab = table(x, y, stderr)
    require_points(tab.x, 4, "steepest_change", axis)
    mean = tab.mean()[None, :]
    starts = tanh_starts(tab.x, mean[0])
    params, ok, sse = fit_tanh(tab.x, np.repeat(mean, len(starts), axis=0), starts)
    best = int(np.nanargmin(np.where(np.isfinite(sse), sse, np.inf)))
    a, b, x0, w = params[best]
    fallback = not ok[best]
    location = float(steepest_difference(tab.x, mean)[0]) if fallback else float(x0)
    boot = bootstrap_means(tab, n_boot, gen)
    bparams, bok, _ = fit_tanh(tab.x, boot, params[best] if ok[best] else starts[0])
    draws = np.where(bok, bparams[:, 2], steepest_difference(tab.x, boot))
    widths = bparams[bok, 3]
    width_ci = np.quantile(widths, [(1 - level) / 2, (1 + level) / 2]) if widths.size >= 2 else [math.nan] * 2
    grid_limited = False
    if not fallback and tab.x[0] <= location <= tab.x[-1]:
        i = min(int(np.searchsorted(tab.x, location, side="right")) - 1, tab.x.size - 2)
        # a change sharper than the grid spacing is only known to lie between its two grid points
        grid_limited = abs(w) < (tab.x[i + 1] - tab.x[i]) / 2
    details = {
        "width": math.nan if fallback else w,
        "grid_limited": grid_limited,
        "width_ci": list(width_ci),
        "amplitude": b,
        "offset": a,
        "max_slope": b / w if not fallback else math.nan,
        "fallback": fallback,
        "n_fallback_draws": int(np.sum(~bok)),
        "n_x": tab.x.size,
    }
    est = interval("steepest_change", location, draws, level, details, boot, dof_of(tab))
    if grid_limited:
        from dataclasses import replace

        lo, hi = tab.x[i], tab.x[i + 1]
        low = lo if not math.isfinite(est.ci_low) else min(est.ci_low, lo)
        high = hi if not math.isfinite(est.ci_high) else max(est.ci_high, hi)
        est = replace(est, ci_low=float(low), ci_high=float(high))
    return est


def binder_crossing(
    x,
    curves: dict,
    *,
    stderr: dict | None = None,
    combine: str = "largest",
    interpolation: str = "cubic",
    window: float | None = None,
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

    ``interpolation="fit"`` instead fits a quadratic to d by least squares over the points within
    ``window`` of the chord's root (default: a tenth of the swept span) and takes its root
    (`models.transitions.fits.fitted_root`): the points near the crossing are averaged, not interpolated,
    so the interval narrows as 1/√n with n points there. That is what an adaptive sweep, which spends its
    trials near the crossing, needs. With fewer than `FIT_POINTS` points in the window the cubic is used.

    ``combine="largest"`` (default) reports the crossing of the two largest sizes, the one least shifted by
    corrections to scaling (the shift shrinks as L^{−ω−1/ν}); ``"mean"`` averages all pairwise crossings.
    ``details["pairs"]`` always lists every pairwise crossing of the mean curves.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {', '.join(map(repr, INTERPOLATIONS))}, got {interpolation!r}")
    if combine not in COMBINE:
        raise ValueError(f"combine must be one of {', '.join(map(repr, COMBINE))}, got {combine!r}")
    gen = make_rng(rng, n_boot, level)
    sizes = sorted(curves, key=float)
    if len(sizes) < 2:
        raise TooFewPointsError(
            f"binder_crossing needs >= 2 system sizes, got {len(sizes)} ({sizes}); "
            "run the sweep at a second size too, e.g. data.L=8,16"
        )
    stderr = stderr or {}
    tabs = {L: table(x, curves[L], stderr.get(L)) for L in sizes}
    pairs = [(l1, l2) for i, l1 in enumerate(sizes) for l2 in sizes[i + 1 :]]
    used = [(sizes[-2], sizes[-1])] if combine == "largest" else pairs
    boots = {L: bootstrap_means(tab, n_boot, gen) for L, tab in tabs.items()}
    found, draws, fitted = {}, [], {}
    for l1, l2 in pairs:
        xc, i1, i2 = np.intersect1d(tabs[l1].x, tabs[l2].x, return_indices=True)
        if (l1, l2) not in used and xc.size < 3:
            found[f"{l1}-{l2}"] = math.nan  # only listed in details
            continue
        require_points(xc, 3, f"binder_crossing for L={l1} and L={l2}", axis)
        d = (tabs[l2].mean()[i2] - tabs[l1].mean()[i1])[None, :]
        how = interpolation
        if how == "fit":  # the chord's root centres the fit window; too few points there: the cubic
            guess = float(crossing_batch(xc, d, "linear")[0])
            half = window if window is not None else 0.1 * float(xc[-1] - xc[0])
            near = int(np.sum(np.abs(xc - guess) <= half)) if math.isfinite(guess) else 0
            how = "fit" if near >= FIT_POINTS else "cubic"
            fitted[f"{l1}-{l2}"] = near if how == "fit" else f"cubic: {near} of the {FIT_POINTS} points a fit needs"
        roots = fitted_root(xc, d, guess, half) if how == "fit" else crossing_batch(xc, d, how)
        found[f"{l1}-{l2}"] = crossing = float(roots[0])
        if not math.isfinite(crossing) and (l1, l2) in used:
            sign = "+" if d[0, 0] > 0 else "-"
            raise NoCrossingError(
                f"binder_crossing: U_{l2} - U_{l1} keeps the sign {sign} over {axis or 'x'} in "
                f"[{xc[0]:g}, {xc[-1]:g}], so the curves do not cross inside the sweep; extend the sweep "
                "past the transition on both sides, or check that the curves are labelled by the right L"
            )
        if (l1, l2) in used:
            bd = boots[l2][:, i2] - boots[l1][:, i1]
            draws.append(fitted_root(xc, bd, guess, half) if how == "fit" else crossing_batch(xc, bd, how))
    location = float(np.mean([found[f"{l1}-{l2}"] for l1, l2 in used]))
    with np.errstate(invalid="ignore"):
        combined = np.mean(draws, axis=0)  # NaN where any used pair failed to cross
    details = {
        "combine": combine,
        "sizes": sizes,
        "pairs": found,
        "binder_at_crossing": float(np.interp(location, tabs[sizes[-1]].x, tabs[sizes[-1]].mean())),
    } | ({"fit_points": fitted} if fitted else {})
    used_sizes = sorted({L for pair in used for L in pair}, key=float)
    means = np.concatenate([boots[L] for L in used_sizes], axis=1)
    dof = np.concatenate([dof_of(tabs[L]) for L in used_sizes])
    return interval("binder_crossing", location, combined, level, details, means, dof)
