"""Tests of the renormalization-group tools: Swendsen–Wang sampling, Kadanoff block spins, matching.

Statistical tests use fixed seeds and state their tolerance. Exact references: enumeration of all
2^16 states of the L = 4 lattice (for the sampler and for block-spin correlations), brute-force
Python loops (for the block transform and the correlations), and synthetic curves built from a
known RG map (for the fixed point and ν).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from models import ising
from models.ising import rg
from models.ising.swendsen_wang import sample_sw, swendsen_wang_sweeps

FIELDS = ("energy", "abs_magnetization", "specific_heat", "susceptibility", "binder")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _random_spins(n: int, L: int, seed: int) -> torch.Tensor:
    return torch.where(torch.rand(n, L, L, generator=_gen(seed)) < 0.5, 1, -1).to(torch.int8)


# ------------------------------------------------------------------------- Swendsen–Wang
def test_sample_sw_shape_dtype_seed_and_thin():
    """Chain-major layout as in `ising.sample`: sample j of a chain is the state after burn_in + j·thin sweeps."""
    a = sample_sw(6, 2.3, 12, chains=3, burn_in=5, thin=2, seed=7)
    assert a.shape == (12, 6, 6) and a.dtype == torch.int8 and bool(((a == 1) | (a == -1)).all())
    assert torch.equal(a, sample_sw(6, 2.3, 12, chains=3, burn_in=5, thin=2, seed=7))
    assert not torch.equal(a, sample_sw(6, 2.3, 12, chains=3, burn_in=5, thin=2, seed=8))
    series = sample_sw(8, 2.5, 3, chains=1, burn_in=4, thin=3, seed=3)
    for j in range(3):
        assert torch.equal(series[j], sample_sw(8, 2.5, 1, burn_in=4 + 3 * j, seed=3)[0])


def test_swendsen_wang_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"T must be a finite temperature > 0, got 0.0"):
        sample_sw(4, 0.0, 10)
    with pytest.raises(ValueError, match=r"n_samples must be a multiple of chains"):
        sample_sw(4, 2.0, 10, chains=3)
    with pytest.raises(ValueError, match=r"spins must have shape \(n, L, L\) with L >= 2, got \(4, 4\)"):
        swendsen_wang_sweeps(torch.ones(4, 4), 2.0, 1, _gen(0))


def test_swendsen_wang_keeps_dtype_and_updates_in_place():
    spins = torch.ones(5, 8, 8)
    out = swendsen_wang_sweeps(spins, 3.0, 10, _gen(0))
    assert out is spins and out.dtype == torch.float32
    assert bool(((out == 1) | (out == -1)).all()) and out.mean().abs() < 0.9


@pytest.mark.parametrize(("L", "T"), [(4, 1.5), (4, 2.269), (4, 3.5), (3, 2.0), (2, 2.5)])
def test_sw_matches_exact_enumeration(L, T):
    """⟨e⟩ and ⟨|m|⟩ within 3 standard errors of enumeration; C, χ, U₄ within 4 (fixed seed).
    L = 3 (odd) and L = 2 (double periodic bonds) check the bond bookkeeping."""
    spins = sample_sw(L, T, 32 * 250, chains=32, burn_in=50, seed=11)
    est, ex = ising.observables(spins, T, chains=32), ising.exact_observables(L, T)
    z = {f: (getattr(est, f).value - getattr(ex, f)) / getattr(est, f).stderr for f in FIELDS}
    assert abs(z["energy"]) < 3 and abs(z["abs_magnetization"]) < 3, z
    assert all(abs(v) < 4 for v in z.values()), z


# --------------------------------------------------------------------------- block spins
def _brute_force_blocks(spins: torch.Tensor, b: int, seed: int) -> torch.Tensor:
    """Majority rule by explicit loops; ties take the documented coin 2·randint(0, 2) − 1 of each block."""
    n, L = spins.shape[0], spins.shape[-1]
    m = L // b
    coins = torch.randint(0, 2, (n, m, m), generator=_gen(seed), dtype=torch.int32)
    out = torch.empty(n, m, m, dtype=spins.dtype)
    for c, I, J in itertools.product(range(n), range(m), range(m)):
        total = sum(int(spins[c, b * I + a, b * J + d]) for a in range(b) for d in range(b))
        out[c, I, J] = 1 if total > 0 else -1 if total < 0 else 2 * int(coins[c, I, J]) - 1
    return out


@pytest.mark.parametrize(("b", "L"), [(2, 8), (3, 9), (2, 6)])
def test_block_spins_match_brute_force_majority_rule(b, L):
    spins = _random_spins(5, L, seed=b * L)
    got = rg.block_spins(spins, b, _gen(42))
    assert got.shape == (5, L // b, L // b) and got.dtype == torch.int8
    assert torch.equal(got, _brute_force_blocks(spins, b, seed=42))
    if b == 2:  # random lattices tie often: P(sum of 4 spins = 0) = 3/8
        ties = spins.reshape(5, L // 2, 2, L // 2, 2).sum(dim=(2, 4)) == 0
        assert ties.sum() > 10


def test_block_spin_ties_follow_the_seed():
    """Same seed → identical blocks; another seed changes some tied blocks and no untied one."""
    spins = _random_spins(20, 8, seed=1)
    ties = spins.to(torch.int32).reshape(20, 4, 2, 4, 2).sum(dim=(2, 4)) == 0
    a, a2, c = (rg.block_spins(spins, 2, _gen(s)) for s in (5, 5, 6))
    assert torch.equal(a, a2)
    assert torch.equal(a[~ties], c[~ties]) and not torch.equal(a[ties], c[ties])
    # fair coins: ⟨s'⟩ over the tied blocks is 0 within 4 standard errors
    assert abs(a[ties].double().mean()) < 4 / math.sqrt(int(ties.sum()))
    assert torch.equal(rg.block_spins(spins[:, :6, :6], 3), rg.block_spins(spins[:, :6, :6], 3, _gen(9)))


@pytest.mark.parametrize("b", [2, 3])
@pytest.mark.parametrize("sign", [1, -1])
def test_blocking_an_ordered_lattice_gives_the_ordered_lattice(b, sign):
    spins = torch.full((3, b**3 * 2, b**3 * 2), sign, dtype=torch.int8)
    levels = rg.block_levels(spins, b, min_size=2, generator=_gen(0))
    assert [lv.shape[-1] for lv in levels] == [2 * b**3, 2 * b**2, 2 * b, 2]
    assert all(bool((lv == sign).all()) for lv in levels)


def test_block_levels_sizes_and_generator_order():
    spins = _random_spins(4, 48, seed=3)
    levels = rg.block_levels(spins, 2, min_size=4, generator=_gen(1))
    assert [lv.shape[-1] for lv in levels] == [48, 24, 12, 6]  # 6 → 3 would go below min_size
    assert [lv.shape[-1] for lv in rg.block_levels(_random_spins(2, 27, 0), 3, min_size=3)] == [27, 9, 3]
    gen = _gen(1)
    manual = [spins]
    for _ in range(3):
        manual.append(rg.block_spins(manual[-1], 2, gen))
    assert all(torch.equal(x, y) for x, y in zip(levels, manual, strict=True))


def test_block_spins_reject_bad_arguments():
    with pytest.raises(ValueError, match=r"L = 10 is not divisible by the block size b = 3; .*multiple of b"):
        rg.block_spins(_random_spins(2, 10, 0), 3)
    with pytest.raises(ValueError, match=r"even b = 2 needs a generator: a tied .*manual_seed"):
        rg.block_spins(_random_spins(2, 8, 0), 2)
    with pytest.raises(ValueError, match=r"spins must have shape \(n, L, L\), got \(8, 8\)"):
        rg.block_spins(torch.ones(8, 8), 2, _gen(0))
    with pytest.raises(ValueError, match=r"b must be an integer >= 2, got 1"):
        rg.block_spins(_random_spins(2, 8, 0), 1)
    with pytest.raises(ValueError, match=r"min_size must be an integer >= 2, got 1"):
        rg.block_levels(_random_spins(2, 8, 0), 2, min_size=1, generator=_gen(0))


# --------------------------------------------------------------------------- correlations
def test_neighbour_correlations_match_loops_and_energy():
    spins = _random_spins(3, 5, seed=4)
    got = rg.neighbour_correlations(spins)
    for c in range(3):
        s = spins[c].tolist()
        nn = sum(s[i][j] * (s[i][(j + 1) % 5] + s[(i + 1) % 5][j]) for i in range(5) for j in range(5)) / 50
        nnn = (
            sum(
                s[i][j] * (s[(i + 1) % 5][(j + 1) % 5] + s[(i - 1) % 5][(j + 1) % 5])
                for i in range(5)
                for j in range(5)
            )
            / 50
        )
        assert got[c].tolist() == pytest.approx([nn, nnn], abs=1e-12)
    assert got[:, 0].numpy() == pytest.approx(-ising.energy_per_spin(spins).double().numpy() / 2, abs=1e-7)


def _exact_block_correlations(T: float) -> tuple[float, float]:
    """⟨G_nn⟩, ⟨G_nnn⟩ of the 2×2 block lattice of L = 4 by enumeration of all 2^16 states.

    Every pair in G_nn, G_nnn joins two different blocks, whose tie coins are independent with
    mean 0, so averaging over the coins replaces a tied block spin by sign(0) = 0 exactly.
    """
    codes = torch.arange(2**16, dtype=torch.int64)[:, None]
    states = (((codes >> torch.arange(16)) & 1) * 2 - 1).to(torch.int8).view(-1, 4, 4)
    blocks = torch.sign(states.to(torch.int32).view(-1, 2, 2, 2, 2).sum(dim=(2, 4)))
    H = ising.energy_per_spin(states).double() * 16
    w = torch.exp(-(H - H.min()) / T)
    corr = rg.neighbour_correlations(blocks)
    return tuple(float((w[:, None] * corr).sum(0)[i] / w.sum()) for i in (0, 1))


@pytest.mark.parametrize("T", [1.8, 2.269, 3.0])
def test_block_spin_correlations_match_exact_enumeration(T):
    """Level-1 G_nn, G_nnn of SW samples at L = 4 and their slopes dG/dT = Cov(G, H₀)/T² within 3
    standard errors of enumeration (slopes: central differences of the exact curve, h = 10⁻⁴);
    at level 0, dG_nn/dT = −C/2 with C the exact specific heat."""
    spins = sample_sw(4, T, 32 * 250, chains=32, burn_in=50, seed=21)
    levels = rg.block_levels(spins, 2, min_size=2, generator=_gen(0))
    obs = rg.level_observables(levels, T, chains=32)
    assert [o.L for o in obs] == [4, 2]
    h = 1e-4
    exact = _exact_block_correlations(T)
    slopes = [
        (p - m) / (2 * h)
        for p, m in zip(_exact_block_correlations(T + h), _exact_block_correlations(T - h), strict=True)
    ]
    checks = [
        (obs[1].nn_correlation, exact[0]),
        (obs[1].nnn_correlation, exact[1]),
        (obs[1].nn_slope, slopes[0]),
        (obs[1].nnn_slope, slopes[1]),
        (obs[0].nn_slope, -ising.exact_observables(4, T).specific_heat / 2),
    ]
    for est, value in checks:
        assert abs(est.value - value) < 3 * est.stderr, (est, value)
    assert obs[0].nn_correlation.value == pytest.approx(-obs[0].energy.value / 2)
    assert obs[0].nn_correlation.stderr == pytest.approx(obs[0].energy.stderr / 2)


@pytest.mark.parametrize(("T", "direction"), [(1.8, +1), (3.0, -1)])
def test_nn_correlation_flows_away_from_the_critical_point(T, direction):
    """At L = 32 blocked 32 → 16 → 8 → 4, G_nn grows with level below T_c (flow to T = 0) and falls
    above it (flow to T = ∞); each step by more than 3 combined standard errors."""
    spins = sample_sw(32, T, 16 * 20, chains=16, burn_in=30, seed=5)
    obs = rg.level_observables(rg.block_levels(spins, 2, generator=_gen(5)), T, chains=16)
    g = [o.nn_correlation for o in obs]
    for lo, hi in itertools.pairwise(g):
        assert direction * (hi.value - lo.value) > 3 * math.hypot(lo.stderr, hi.stderr), g


# ------------------------------------------------------------------------------ matching
T_STAR = 2.27


def _synthetic(b: int, nu: float, f, df, temps: np.ndarray, slopes: bool, err: float = 1e-3):
    """Curves built from a known RG map T′ = T* + b^{1/ν}(T − T*): K_small = f, K_large(T) = f(T′(T))."""
    lam = b ** (1 / nu)
    t_map = T_STAR + lam * (temps - T_STAR)
    e = np.full(len(temps), err)
    small = rg.Curve(f(temps), e, *((df(temps), e) if slopes else ()))
    large = rg.Curve(f(t_map), e, *((lam * df(t_map), e) if slopes else ()))
    return large, small, lam


def _quadratic(T):
    return 0.6 - 0.9 * (T - 2.2) + 0.4 * (T - 2.2) ** 2


def _d_quadratic(T):
    return -0.9 + 0.8 * (T - 2.2)


@pytest.mark.parametrize(("b", "nu"), [(2, 1.0), (3, 0.8), (2, 1.3)])
@pytest.mark.parametrize("slopes", [False, True])
def test_matching_recovers_a_known_map_exactly(b, nu, slopes):
    """For a quadratic K the large curve is quadratic too, so fits (deg 3) and Hermite interpolation
    are exact: T*, λ_T = b^{1/ν}, ν and the map T′ = T* + λ_T (T − T*) come back to rounding."""
    temps = np.linspace(2.0, 2.6, 9)
    large, small, lam = _synthetic(b, nu, _quadratic, _d_quadratic, temps, slopes)
    assert rg.fixed_point(temps, large, small) == pytest.approx(T_STAR, abs=1e-9)
    r = rg.rg_fixed_point(temps, large, small, b=b, draws=0)
    assert (r.t_star, r.eigenvalue, r.nu) == pytest.approx((T_STAR, lam, nu), rel=1e-8)
    t_map = rg.rg_map(temps, large, small)
    inside = (T_STAR + lam * (temps - T_STAR) >= 2.0) & (T_STAR + lam * (temps - T_STAR) <= 2.6)
    np.testing.assert_allclose(t_map[inside], T_STAR + lam * (temps[inside] - T_STAR), atol=1e-9)
    assert np.isnan(t_map[~inside]).all() and inside.sum() >= 2


def _sigmoid(T):
    return 0.5 - 0.45 * np.tanh(4 * (T - 2.25))


def _d_sigmoid(T):
    return -1.8 / np.cosh(4 * (T - 2.25)) ** 2


@pytest.mark.parametrize("slopes", [False, True])
def test_windowed_fits_follow_steep_curves(slopes):
    """Sigmoids as steep as deeply blocked curves on a 0.05 grid: cubic fits of the 5 temperatures
    nearest the crossing recover T* within 2·10⁻³ and ν within 0.05; a cubic over the whole range
    misses, and says so through χ²/dof ≫ 1."""
    temps = np.linspace(2.0, 2.6, 13)
    large, small, _ = _synthetic(2, 1.0, _sigmoid, _d_sigmoid, temps, slopes)
    near = np.sort(np.argsort(np.abs(temps - 2.27))[:5])
    fields = ("values", "stderrs", "slopes", "slope_stderrs")

    def take(c):
        return rg.Curve(*(None if getattr(c, f) is None else getattr(c, f)[near] for f in fields))

    r = rg.rg_fixed_point(temps[near], take(large), take(small), b=2, draws=0)
    assert abs(r.t_star - T_STAR) < 2e-3 and abs(r.nu - 1.0) < 0.05, r
    whole = rg.rg_fixed_point(temps, large, small, b=2, draws=0)
    assert whole.chi2_dof[0] > 100 and abs(whole.nu - 1.0) > 0.3, whole


@pytest.mark.parametrize("slopes", [False, True])
def test_bootstrap_intervals_cover_the_truth_on_noisy_curves(slopes):
    """Values (and slopes) with Gaussian noise of known σ: the 95 % intervals hold T* and ν, and
    the same seed gives the same intervals."""
    temps = np.linspace(2.0, 2.6, 13)
    large, small, _ = _synthetic(2, 1.0, _quadratic, _d_quadratic, temps, slopes, err=5e-3)
    rng = np.random.default_rng(3)
    large, small = large.redraw(rng), small.redraw(rng)
    r = rg.rg_fixed_point(temps, large, small, b=2, draws=500, seed=1)
    assert r.draws == 500 and r.t_star_ci[0] < T_STAR < r.t_star_ci[1] and r.nu_ci[0] < 1.0 < r.nu_ci[1], r
    assert r.t_star_ci[1] - r.t_star_ci[0] < 0.05 and r.nu_ci[1] - r.nu_ci[0] < 0.5, r
    assert rg.rg_fixed_point(temps, large, small, b=2, draws=500, seed=1) == r


def test_matching_rejects_bad_curves():
    temps = np.linspace(2.0, 2.6, 5)
    ok = rg.Curve(_quadratic(temps), np.full(5, 1e-3))
    with_slopes = rg.Curve(ok.values, ok.stderrs, _d_quadratic(temps), ok.stderrs)
    with pytest.raises(ValueError, match=r"temperatures must increase and give more data .* than deg = 3"):
        rg.fixed_point(temps[::-1], ok, ok)
    with pytest.raises(ValueError, match=r"than deg = 3, .*measure more temperatures or lower deg"):
        rg.fixed_point(temps[:3], rg.Curve(ok.values[:3], ok.stderrs[:3]), rg.Curve(ok.values[:3], ok.stderrs[:3]))
    with pytest.raises(ValueError, match=r"give slopes for both curves or for neither"):
        rg.rg_map(temps, ok, with_slopes)
    with pytest.raises(ValueError, match=r"stderrs must be > 0"):
        rg.rg_fixed_point(temps, ok, rg.Curve(ok.values, np.zeros(5)), b=2)
    with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\), got 95"):
        rg.rg_fixed_point(temps, ok, ok, b=2, confidence=95)
    assert math.isnan(rg.fixed_point(temps, ok, rg.Curve(ok.values + 1.0, ok.stderrs)))  # no crossing
