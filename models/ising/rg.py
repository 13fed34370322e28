"""Kadanoff block spins and Swendsen's matching for the real-space renormalization group (RG).

Block transform (Kadanoff 1966; majority rule as in Niemeijer and van Leeuwen 1976): the lattice
is cut into b×b blocks I and each block gets the spin of its majority,

    s'_I = sign(S_I),   S_I = Σ_{i ∈ I} s_i,

a tied block (S_I = 0, possible for even b) taking a random sign. Blocking L → L/b → L/b² … maps
the model at temperature T to a model with renormalized couplings at a coarser scale: below T_c
the blocked lattice is more ordered (flow to T = 0), above T_c less (flow to T = ∞), and at T_c
the critical fixed point leaves short-range correlations of the block spins unchanged.

Matching (R. H. Swendsen, PRL 42, 859 (1979)): a lattice of side L blocked n times and one of
side L/b blocked n − 1 times end at the same size, so a short-range observable K (here the
nearest- or next-nearest-neighbour correlation of the final block spins) agrees between them,
K_L(T) = K_{L/b}(T′), exactly when the first blocking step has mapped T to T′. This defines the
RG map T → T′ projected on the temperature axis; its fixed point T* is where the two curves cross,
K_L(T*) = K_{L/b}(T*), and its eigenvalue in the thermal direction gives ν:

    λ_T = dT′/dT |_{T*} = K_L′(T*) / K_{L/b}′(T*)   (differentiate K_L(T) = K_{L/b}(T′(T))),
    ν   = ln b / ln λ_T                              (λ_T = b^{y_t}, y_t = 1/ν).

The matching functions below are pure functions of a temperature grid and two `Curve`s (arrays
of values and stderrs, optionally of slopes dK/dT). Each curve is a weighted least-squares
polynomial in T fitted to its values and, when given, to its slopes, measured directly as the
response dK/dT = Cov(K, H₀)/T² (`level_observables`): they pin λ_T without differentiating
noisy values. Deep blocking makes K(T) steep at T*, so fit a window of temperatures around the
crossing where a cubic follows it (χ²/dof is reported). Confidence intervals come from a
parametric bootstrap that redraws every value (and slope) within its standard error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.interpolate import PPoly

from models.ising.checks import check_chains, check_int
from models.ising.exact import binder_crossing
from models.ising.sampler import energy_per_spin
from models.ising.stats import Estimate, _jackknife, integrated_autocorr_time, observables


# --------------------------------------------------------------------------- block spins
def block_spins(spins: torch.Tensor, b: int = 2, generator: torch.Generator | None = None) -> torch.Tensor:
    """Majority-rule block spins s'_I = sign(Σ_{i∈I} s_i) of ±1 spins (n, L, L) → (n, L/b, L/b).

    Block I = (I₁, I₂) holds the sites (b·I₁ + a, b·I₂ + c), 0 ≤ a, c < b. For even b a block
    can tie (sum 0); it then takes the sign 2·r_I − 1 of the bit r_I of
    `torch.randint(0, 2, (n, L/b, L/b), generator=generator)`, drawn for every block, tied or
    not, so the stream consumed never depends on the configuration. The result has the dtype and
    device of `spins`.
    """
    b = check_int("b", b, 2)
    if spins.dim() != 3 or spins.shape[-1] != spins.shape[-2]:
        raise ValueError(f"spins must have shape (n, L, L), got {tuple(spins.shape)}")
    n, L = spins.shape[0], spins.shape[-1]
    if L % b:
        raise ValueError(
            f"L = {L} is not divisible by the block size b = {b}; use a lattice whose side is a "
            f"multiple of b (e.g. L = {b * max(1, L // b)}) or another b"
        )
    if b % 2 == 0 and generator is None:
        raise ValueError(
            f"block_spins with even b = {b} needs a generator: a tied b×b block (sum 0) takes a random "
            "sign; pass generator=torch.Generator(device=spins.device).manual_seed(seed)"
        )
    m = L // b
    sums = spins.reshape(n, m, b, m, b).sum(dim=(2, 4), dtype=torch.int32)
    out = torch.sign(sums)
    if generator is not None:
        coin = torch.randint(0, 2, (n, m, m), generator=generator, device=spins.device, dtype=torch.int32)
        out = torch.where(sums == 0, 2 * coin - 1, out)
    return out.to(spins.dtype)


def block_levels(
    spins: torch.Tensor, b: int = 2, min_size: int = 4, generator: torch.Generator | None = None
) -> list[torch.Tensor]:
    """Repeated blocking L → L/b → L/b² …: the list [level 0 = spins, level 1, …].

    Blocking continues while the next side is an integer ≥ min_size, so the last level has side
    ≥ min_size (e.g. L = 64, b = 2, min_size = 4 gives sides 64, 32, 16, 8, 4). Levels are drawn
    in order from one generator, so a seed fixes them all.
    """
    b = check_int("b", b, 2)
    min_size = check_int("min_size", min_size, 2)
    levels = [spins]
    while levels[-1].shape[-1] % b == 0 and levels[-1].shape[-1] // b >= min_size:
        levels.append(block_spins(levels[-1], b, generator))
    return levels


def neighbour_correlations(spins: torch.Tensor) -> torch.Tensor:
    """Per-configuration correlations, float64 (n, 2), periodic boundaries, N = L²:

    G_nn  = (1/2N) Σ_i s_i (s_{i+x} + s_{i+y})       = −e/2  (e = H/N, `energy_per_spin`),
    G_nnn = (1/2N) Σ_i s_i (s_{i+x+y} + s_{i+x−y})   (both diagonals).
    """
    s = spins.to(torch.float64)
    right, down = torch.roll(s, -1, -1), torch.roll(s, -1, -2)
    nn = (s * (right + down)).mean(dim=(-2, -1)) / 2
    nnn = (s * (torch.roll(right, -1, -2) + torch.roll(right, 1, -2))).mean(dim=(-2, -1)) / 2
    return torch.stack([nn, nnn], dim=-1)


@dataclass(frozen=True)
class BlockObservables:
    """Estimates on one blocking level (side L = L₀/b^level): ⟨|m|⟩, Binder U₄ = 1 − ⟨m⁴⟩/(3⟨m²⟩²),
    energy per spin e, the correlations G_nn, G_nnn of `neighbour_correlations`, and their
    temperature derivatives dG/dT = (⟨G H₀⟩ − ⟨G⟩⟨H₀⟩)/T², H₀ the energy of the unblocked lattice
    (d⟨G⟩/dβ = −Cov(G, H₀); the block-spin response of Swendsen's MCRG)."""

    level: int
    L: int
    abs_magnetization: Estimate
    binder: Estimate
    energy: Estimate
    nn_correlation: Estimate
    nnn_correlation: Estimate
    nn_slope: Estimate
    nnn_slope: Estimate


def _mean_estimate(series: np.ndarray) -> Estimate:
    """Mean of (chains, k) series; error² = τ_int·Var/n with τ_int ≥ 1, as in `observables`."""
    tau = max(integrated_autocorr_time(series, tol=10), 1.0) if series.shape[1] > 1 else 1.0
    return Estimate(float(series.mean()), float(math.sqrt(tau * series.var(ddof=1) / series.size)))


def _slope_estimate(g: np.ndarray, energy: np.ndarray, T: float) -> Estimate:
    """dG/dT = Cov(G, H₀)/T² from (chains, k) series; delete-one-block jackknife error over ≥ 20
    contiguous blocks (one per chain when chains ≥ 20), which absorbs the autocorrelation."""
    h = energy - energy.mean()
    prims = np.stack([g, h, g * h], axis=-1)  # (chains, k, 3)
    chains, k = g.shape
    per_chain = min(k, -(-20 // chains))
    block = np.arange(k) * per_chain // k
    sums = np.stack([prims[:, block == j].sum(1) for j in range(per_chain)], 1).reshape(-1, 3)
    counts = np.tile(np.bincount(block, minlength=per_chain), chains).astype(np.float64)
    f = lambda x: (x[2] - x[0] * x[1]) / T**2  # noqa: E731
    return Estimate(float(f(prims.reshape(-1, 3).mean(0))), _jackknife(sums, counts, f))


def level_observables(
    levels: list[torch.Tensor], T: float, *, chains: int = 1, skip: int = 0
) -> list[BlockObservables]:
    """Observables with standard errors on every level of `block_levels` (levels[0] unblocked), or on
    levels[skip:] only (levels[0] is still read: the slopes need the unblocked energy H₀).

    Each level keeps the chain-major layout of its input (`chains` equal time series), so ⟨|m|⟩,
    U₄ and e come from `observables(level, T, chains=chains)` (autocorrelation-aware errors and a
    block jackknife for U₄), G_nn, G_nnn get the τ_int-corrected error of ⟨e⟩, and their slopes a
    jackknife error (`_slope_estimate`).
    """
    n = levels[0].shape[0]
    chains = check_chains(check_int("chains", chains, 1), n)
    energy = (energy_per_spin(levels[0].cpu()).double() * levels[0].shape[-1] ** 2).numpy().reshape(chains, -1)
    out = []
    for level, spins in enumerate(levels):
        if level < skip:
            continue
        obs = observables(spins.cpu(), T, chains=chains)
        corr = neighbour_correlations(spins.cpu()).numpy().reshape(chains, n // chains, 2)
        out.append(
            BlockObservables(
                level=level,
                L=spins.shape[-1],
                abs_magnetization=obs.abs_magnetization,
                binder=obs.binder,
                energy=obs.energy,
                nn_correlation=_mean_estimate(corr[..., 0]),
                nnn_correlation=_mean_estimate(corr[..., 1]),
                nn_slope=_slope_estimate(corr[..., 0], energy, T),
                nnn_slope=_slope_estimate(corr[..., 1], energy, T),
            )
        )
    return out


# ------------------------------------------------------------------- Swendsen's matching
@dataclass(frozen=True)
class Curve:
    """A measured K(T) on a temperature grid: values ± stderrs, optionally slopes dK/dT ± stderrs.

    The matching functions fit one polynomial to the values and, when given, the slopes."""

    values: np.ndarray
    stderrs: np.ndarray
    slopes: np.ndarray | None = None
    slope_stderrs: np.ndarray | None = None

    @classmethod
    def from_estimates(cls, values: list[Estimate], slopes: list[Estimate] | None = None) -> Curve:
        arr = lambda es, f: np.array([getattr(e, f) for e in es], dtype=np.float64)  # noqa: E731
        if slopes is None:
            return cls(arr(values, "value"), arr(values, "stderr"))
        return cls(arr(values, "value"), arr(values, "stderr"), arr(slopes, "value"), arr(slopes, "stderr"))

    def redraw(self, rng: np.random.Generator, scale: float = 1.0) -> Curve:
        """A bootstrap replica: every value (and slope) moved by scale·stderr·ξ, ξ ~ N(0, 1)."""
        new = lambda x, e: None if x is None else x + scale * e * rng.standard_normal(len(x))  # noqa: E731
        slopes = new(self.slopes, self.slope_stderrs)
        return Curve(new(self.values, self.stderrs), self.stderrs, slopes, self.slope_stderrs)


def _design(t: np.ndarray, curve: Curve, deg: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares system A c ≈ y for K(T) = Σ_k c_k (T − t₀)^k: one row per value
    (weight 1/σ) and, with slopes, one row per slope K′(T_i) = Σ_k k c_k (T_i − t₀)^{k−1} (weight 1/σ′)."""
    x, k = t - t[0], np.arange(deg + 1)
    rows, ys = [x[:, None] ** k / curve.stderrs[:, None]], [curve.values / curve.stderrs]
    if curve.slopes is not None:
        d = np.where(k > 0, k * x[:, None] ** np.maximum(k - 1, 0), 0.0)
        rows.append(d / curve.slope_stderrs[:, None])
        ys.append(curve.slopes / curve.slope_stderrs)
    return np.concatenate(rows), np.concatenate(ys)


def _model(t: np.ndarray, curve: Curve, deg: int) -> PPoly:
    """K(T) on [t₀, t_last]: the polynomial of degree deg fitted to the values (and slopes)."""
    A, y = _design(t, curve, deg)
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    return PPoly(coef[::-1, None], [t[0], t[-1]])


def _chi2_dof(t: np.ndarray, curve: Curve, deg: int) -> float:
    """χ²/dof of the fit (nan with no degrees of freedom left)."""
    A, y = _design(t, curve, deg)
    dof = len(y) - deg - 1
    resid = A @ np.linalg.lstsq(A, y, rcond=None)[0] - y
    return float(resid @ resid / dof) if dof > 0 else float("nan")


def _nearest_root(pp: PPoly, guess: float) -> float:
    roots = pp.roots(extrapolate=False)
    roots = roots[np.isfinite(roots)]
    return float(roots[np.argmin(np.abs(roots - guess))]) if len(roots) else float("nan")


def _solve(t: np.ndarray, large: PPoly, small: PPoly, guess: float) -> tuple[float, float]:
    """(T*, λ_T): the crossing of the two models nearest `guess` and the ratio of their slopes there."""
    t_star = _nearest_root(PPoly(large.c - small.c, large.x), guess)
    if not math.isfinite(t_star):
        return t_star, float("nan")
    return t_star, float(large.derivative()(t_star) / small.derivative()(t_star))


def _check(temperatures, large: Curve, small: Curve, deg: int) -> np.ndarray:
    t = np.asarray(temperatures, dtype=np.float64)
    shapes = [np.shape(x) for c in (large, small) for x in (c.values, c.stderrs)]
    if (large.slopes is None) != (small.slopes is None):
        raise ValueError("give slopes for both curves or for neither: both are fitted the same way")
    n_data = len(t) * (1 if large.slopes is None else 2) if t.ndim == 1 else 0
    if t.ndim != 1 or len(t) < 2 or n_data <= deg or np.any(np.diff(t) <= 0) or any(s != t.shape for s in shapes):
        raise ValueError(
            f"temperatures must increase and give more data (values, and slopes if any) than deg = {deg}, with "
            f"values and stderrs of the same shape {t.shape}, got {shapes}; measure more temperatures or lower deg"
        )
    if not all(np.all(np.asarray(c.stderrs) > 0) for c in (large, small)):
        raise ValueError("stderrs must be > 0; they weight the fits and set the bootstrap noise")
    return t


def _guess(t: np.ndarray, large: Curve, small: Curve) -> float:
    linear = binder_crossing(t, small.values, large.values)  # the data's own linear crossing
    return linear if math.isfinite(linear) else float(np.median(t))


def fixed_point(temperatures, large: Curve, small: Curve, *, deg: int = 3) -> float:
    """T* where K_L(T) = K_{L/b}(T) inside the measured range (the crossing nearest the data's linear
    one if the models cross more than once; nan if they do not cross). `large` is the lattice of side
    L blocked n times, `small` the one of side L/b blocked n − 1 times."""
    t = _check(temperatures, large, small, deg)
    return _solve(t, _model(t, large, deg), _model(t, small, deg), _guess(t, large, small))[0]


def rg_map(temperatures, large: Curve, small: Curve, *, deg: int = 3) -> np.ndarray:
    """The RG map T → T′ at each measured T: the root of K_{L/b}(T′) = K_L(T) inside the measured range
    (nearest to T if several), nan where T′ falls outside it. Near T*, T′ − T* ≈ λ_T (T − T*)."""
    t = _check(temperatures, large, small, deg)
    m_large, m_small = _model(t, large, deg), _model(t, small, deg)
    out = np.full(len(t), np.nan)
    for i, T in enumerate(t):
        shifted = m_small.c.copy()
        shifted[-1] -= m_large(T)  # the last row holds the constant terms
        out[i] = _nearest_root(PPoly(shifted, m_small.x), T)
    return out


@dataclass(frozen=True)
class RGFixedPoint:
    """Swendsen-matching estimates with (confidence)-level percentile bootstrap intervals: fixed
    point T*, thermal eigenvalue λ_T = dT′/dT at T*, exponent ν = ln b / ln λ_T. `draws` counts the
    bootstrap draws whose curves crossed in range; `chi2_dof` is χ²/dof of the (large, small) fits
    (≫ 1: the polynomial misses the curve's shape; narrow the window of temperatures)."""

    t_star: float
    t_star_ci: tuple[float, float]
    eigenvalue: float
    eigenvalue_ci: tuple[float, float]
    nu: float
    nu_ci: tuple[float, float]
    chi2_dof: tuple[float, float]
    b: int
    draws: int
    confidence: float


def _nu(eigenvalue: float, b: int) -> float:
    """ν = ln b / ln λ_T; inf at λ_T ≤ 1 (no relevant thermal direction resolved)."""
    return math.log(b) / math.log(eigenvalue) if eigenvalue > 1 else float("inf")


def rg_fixed_point(
    temperatures,
    large: Curve,
    small: Curve,
    *,
    b: int,
    deg: int = 3,
    draws: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> RGFixedPoint:
    """T*, λ_T and ν from matched curves K_L (side L blocked n times) and K_{L/b} (side L/b blocked
    n − 1 times), with percentile intervals from a parametric bootstrap.

    Point estimates use the measured curves. Each of `draws` bootstrap draws replaces every value
    K(T_i) (and slope) by K(T_i) + s·σ_i ξ_i, ξ_i ~ N(0, 1) from `np.random.default_rng(seed)`, and
    solves again; draws whose curves do not cross in range are dropped (`draws` counts the rest).
    s = max(1, √(χ²/dof)) of that curve's fit (the Birge ratio, as in the PDG's scale factor) widens
    the interval when the polynomial misses the data. ν's
    interval maps λ_T's through ν = ln b / ln λ_T (monotone); λ_T ≤ 1 gives ν's upper end inf.
    """
    b = check_int("b", b, 2)
    draws = check_int("draws", draws, 0)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}; e.g. 0.95 for a 95 % interval")
    t = _check(temperatures, large, small, deg)
    t_star, lam = _solve(t, _model(t, large, deg), _model(t, small, deg), _guess(t, large, small))
    chi2 = (_chi2_dof(t, large, deg), _chi2_dof(t, small, deg))
    scales = [math.sqrt(max(1.0, c)) if math.isfinite(c) else 1.0 for c in chi2]
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(draws):
        models = [_model(t, c.redraw(rng, s), deg) for c, s in zip((large, small), scales, strict=True)]
        sol = _solve(t, *models, t_star if math.isfinite(t_star) else _guess(t, large, small))
        if math.isfinite(sol[0]):
            boot.append(sol)
    q = (50 * (1 - confidence), 50 * (1 + confidence))
    ci = [tuple(float(v) for v in np.percentile(np.array(boot)[:, i], q)) if boot else (math.nan,) * 2 for i in (0, 1)]
    return RGFixedPoint(
        t_star=t_star,
        t_star_ci=ci[0],
        eigenvalue=lam,
        eigenvalue_ci=ci[1],
        nu=_nu(lam, b) if math.isfinite(lam) else math.nan,
        nu_ci=(_nu(ci[1][1], b), _nu(ci[1][0], b)) if boot else (math.nan, math.nan),
        chi2_dof=chi2,
        b=b,
        draws=len(boot),
        confidence=confidence,
    )


def nearest_window(temperatures, large: Curve, small: Curve, points: int = 4) -> tuple[np.ndarray, Curve, Curve]:
    """The `points` temperatures nearest the linear crossing of the two curves, and the curves there: a
    cubic can follow the steep curves of deeply blocked lattices over a few temperatures, not over the
    whole sweep (its χ²/dof says when it cannot)."""
    t = np.asarray(temperatures, dtype=np.float64)
    guess = binder_crossing(t, small.values, large.values)
    if not math.isfinite(guess):
        raise ValueError(
            f"the matched curves do not cross in [{t[0]:g}, {t[-1]:g}]: sweep temperatures on both sides of T*"
        )
    idx = np.sort(np.argsort(np.abs(t - guess))[:points])
    fields = ("values", "stderrs", "slopes", "slope_stderrs")
    take = lambda c: Curve(*(None if getattr(c, f) is None else getattr(c, f)[idx] for f in fields))  # noqa: E731
    return t[idx], take(large), take(small)
