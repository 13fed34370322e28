"""Kaufman's exact finite-lattice energy and specific heat (`models.ising.exact.kaufman_observables`)
against brute-force enumeration, Onsager's infinite lattice and the finite-size specific-heat peak."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.ising.checks import T_CRITICAL
from models.ising.exact import exact_observables, kaufman_observables, onsager_energy

TEMPERATURES = (1.0, 1.8, T_CRITICAL, 2.27, 3.0, 5.0)


@pytest.mark.parametrize("L", [2, 3, 4])
@pytest.mark.parametrize("T", TEMPERATURES)
def test_kaufman_equals_enumeration(L, T):
    k, ex = kaufman_observables(L, T), exact_observables(L, T)
    assert k.energy == pytest.approx(ex.energy, abs=1e-10)
    assert k.specific_heat == pytest.approx(ex.specific_heat, abs=1e-10)


def test_kaufman_log_z_equals_enumeration():
    """ln Z itself, not only its derivatives: Σ_s e^{−βH} over the 2^16 states of the 4×4 lattice."""
    from models.ising.exact import _density_of_states

    H, _, g = _density_of_states(4)
    for T in TEMPERATURES:
        log_z = math.log(float(np.sum(g * np.exp(-(H - H.min()) / T)))) - H.min() / T
        assert kaufman_observables(4, T).log_z == pytest.approx(log_z, rel=1e-12)


def test_rectangular_lattice_is_symmetric_in_its_sides():
    a, b = kaufman_observables(3, 2.1, n=5), kaufman_observables(5, 2.1, n=3)
    assert (a.m, a.n, b.m, b.n) == (3, 5, 5, 3)
    assert a.energy == pytest.approx(b.energy, abs=1e-12)
    assert a.specific_heat == pytest.approx(b.specific_heat, abs=1e-12)
    assert a.log_z == pytest.approx(b.log_z, rel=1e-13)


@pytest.mark.parametrize("T", [1.0, 1.8, 3.0, 5.0])
def test_large_lattice_tends_to_onsager(T):
    """Away from T_c the finite-size corrections decay like e^{−L/ξ}: at L = 256 they are below rounding.
    T = 1.0 and 5.0 take the large-|m γ₀/2| branch of the γ₀ factor, T = 1.8 and 3.0 the small one."""
    assert kaufman_observables(256, T).energy == pytest.approx(onsager_energy(T), abs=1e-10)


def test_energy_at_t_critical_converges_to_onsager_from_below():
    """At T_c the correction is O(1/L): u_L(T_c) < −√2, approaching it as L grows."""
    gaps = [onsager_energy(T_CRITICAL) - kaufman_observables(L, T_CRITICAL).energy for L in (16, 64, 256)]
    assert onsager_energy(T_CRITICAL) == pytest.approx(-math.sqrt(2.0), abs=1e-12)
    assert all(g > 0 for g in gaps) and gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 0.01


def test_specific_heat_is_temperature_derivative_of_energy():
    h = 1e-4
    for L, T in ((8, 1.8), (8, 2.27), (8, 3.0), (5, 2.0)):
        dedt = (kaufman_observables(L, T + h).energy - kaufman_observables(L, T - h).energy) / (2 * h)
        assert kaufman_observables(L, T).specific_heat == pytest.approx(dedt, rel=1e-6)


def _peak(L: int, lo: float, hi: float) -> tuple[float, float]:
    """(T_max, C_max) of C_L(T) by a coarse grid and golden-section refinement."""
    c = lambda t: kaufman_observables(L, t).specific_heat  # noqa: E731
    grid = np.linspace(lo, hi, 11)
    i = int(np.argmax([c(t) for t in grid]))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    g = (math.sqrt(5.0) - 1.0) / 2.0
    x1, x2 = b - g * (b - a), a + g * (b - a)
    c1, c2 = c(x1), c(x2)
    for _ in range(30):
        if c1 > c2:
            b, x2, c2 = x2, x1, c1
            x1 = b - g * (b - a)
            c1 = c(x1)
        else:
            a, x1, c1 = x1, x2, c2
            x2 = a + g * (b - a)
            c2 = c(x2)
    t = 0.5 * (a + b)
    return t, c(t)


def test_specific_heat_peak_of_the_8x8_torus():
    """The finite-size peak lies above T_c: T_max(8) ≈ 2.362, C_max ≈ 1.192. Ferdinand & Fisher (1969)
    give the shift (T_max − T_c)/T_c ≈ 0.3603/n for the square torus as n → ∞ (0.345 at n = 8 by
    this function; the difference is their O(ln n / n²) correction), checked here at L = 64."""
    t8, c8 = _peak(8, 2.2, 2.6)
    assert 2.3 < t8 < 2.4
    assert t8 == pytest.approx(2.362, abs=2e-3)
    assert c8 == pytest.approx(1.1918, abs=1e-3)
    t64, _ = _peak(64, 2.25, 2.32)
    assert 64 * (t64 - T_CRITICAL) / T_CRITICAL == pytest.approx(0.3603, abs=0.01)


def test_critical_specific_heat_grows_like_log_l():
    """C_L(T_c) = A₀ ln L + B + O(ln L / L) with Onsager's amplitude A₀ = (8/π) K_c² ≈ 0.4945
    (Ferdinand & Fisher 1969): the remainder settles to a constant B ≈ 0.138."""
    a0 = 8.0 / math.pi * (0.5 * math.log(1.0 + math.sqrt(2.0))) ** 2
    rest = [kaufman_observables(L, T_CRITICAL).specific_heat - a0 * math.log(L) for L in (64, 256, 1024)]
    assert abs(rest[2] - rest[1]) < abs(rest[1] - rest[0]) < 0.005
    assert rest[2] == pytest.approx(0.138, abs=0.002)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="L must be an integer >= 2"):
        kaufman_observables(1, 2.0)
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        kaufman_observables(4, 2.0, n=0)
    with pytest.raises(ValueError, match="T must be a finite temperature"):
        kaufman_observables(4, -1.0)
