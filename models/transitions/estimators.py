"""Where an observable changes sharply along a swept axis, with bootstrap confidence intervals.

A sweep measures an observable y at values x of one axis (temperature, width, learning rate), with
several replicas (seeds) per x. Four estimators locate a transition:

* :func:`peak_location`: the maximum of a susceptibility-like curve χ(x), refined by a least-squares
  parabola through the grid maximum and its neighbours, x* = x_i − c₁/(2c₂) for χ ≈ c₀ + c₁u + c₂u²,
  u = x − x_i (``shape="gaussian"`` fits log χ, exact for a Gaussian peak; ``"lorentzian"`` fits −1/χ,
  exact for a Lorentzian A/(1 + ((x−x₀)/γ)²)).
* :func:`steepest_change`: the centre x₀ of an order parameter fitted as m(x) = a + b·tanh((x − x₀)/w),
  with w the width of the change (its sharpness); the midpoint of the largest |Δm/Δx| when the fit fails.
* :func:`onset_location`: the corner x₀ of a curve flat on one side and rising on the other (a kink),
  fitted as a rounded hinge y(x) = a + s·w·softplus((x − x₀)/w), with slope s, rounding width w and
  sharpness s/w (the catapult's peak loss along η·λ₀: Lewkowycz et al. 2020, arXiv:2003.02218).
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


# ----------------------------------------------------------------------------- onset (rounded hinge)
ONSET_P_VALUE = 0.01
"""The hinge must beat both a constant and a straight line by an F-test at this p-value
(`onset_location`), else there is no onset to locate (`NoOnsetError`)."""
ONSET_W_MIN = 1 / 20
"""Smallest rounding width w the hinge fit allows, as a fraction of the smallest grid spacing."""


class NoOnsetError(ValueError):
    """The curve has no onset inside the fitted range: it is flat, straight, or bends at an edge."""


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def _hinge(u: np.ndarray, a, s, u0, w) -> np.ndarray:
    """y(u) = a + s·w·softplus((u − u₀)/w), broadcast over the parameters."""
    return a + s * w * _softplus((u - u0) / w)


def _hinge_grid(u: np.ndarray, curves: np.ndarray, u0_grid: np.ndarray, w_grid: np.ndarray) -> np.ndarray:
    """The best (a, s, u₀, w) of each curve (B, n) over the (u₀, w) grid, a and s by linear least squares
    (profiled: for fixed u₀ and w the hinge is linear in a and s)."""
    u0s, ws = (g.ravel() for g in np.meshgrid(u0_grid, w_grid, indexing="ij"))
    f = ws[:, None] * _softplus((u[None, :] - u0s[:, None]) / ws[:, None])  # (G, n)
    fc = f - f.mean(axis=1, keepdims=True)
    norm2 = np.sum(fc * fc, axis=1)
    proj = fc @ (curves - curves.mean(axis=1, keepdims=True)).T  # (G, B)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(norm2[:, None] > 1e-300, proj * proj / norm2[:, None], -np.inf)
    g = np.argmax(gain, axis=0)
    s = proj[g, np.arange(curves.shape[0])] / norm2[g]
    a = curves.mean(axis=1) - s * f[g].mean(axis=1)
    return np.stack([a, s, u0s[g], ws[g]], axis=1)


def _hinge_refine(u: np.ndarray, y: np.ndarray, p0: np.ndarray, u0_range, w_range) -> tuple[np.ndarray, float]:
    """Least-squares hinge (a, s, u₀, w) from the grid's best `p0`, u₀ and w kept in their ranges (w as
    ln w). Returns the parameters and the residual sum of squares; `p0` itself where it fits better."""
    from scipy.optimize import least_squares

    lw_lo, lw_hi = math.log(w_range[0]), math.log(w_range[1])

    def residuals(q):
        return _hinge(u, q[0], q[1], q[2], math.exp(q[3])) - y

    def jacobian(q):
        w = math.exp(q[3])
        z = (u - q[2]) / w
        sp, sig = _softplus(z), 0.5 * (1 + np.tanh(z / 2))  # softplus and its derivative, the logistic
        return np.stack([np.ones_like(u), w * sp, -q[1] * sig, q[1] * w * (sp - z * sig)], axis=1)

    lo = np.array([-np.inf, -np.inf, u0_range[0], lw_lo])
    hi = np.array([np.inf, np.inf, u0_range[1], lw_hi])
    start = np.array([p0[0], p0[1], p0[2], math.log(p0[3])])
    margin = 1e-9 * (hi[2:] - lo[2:])
    start[2:] = np.clip(start[2:], lo[2:] + margin, hi[2:] - margin)
    sse0 = float(np.sum(residuals(start) ** 2))
    try:
        fit = least_squares(residuals, start, jac=jacobian, bounds=(lo, hi), method="trf", x_scale="jac")
        q, sse = fit.x, 2 * float(fit.cost)
    except (ValueError, np.linalg.LinAlgError):
        q, sse = start, sse0
    if not (np.all(np.isfinite(q)) and sse <= sse0):
        q, sse = start, sse0
    return np.array([q[0], q[1], q[2], math.exp(q[3])]), sse


def _line_sse(u: np.ndarray, y: np.ndarray) -> float:
    design = np.stack([np.ones_like(u), u], axis=1)
    return float(np.sum((design @ np.linalg.lstsq(design, y, rcond=None)[0] - y) ** 2))


def _f_test(sse_simple: float, sse_hinge: float, extra: int, dof: int) -> float:
    """p-value of the hinge's improvement over a nested model with `extra` fewer parameters."""
    from scipy import stats

    gain = sse_simple - sse_hinge
    if not gain > 1e-12 * max(sse_simple, 1e-300):  # no improvement, also for noiseless curves
        return 1.0
    if sse_hinge <= 1e-24 * sse_simple or dof <= 0:
        return 0.0
    return float(stats.f.sf((gain / extra) / (sse_hinge / dof), extra, dof))


def onset_location(
    x,
    y,
    *,
    stderr=None,
    upper: float | None = None,
    n_boot: int = 500,
    level: float = 0.95,
    rng=None,
    axis: str | None = None,
) -> TransitionEstimate:
    """Onset x₀ of a curve that is flat on one side and rises (or falls) linearly on the other: a kink,
    fitted as a rounded hinge ("softplus onset")

        y(x) = a + s·w·softplus((x − x₀)/w),   softplus(z) = ln(1 + e^z),

    flat at a for x ≪ x₀, slope s for x ≫ x₀, the corner rounded over a width w; x₀ is where the two
    asymptotes meet. This is the shape of the catapult's log peak loss along η·λ₀: at infinite width the
    loss never rises below η·λ₀ = 2 and grows past it, a kink at 2 (Lewkowycz et al. 2020,
    arXiv:2003.02218); a finite width rounds the kink, and may delay it. A tanh fitted to a kink takes
    the rise for a step and puts its centre halfway up the rise, past the corner.

    **Sharpness.** ``details["sharpness"]`` is s / max(w, Δ/2), with Δ the grid spacing around x₀: the
    change of slope s over the width w it takes. It is 4 × the curvature y''(x₀) = s/(4w) at the corner,
    so it grows both with a steeper rise and with a tighter corner. A rounding narrower than half the grid
    spacing cannot be told from a sharper one (the points either side of the corner fit both), so w is
    floored at Δ/2 there: ``details["grid_limited"]`` is then True and the sharpness a lower bound.

    **Fit.** Profiled over a grid of (x₀, w), with a and s by linear least squares at each grid point
    (the hinge is linear in them), then refined by scipy's bounded least squares; every bootstrap curve
    is fitted the same way. x₀ is kept within the fitted points and w within [Δ_min/20, span], Δ_min the
    smallest grid spacing; ``details["width_at_bound"]`` says "lower" ("sharper than the grid
    resolves") or "upper" (curved over the whole range: no corner) when w ends at a bound.

    **Range.** Only points with x ≤ ``upper`` are fitted (all without it); NaN values (missing runs) are
    dropped. It needs 6 distinct x (4 parameters, and 2 degrees of freedom left for the F-tests below).
    Past the onset regime a curve may change shape again (the catapult diverges at a larger step, and the
    log peak loss then measures the divergence cut-off), so ``upper`` ends the fit before that;
    `pipelines.analyze` sets it to the last x at which no run diverged. A rise that bends over past the
    corner (concave, as the catapult's does) gives a fitted slope below the initial one, so the line
    meets the flat level, and x₀ lands, before the corner; the further the fit reaches, the more.

    **No onset.** The hinge has to beat a constant (3 more parameters) and a straight line (2 more) by
    F-tests at p < `ONSET_P_VALUE`, and its corner has to have two points on either side. Otherwise this
    raises `NoOnsetError` (a ValueError) saying which: a flat curve, a straight one, or a corner at the
    edge of the fitted range.

    ``details``: ``slope`` s and ``slope_ci``, ``width`` w and ``width_ci``, ``sharpness`` and
    ``sharpness_ci`` (each from the bootstrap draws, percentile intervals), ``offset`` a,
    ``width_at_bound``, ``width_at_bound_draws`` (the fraction of draws whose w is at its lower bound),
    ``grid_limited``, ``fit_range`` (the x span fitted), ``p_flat`` and ``p_line`` (the F-tests'
    p-values), ``n_x``.
    """
    gen = make_rng(rng, n_boot, level)
    tab = table(x, y, stderr)
    if upper is not None:
        keep = tab.x <= upper
        tab = tab._replace(x=tab.x[keep], Y=tab.Y[keep], S=tab.S[keep], n=tab.n[keep])
    require_points(tab.x, 6, "onset_location", axis)
    u = tab.x
    spacing = np.diff(u)
    span = float(u[-1] - u[0])
    w_range = (float(spacing.min()) * ONSET_W_MIN, span)
    u0_range = (float(u[0]), float(u[-1]))
    n_u0 = int(min(400, max(50, math.ceil(8 * span / spacing.min()))))
    u0_grid = np.linspace(*u0_range, n_u0)
    w_grid = np.geomspace(*w_range, 24)

    mean = tab.mean()
    params, sse = _hinge_refine(u, mean, _hinge_grid(u, mean[None, :], u0_grid, w_grid)[0], u0_range, w_range)
    a, s, u0, w = params
    dof = u.size - 4
    sse_flat = float(np.sum((mean - mean.mean()) ** 2))
    p_flat = _f_test(sse_flat, sse, 3, dof)
    p_line = _f_test(_line_sse(u, mean), sse, 2, dof)
    where = f"{axis or 'x'} in [{u[0]:g}, {u[-1]:g}]"
    if p_flat >= ONSET_P_VALUE:
        raise NoOnsetError(
            f"onset_location: the curve is flat over {where} (a hinge fits no better than a constant, "
            f"F-test p = {p_flat:.2g}); there is no onset to locate"
        )
    if p_line >= ONSET_P_VALUE:
        raise NoOnsetError(
            f"onset_location: the curve is straight over {where} (a hinge fits no better than a line, "
            f"F-test p = {p_line:.2g}); extend the sweep to where it is flat"
        )
    below, above = int(np.sum(u < u0)), int(np.sum(u > u0))
    if below < 2 or above < 2:
        side = "below" if below < 2 else "above"
        raise NoOnsetError(
            f"onset_location: the fitted corner at {u0:.4g} has {min(below, above)} point(s) {side} it over "
            f"{where}; the onset is not inside the sweep, extend it {side} {u0:.4g}"
        )

    def resolved(u0s: np.ndarray) -> np.ndarray:
        """Half the grid spacing around each corner: the narrowest rounding the grid resolves there."""
        i = np.clip(np.searchsorted(u, u0s, side="right") - 1, 0, u.size - 2)
        return spacing[i] / 2

    boot = bootstrap_means(tab, n_boot, gen)
    bparams = np.full((n_boot, 4), np.nan)
    if n_boot:
        starts = _hinge_grid(u, boot, u0_grid, w_grid)
        for b in range(n_boot):
            if np.all(np.isfinite(boot[b])):
                bparams[b] = _hinge_refine(u, boot[b], starts[b], u0_range, w_range)[0]
    floor = float(resolved(np.array([u0]))[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        bsharp = bparams[:, 1] / np.maximum(bparams[:, 3], resolved(bparams[:, 2]))

    def ci(values: np.ndarray) -> list[float]:
        values = values[np.isfinite(values)]
        return list(np.quantile(values, [(1 - level) / 2, (1 + level) / 2])) if values.size >= 2 else [math.nan] * 2

    at_bound = None  # the bounded fit stops just inside its bounds: within 1 % counts as on them
    if w <= w_range[0] * 1.01:
        at_bound = "lower"
    elif w >= w_range[1] / 1.01:
        at_bound = "upper"
    details = {
        "slope": s,
        "slope_ci": ci(bparams[:, 1]),
        "width": w,
        "width_ci": ci(bparams[:, 3]),
        "sharpness": s / max(w, floor),
        "sharpness_ci": ci(bsharp),
        "offset": a,
        "width_at_bound": at_bound,
        "width_at_bound_draws": float(np.mean(bparams[:, 3] <= w_range[0] * 1.01)) if n_boot else math.nan,
        "grid_limited": bool(w < floor),
        "fit_range": [u[0], u[-1]],
        "p_flat": p_flat,
        "p_line": p_line,
        "n_x": u.size,
    }
    return interval("onset_location", float(u0), bparams[:, 2], level, details, boot, dof_of(tab))
