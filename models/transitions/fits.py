"""Curve fits batched over bootstrap draws: one call fits every resampled curve at once.

Each function takes the grid `x` and a stack of curves (n_curves, n_x) and returns one location per curve
(NaN where the fit fails), so the estimators in `models.transitions.estimators` bootstrap without a Python loop.
"""

from __future__ import annotations

import math

import numpy as np


def peak_batch(x: np.ndarray, curves: np.ndarray, shape: str, hw: int) -> np.ndarray:
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


def steepest_difference(x: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """Midpoint of the interval with the largest |Δm/Δx|, for each curve."""
    slope = np.abs(np.diff(curves, axis=1) / np.diff(x))
    i = np.argmax(slope, axis=1)
    return 0.5 * (x[i] + x[i + 1])


def tanh_starts(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Starting points (a, b, x₀, w) for the tanh fit: x₀ at the steepest difference and at the quartiles
    of the range, each with w a twentieth and a fifth of the range."""
    quarter = max(1, x.size // 4)
    low, high = m[:quarter].mean(), m[-quarter:].mean()
    span = x[-1] - x[0]
    centres = [steepest_difference(x, m[None, :])[0], *(x[0] + span * np.array([0.25, 0.5, 0.75]))]
    return np.array([[(low + high) / 2, (high - low) / 2, c, w] for c in centres for w in (span / 20, span / 5)])


def fit_tanh(x: np.ndarray, curves: np.ndarray, p0: np.ndarray, iterations: int = 200):
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


def crossing_batch(x: np.ndarray, d: np.ndarray, interpolation: str = "cubic") -> np.ndarray:
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
        root = cubic_root(x, d, i, root)
    return np.where(changes[rows, i], root, np.nan)


def cubic_root(x: np.ndarray, d: np.ndarray, i: np.ndarray, guess: np.ndarray) -> np.ndarray:
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


def fitted_root(x: np.ndarray, d: np.ndarray, guess: float, window: float, degree: int = 2) -> np.ndarray:
    """Root near `guess` of the least-squares polynomial of `degree` through each row of d, fitted on the
    points within `window` of the guess (at least degree + 2 of them: the nearest ones where the window
    holds fewer). Unlike an interpolating cubic, whose root carries the noise of its 4 nodes however dense
    the grid, the fitted root averages every point near the crossing, so its error falls as 1/√n with the
    number of points there (the least-squares root, x* = x̂ where p̂(x̂) = 0). All rows share the points.

    The polynomial is p(u) = Σ_k c_k u^k in u = (x − guess)/window; of its real roots the one nearest u = 0
    is returned (NaN where it has none within the window's span of the fitted points).
    """
    near = np.abs(x - guess) <= window
    if near.sum() < degree + 2:
        near = np.zeros(x.size, dtype=bool)
        near[np.argsort(np.abs(x - guess))[: degree + 2]] = True
    u = (x[near] - guess) / window
    coef = np.linalg.lstsq(u[:, None] ** np.arange(degree + 1), d[:, near].T, rcond=None)[0].T
    span = np.max(np.abs(u))
    if degree == 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            root = -coef[:, 0] / coef[:, 1]
    else:
        root = np.full(d.shape[0], np.nan)
        for r, c in enumerate(coef):
            roots = np.roots(c[::-1])
            real = roots[np.abs(roots.imag) < 1e-12].real
            if real.size:
                root[r] = real[np.argmin(np.abs(real))]
    root = np.where(np.abs(root) <= span, root, np.nan)
    return guess + window * root
