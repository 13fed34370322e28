"""Exact results for the 2D Ising model: Onsager's energy, Yang's magnetization, enumeration
for L ≤ 4, Kaufman's finite-lattice energy and specific heat, and the Binder-cumulant crossing of
two lattice sizes.

Public through `models.ising`, which re-exports every name here.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import ellipkm1

from models.ising.checks import T_CRITICAL, check_int, check_temperature


def _as_temperatures(T: float | np.ndarray) -> np.ndarray:
    t = np.asarray(T, dtype=np.float64)
    if not np.all(np.isfinite(t) & (t > 0)):
        raise ValueError(f"T must be finite temperatures > 0, got {T!r}; units of J/k_B")
    return t


def onsager_energy(T: float | np.ndarray) -> float | np.ndarray:
    """Energy per spin of the infinite square lattice (Onsager 1944):

        u(T) = −coth(2β) [1 + (2/π)(2 tanh²(2β) − 1) K(k)],   k = 2 sinh(2β) / cosh²(2β),

    with K(k) = ∫_0^{π/2} dθ / √(1 − k² sin²θ) the complete elliptic integral of the first kind
    (scipy's `ellipk` takes the parameter m = k²). Since 1 − k² = (2 tanh²(2β) − 1)² = k'², the
    product is evaluated as ±k' K with `ellipkm1(k'²)`, accurate near T_c, where k' K → 0 and
    u(T_c) = −√2. Limits: u → −2 as T → 0 and u → 0 as T → ∞.
    """
    t = _as_temperatures(T)
    two_beta = 2.0 / t
    kp = 2.0 * np.tanh(two_beta) ** 2 - 1.0  # signed complementary modulus k'
    with np.errstate(invalid="ignore"):
        term = np.where(kp == 0.0, 0.0, kp * ellipkm1(kp**2))
    u = -(1.0 + (2.0 / np.pi) * term) / np.tanh(two_beta)
    return float(u) if np.ndim(u) == 0 else u


def onsager_magnetization(T: float | np.ndarray) -> float | np.ndarray:
    """Spontaneous magnetization per spin of the infinite lattice (Onsager 1949, Yang 1952):

    m(T) = (1 − sinh⁻⁴(2β))^{1/8}  for T < T_c,   0 for T ≥ T_c.
    """
    t = _as_temperatures(T)
    with np.errstate(over="ignore"):
        x = 1.0 - np.sinh(2.0 / t) ** -4.0
    m = np.where(t < T_CRITICAL, np.clip(x, 0.0, None) ** 0.125, 0.0)
    return float(m) if np.ndim(m) == 0 else m


@dataclass(frozen=True)
class ExactObservables:
    """Canonical averages at (L, T) from the full partition function Z = Σ_s e^{−H(s)/T}.

    specific_heat = L²(⟨e²⟩ − ⟨e⟩²)/T² and susceptibility = L²(⟨m²⟩ − ⟨|m|⟩²)/T, per spin, the
    same conventions as `observables`; binder = 1 − ⟨m⁴⟩/(3⟨m²⟩²).
    """

    L: int
    T: float
    energy: float
    abs_magnetization: float
    magnetization_sq: float
    magnetization_4: float
    specific_heat: float
    susceptibility: float
    binder: float


@functools.lru_cache(maxsize=4)
def _density_of_states(L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (H, M) of all 2^{L²} configurations and their multiplicities g(H, M)."""
    N = L * L
    codes = np.arange(2**N, dtype=np.int64)[:, None]
    s = (((codes >> np.arange(N)) & 1) * 2 - 1).astype(np.int8).reshape(-1, L, L)
    H = -(s * (np.roll(s, 1, -1) + np.roll(s, 1, -2))).sum(axis=(1, 2), dtype=np.int64)
    M = s.sum(axis=(1, 2), dtype=np.int64)
    pairs, counts = np.unique(np.stack([H, M], 1), axis=0, return_counts=True)
    return pairs[:, 0].astype(np.float64), pairs[:, 1].astype(np.float64), counts.astype(np.float64)


def exact_observables(L: int, T: float) -> ExactObservables:
    """Exact observables of the periodic L×L lattice by enumerating all 2^{L²} states (L ≤ 4).

    ⟨A⟩ = Σ_{H,M} g(H, M) A e^{−H/T} / Z over the density of states g, which is computed once
    per L, vectorised (L = 4 is 65 536 states).
    """
    L = check_int("L", L, 2)
    if L > 4:
        raise ValueError(f"L must be <= 4 for exact enumeration (2^(L²) states), got {L}")
    T = check_temperature(T)
    H, M, g = _density_of_states(L)
    N = L * L
    w = g * np.exp(-(H - H.min()) / T)
    w /= w.sum()
    e, m = H / N, np.abs(M) / N
    avg = lambda x: float(np.dot(w, x))  # noqa: E731
    e1, e2, m1, m2, m4 = avg(e), avg(e * e), avg(m), avg(m**2), avg(m**4)
    return ExactObservables(
        L=L,
        T=T,
        energy=e1,
        abs_magnetization=m1,
        magnetization_sq=m2,
        magnetization_4=m4,
        specific_heat=N * (e2 - e1 * e1) / T**2,
        susceptibility=N * (m2 - m1 * m1) / T,
        binder=1.0 - m4 / (3.0 * m2 * m2),
    )


@dataclass(frozen=True)
class KaufmanObservables:
    """Exact canonical averages of the periodic m×n lattice at T from Kaufman's partition function.

    energy = ⟨H⟩/N and specific_heat = N(⟨e²⟩ − ⟨e⟩²)/T² = Var(H)/(N T²), per spin (N = mn), the
    conventions of `ExactObservables`; log_z = ln Z of the whole lattice.
    """

    m: int
    n: int
    T: float
    energy: float
    specific_heat: float
    log_z: float


def _log_2cosh(x: torch.Tensor) -> torch.Tensor:
    """ln(2 cosh x) for x > 0 (no `abs`: its double backward through `log1p` imports torch._dynamo, 3 s)."""
    return x + torch.log1p(torch.exp(-2.0 * x))


def _log_2sinh(x: torch.Tensor) -> torch.Tensor:
    """ln(2 sinh x) for x > 0."""
    return x + torch.log(-torch.expm1(-2.0 * x))


def _kaufman_log_z(beta: torch.Tensor, m: int, n: int) -> torch.Tensor:
    """ln Z of the periodic m×n lattice (m rows of n spins) at coupling K = β, differentiable in β.

    Z = ½ (2 sinh 2K)^{mn/2} (Z₁ + Z₂ + Z₃ + Z₄) with Z₁,₂ = Π_{k odd} 2cosh, 2sinh(m γ_k/2) and
    Z₃,₄ = Π_{k even} 2cosh, 2sinh(m γ_k/2) over k < 2n, cosh γ_k = cosh 2K coth 2K − cos(πk/n) for
    k ≥ 1 (γ_k > 0), and the signed γ₀ = 2K + ln tanh K (negative above T_c, where Z₄ < 0).

    Each Z_i is kept as a logarithm except the factor 2 sinh(m γ₀/2) of Z₄, which vanishes at T_c:
    it enters linearly (or as sign · exp(ln|·|) when |m γ₀/2| is large), so no term of the first or
    second derivative divides by γ₀. The four terms are summed after shifting by the largest logarithm
    (a constant, detached: the shift cancels exactly). |Z₄| < Z₃, so the sum is never a cancellation.
    """
    K = beta
    k = torch.arange(2 * n, dtype=beta.dtype)
    c = torch.cosh(2 * K) / torch.tanh(2 * K) - torch.cos(torch.pi * k[1:] / n)
    half = 0.5 * m * torch.acosh(c)  # m γ_k / 2 for k = 1 … 2n−1, all > 0
    odd, even = half[0::2], half[1::2]  # k = 1, 3, …, 2n−1 and k = 2, 4, …, 2n−2
    x0 = 0.5 * m * (2 * K + torch.log(torch.tanh(K)))  # m γ₀ / 2, signed
    log_z1 = _log_2cosh(odd).sum()
    log_z2 = _log_2sinh(odd).sum()
    sign0 = 1.0 if float(x0.detach()) >= 0.0 else -1.0  # a constant: the branch, not a function of β
    log_z3 = _log_2cosh(even).sum() + torch.logaddexp(x0, -x0)
    s4 = _log_2sinh(even).sum()  # ln Z₄ without its γ₀ factor
    logs = torch.stack([log_z1, log_z2, log_z3, s4 + sign0 * x0])
    shift = logs.max().detach()
    total = torch.exp(log_z1 - shift) + torch.exp(log_z2 - shift) + torch.exp(log_z3 - shift)
    if sign0 * float(x0.detach()) < 20.0:
        total = total + torch.exp(s4 - shift) * 2.0 * torch.sinh(x0)
    else:
        total = total + sign0 * torch.exp(s4 + _log_2sinh(sign0 * x0) - shift)
    log_prefactor = -math.log(2.0) + 0.5 * m * n * (math.log(2.0) + torch.log(torch.sinh(2 * K)))
    return log_prefactor + shift + torch.log(total)


def kaufman_observables(L: int, T: float, n: int | None = None) -> KaufmanObservables:
    """Exact energy and specific heat per spin of the periodic L×n lattice (n = L by default), any size.

    From Kaufman's partition function of the torus (B. Kaufman, Phys. Rev. 76, 1232 (1949)) in the
    form of Ferdinand & Fisher (Phys. Rev. 185, 832 (1969), eqs. 2.1–2.5), see `_kaufman_log_z`:
    E = −∂ln Z/∂β / N and C = β² ∂²ln Z/∂β² / N, by float64 autograd (double backward), not by finite
    differences. Equals `exact_observables` for L ≤ 4 to rounding (`tests/test_kaufman.py`) and tends to
    `onsager_energy` as L → ∞. Cost O(n) per call.
    """
    m = check_int("L", L, 2)
    n = m if n is None else check_int("n", n, 2)
    T = check_temperature(T)
    beta = torch.tensor(1.0 / T, dtype=torch.float64, requires_grad=True)
    log_z = _kaufman_log_z(beta, m, n)
    (d1,) = torch.autograd.grad(log_z, beta, create_graph=True)
    (d2,) = torch.autograd.grad(d1, beta)
    N = m * n
    return KaufmanObservables(
        m=m,
        n=n,
        T=T,
        energy=-float(d1.detach()) / N,
        specific_heat=float(d2) / (N * T * T),
        log_z=float(log_z.detach()),
    )


def binder_crossing(temperatures: np.ndarray, u_small: np.ndarray, u_large: np.ndarray) -> float:
    """Temperature where the Binder cumulants of two lattice sizes cross (Binder 1981).

    U₄(T) of different L meet near T_c because U₄ is a scale-invariant ratio at criticality.
    Returns the root of Δ(T) = U_small − U_large (negative below T_c, positive above) by linear
    interpolation between the first adjacent pair of temperatures where Δ changes sign, or nan.
    """
    t, d = np.asarray(temperatures, float), np.asarray(u_small, float) - np.asarray(u_large, float)
    order = np.argsort(t)
    t, d = t[order], d[order]
    for i in range(len(t) - 1):
        if d[i] <= 0 < d[i + 1] or d[i] >= 0 > d[i + 1]:
            return float(t[i] - d[i] * (t[i + 1] - t[i]) / (d[i + 1] - d[i]))
    return float("nan")
