"""The 2D square-lattice Ising model (J = 1, k_B = 1, periodic boundaries).

Energy of a configuration s ∈ {−1, +1}^{L×L}:

    H(s) = −J Σ_<ij> s_i s_j

where the sum runs over nearest-neighbour pairs, each counted once. Per-spin quantities divide
by N = L²: e = H/N, m = Σ_i s_i / N. (For L = 2 the periodic lattice has double bonds, as the
roll-based sums imply; every function here uses that same convention.)

The module has four parts, top to bottom:

1. samplers: checkerboard Metropolis (`metropolis_sweeps`) and Wolff clusters (`wolff_updates`),
   both vectorised in torch over independent chains, and `sample`, which runs them;
2. exact results: Onsager's energy, Yang's magnetization, and brute-force enumeration for L ≤ 4;
3. estimators with autocorrelation-aware error bars (`observables`, `integrated_autocorr_time`);
4. an on-disk dataset cache shared by the trials of a sweep (`cached_sample`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import numbers
import os
import tempfile
import warnings
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import torch
from scipy.special import ellipkm1

try:
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX: atomic writes still hold, only the lock is lost
    fcntl = None

logger = logging.getLogger(__name__)

T_CRITICAL = 2.0 / math.log(1.0 + math.sqrt(2.0))
"""Onsager's critical temperature T_c = 2 / ln(1 + √2) ≈ 2.269185 (J = k_B = 1)."""


class Algorithm(str, Enum):
    """Monte Carlo update used by `sample`."""

    metropolis = "metropolis"
    wolff = "wolff"


# ------------------------------------------------------------------------------ validation
def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_temperature(T: object) -> float:
    if isinstance(T, bool) or not isinstance(T, numbers.Real) or not (math.isfinite(T) and T > 0):
        raise ValueError(
            f"T must be a finite temperature > 0, got {T!r}; temperatures are in units of J/k_B "
            f"(T_c ≈ {T_CRITICAL:.4f})"
        )
    return float(T)


def _check_algorithm(algorithm: object) -> Algorithm:
    try:
        return Algorithm(algorithm)
    except ValueError:
        allowed = ", ".join(repr(a.value) for a in Algorithm)
        raise ValueError(f"algorithm must be one of {allowed}, got {algorithm!r}") from None


def _check_chains(chains: object, n_samples: int) -> int:
    if chains is None:
        return n_samples
    chains = _check_int("chains", chains, 1)
    if n_samples % chains:
        raise ValueError(
            f"n_samples must be a multiple of chains, got n_samples={n_samples}, chains={chains}; "
            "each chain contributes n_samples // chains samples"
        )
    return chains


# ------------------------------------------------------------------------- configurations
def _neighbour_sum(spins: torch.Tensor) -> torch.Tensor:
    """Σ of the four nearest neighbours of every site, periodic boundaries; shape (..., L, L)."""
    return (
        torch.roll(spins, 1, -1)
        + torch.roll(spins, -1, -1)
        + torch.roll(spins, 1, -2)
        + torch.roll(spins, -1, -2)
    )


def energy_per_spin(spins: torch.Tensor) -> torch.Tensor:
    """e(s) = H(s) / L² for a batch of configurations of shape (n, L, L); returns float32 (n,)."""
    s = spins.to(torch.int32)
    bonds = (s * (torch.roll(s, 1, -1) + torch.roll(s, 1, -2))).sum(dim=(-2, -1))
    return -bonds.to(torch.float32) / (s.shape[-1] * s.shape[-2])


def magnetization(spins: torch.Tensor) -> torch.Tensor:
    """m(s) = Σ_i s_i / L² per configuration; shape (n,)."""
    return spins.to(torch.float32).mean(dim=(-2, -1))


# ---------------------------------------------------------------------- Metropolis sampler
def _flip_mask(sh: torch.Tensor, u: torch.Tensor, p4: float | torch.Tensor, p8: float | torch.Tensor):
    """Metropolis decisions from sh = s_i Σ_j s_j ∈ {−4, −2, 0, 2, 4}, where ΔE = 2·sh.

    Accept with min(1, e^{−βΔE}): always for sh ≤ 0, else when u < p4 = e^{−4β} (sh = 2) or
    u < p8 = e^{−8β} (sh = 4), a precomputed table. Returns the int8 xor mask −2·flip: for ±1
    stored as int8, s ^ −2 = −s, so `s ^ mask` flips exactly the accepted sites.
    """
    return ((sh <= 0) | (u < p8) | ((sh == 2) & (u < p4))).to(torch.int8).mul_(-2)


def _colour_update(X, Y, P, Q, u, p4, p8, sigma: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Update sublattices X, Y of one colour given P, Q of the other; u holds 2 uniforms per site.

    Black: (X, Y, P, Q) = (A, D, B, C), σ = +1; white: (B, C, A, D), σ = −1. With
    A = s[0::2, 0::2], B = s[0::2, 1::2], C = s[1::2, 0::2], D = s[1::2, 1::2] the neighbour sums
    are h_X = P + P(shifted σ along columns) + Q + Q(shifted +1 along rows), h_Y likewise with the
    opposite shifts; e.g. for A[a, b] = s[2a, 2b]: h = B[a, b] + B[a, b−1] + C[a, b] + C[a−1, b].
    """
    roll = torch.roll
    hX = P + roll(P, sigma, -1) + Q + roll(Q, 1, -2)
    hY = Q + roll(Q, -sigma, -1) + P + roll(P, -1, -2)
    return X ^ _flip_mask(hX.mul_(X), u[0], p4, p8), Y ^ _flip_mask(hY.mul_(Y), u[1], p4, p8)


def _black_update(A, D, B, C, u, p4, p8):
    return _colour_update(A, D, B, C, u, p4, p8, 1)


def _white_update(B, C, A, D, u, p4, p8):
    return _colour_update(B, C, A, D, u, p4, p8, -1)


_compiled: dict[str, object] = {}


def _fused_updates():
    """(black, white) updates compiled by torch.compile for CUDA: one fused kernel per colour
    instead of ~20 eager ones, about 3–6× the eager throughput on an H100. Shapes are static
    (fast index arithmetic); each new lattice shape compiles once, and after torch's recompile
    limit further shapes run eager. If compilation fails, eager is used (same numbers).
    Set PHASESWEEP_ISING_COMPILE=0 to disable."""
    if not _compiled:
        for name, fn in (("black", _black_update), ("white", _white_update)):
            compiled = torch.compile(fn, dynamic=False)

            def guarded(*args, _compiled_fn=compiled, _eager=fn):
                if not _compiled.get("failed"):
                    try:
                        return _compiled_fn(*args)
                    except Exception as err:  # no Triton / compiler: eager gives the same numbers
                        logger.warning("torch.compile of the Metropolis update failed (%s); using eager", err)
                        _compiled["failed"] = True
                return _eager(*args)

            _compiled[name] = guarded
    return _compiled["black"], _compiled["white"]


def _use_fused(device: torch.device) -> bool:
    return device.type == "cuda" and os.environ.get("PHASESWEEP_ISING_COMPILE", "1") != "0"


def _quarter_sweeps(
    q: list[torch.Tensor], beta: float, sweeps: int, gen: torch.Generator, fused: bool | None = None
) -> None:
    """Checkerboard sweeps on the four int8 sublattices q = [A, B, C, D] of an even-L lattice.

    A = s[0::2, 0::2], B = s[0::2, 1::2], C = s[1::2, 0::2], D = s[1::2, 1::2], each (n, L/2, L/2).
    Black sites are A ∪ D, white sites B ∪ C; every neighbour of a black site is white, so each
    colour is updated in parallel exactly. Storing the sublattices apart halves the work of a
    masked full-lattice update. The list `q` is updated in place. `fused` (default: on CUDA)
    runs the compiled kernels; both paths consume the same random numbers and agree bitwise.
    """
    p4, p8 = math.exp(-4.0 * beta), math.exp(-8.0 * beta)
    black, white = _black_update, _white_update
    if fused or (fused is None and _use_fused(q[0].device)):
        black, white = _fused_updates()
        p4, p8 = (torch.tensor(p, device=q[0].device) for p in (p4, p8))  # no recompile per T
    A, B, C, D = q
    for _ in range(sweeps):
        A, D = black(A, D, B, C, torch.rand((2, *A.shape), generator=gen, device=A.device), p4, p8)
        B, C = white(B, C, A, D, torch.rand((2, *B.shape), generator=gen, device=B.device), p4, p8)
    q[:] = [A, B, C, D]


def _split(spins: torch.Tensor) -> list[torch.Tensor]:
    return [spins[..., p::2, r::2].to(torch.int8).clone() for p in (0, 1) for r in (0, 1)]


def _merge(q: list[torch.Tensor], out: torch.Tensor) -> torch.Tensor:
    for (p, r), X in zip(((0, 0), (0, 1), (1, 0), (1, 1)), q, strict=True):
        out[..., p::2, r::2] = X
    return out


@functools.lru_cache(maxsize=16)
def _colouring(L: int) -> tuple[tuple[bool, ...], ...]:
    """A proper greedy colouring of the periodic L×L lattice: 2 colours for even L, 3 for odd L."""
    colour: dict[tuple[int, int], int] = {}
    for i in range(L):
        for j in range(L):
            taken = {colour.get(((i + di) % L, (j + dj) % L)) for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1))}
            colour[i, j] = min(c for c in range(5) if c not in taken)
    n_colours = max(colour.values()) + 1
    return tuple(tuple(colour[i, j] == c for i in range(L) for j in range(L)) for c in range(n_colours))


def _masked_sweeps(s: torch.Tensor, beta: float, sweeps: int, gen: torch.Generator) -> None:
    """Sweeps in place on int8 spins (n, L, L) for any L, one colour class of `_colouring` at a time."""
    L = s.shape[-1]
    masks = [torch.tensor(m, device=s.device).view(L, L) for m in _colouring(L)]
    p4, p8 = math.exp(-4.0 * beta), math.exp(-8.0 * beta)
    for _ in range(sweeps):
        for mask in masks:
            u = torch.rand(s.shape, generator=gen, device=s.device)
            s.bitwise_xor_(_flip_mask(s * _neighbour_sum(s), u, p4, p8) * mask)


@torch.no_grad()
def metropolis_sweeps(
    spins: torch.Tensor, T: float, sweeps: int, generator: torch.Generator
) -> torch.Tensor:
    """Run `sweeps` checkerboard Metropolis sweeps in place on ±1 spins of shape (n, L, L).

    One sweep updates the black sublattice, then the white one. Sites of one colour have no
    neighbours of the same colour, so they are updated in parallel without bias. A flip is
    accepted with probability min(1, exp(−ΔE/T)), ΔE = 2 s_i Σ_j s_j ∈ {−8, …, 8}; only
    ΔE ∈ {4, 8} are decided by the uniform draw, against a precomputed table. Even L runs on
    int8 sublattices (on CUDA through a torch.compile-fused kernel, see `_fused_updates`); odd L
    (not bipartite under periodic boundaries) uses a 3-colouring.
    Any dtype holding ±1 works; `spins` is updated in place and returned.
    """
    beta = 1.0 / _check_temperature(T)
    if spins.shape[-1] % 2 == 0 and spins.shape[-2] == spins.shape[-1]:
        q = _split(spins)
        _quarter_sweeps(q, beta, sweeps, generator)
        return _merge(q, spins)
    s = spins.to(torch.int8).clone()
    _masked_sweeps(s, beta, sweeps, generator)
    return spins.copy_(s)


# --------------------------------------------------------------------------- Wolff sampler
def _grow_cluster(seed: torch.Tensor, right: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    """The sites connected to `seed` (bool (n, L, L)) through open bonds, by breadth-first dilation.

    right[i, j] is the bond (i, j)–(i, j+1), down[i, j] the bond (i, j)–(i+1, j), both periodic.
    """
    def dilate(c: torch.Tensor) -> torch.Tensor:
        return (
            c
            | torch.roll(c & right, 1, -1)
            | (torch.roll(c, -1, -1) & right)
            | torch.roll(c & down, 1, -2)
            | (torch.roll(c, -1, -2) & down)
        )

    cluster = seed
    while True:  # two dilations per convergence test: the test costs as much as a dilation
        grown = dilate(dilate(cluster))
        if torch.equal(grown, cluster):
            return cluster
        cluster = grown


@torch.no_grad()
def wolff_updates(
    spins: torch.Tensor, T: float, n_updates: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run `n_updates` Wolff single-cluster updates (Wolff 1989) on every chain of spins (n, L, L).

    Each update picks a uniform random seed site, grows the cluster by adding aligned neighbours
    with probability p_add = 1 − e^{−2β}, and flips it (acceptance 1). The cluster is drawn as the
    connected component of the seed among Fortuin–Kasteleyn bonds opened independently with
    p_add on aligned pairs, which has the same law as sequential growth and vectorises over chains.

    `spins` is updated in place and returned with the cluster sizes |C|, int64 (n_updates, n).
    One sweep-equivalent is L² / ⟨|C|⟩ updates (as many flipped spins as a Metropolis sweep tries).
    """
    p_add = 1.0 - math.exp(-2.0 / _check_temperature(T))
    n, L = spins.shape[0], spins.shape[-1]
    s = spins.to(torch.int8)
    sizes = torch.empty((n_updates, n), dtype=torch.int64, device=spins.device)
    rows = torch.arange(n, device=spins.device)
    for t in range(n_updates):
        u = torch.rand((2, *s.shape), generator=generator, device=s.device)
        right = (s == torch.roll(s, -1, -1)) & (u[0] < p_add)
        down = (s == torch.roll(s, -1, -2)) & (u[1] < p_add)
        seed = torch.zeros_like(right)
        site = torch.randint(0, L * L, (n,), generator=generator, device=s.device)
        seed.view(n, -1)[rows, site] = True
        cluster = _grow_cluster(seed, right, down)
        s.bitwise_xor_(cluster.to(torch.int8).mul_(-2))
        sizes[t] = cluster.sum(dim=(-2, -1))
    if s is not spins:
        spins.copy_(s)
    return spins, sizes


def _wolff_clusters_per_sweep(s: torch.Tensor, T: float, burn_in: int, gen: torch.Generator) -> int:
    """Burn Wolff chains in, then return k = round(L² / ⟨|C|⟩), the updates per sweep-equivalent.

    Burn-in runs updates until the chains together have flipped burn_in·L²·n spins (at least 8
    updates); ⟨|C|⟩ is measured on its second half. Sampling then uses a fixed k, so the
    spacing of samples never depends on the chain's own state.
    """
    n, L = s.shape[0], s.shape[-1]
    means, flipped = [], 0
    while flipped < burn_in * L * L * n or len(means) < 8:
        _, size = wolff_updates(s, T, 1, gen)
        means.append(size.double().mean().item())
        flipped += size.sum().item()
    mean_size = float(np.mean(means[len(means) // 2 :]))
    return max(1, round(L * L / mean_size))


# ------------------------------------------------------------------------------- sampling
@torch.no_grad()
def sample(
    L: int,
    T: float,
    n_samples: int,
    *,
    algorithm: str | Algorithm = "metropolis",
    burn_in: int = 500,
    thin: int = 1,
    seed: int = 0,
    device: str | torch.device = "cpu",
    chains: int | None = None,
) -> torch.Tensor:
    """Draw `n_samples` Ising configurations at temperature T.

    `chains` independent chains (default: n_samples, one sample per chain) each give
    n_samples // chains samples. A chain starts ordered (all +1) with a random global sign,
    which respects the Z2 symmetry and avoids metastable stripes at low T, runs `burn_in`
    sweeps, then records a sample every `thin` sweeps. The result is chain-major: rows
    [c·k, (c+1)·k) are chain c's time series (k = n_samples // chains), as `observables`
    expects with the same `chains`.

    Time is counted in sweeps: one Metropolis sweep tries each spin once; for "wolff" one
    sweep-equivalent is a fixed k = round(L²/⟨|C|⟩) cluster updates, with ⟨|C|⟩ measured during
    burn-in (see `_wolff_clusters_per_sweep`). Wolff suits T near T_c; far above T_c clusters
    are tiny and Metropolis is cheaper.

    Returns an int8 tensor of ±1 spins of shape (n_samples, L, L) on `device`, reproducible
    under `seed` on a given device type.
    """
    L = _check_int("L", L, 2)
    T = _check_temperature(T)
    n_samples = _check_int("n_samples", n_samples, 1)
    algorithm = _check_algorithm(algorithm)
    burn_in = _check_int("burn_in", burn_in, 0)
    thin = _check_int("thin", thin, 1)
    chains = _check_chains(chains, n_samples)
    per_chain = n_samples // chains

    device = torch.device(device)
    gen = torch.Generator(device=device).manual_seed(int(seed))
    up = torch.rand(chains, 1, 1, generator=gen, device=device) < 0.5
    s = torch.where(up, 1, -1).to(torch.int8).expand(chains, L, L).contiguous()
    out = torch.empty((chains, per_chain, L, L), dtype=torch.int8, device=device)

    if algorithm is Algorithm.wolff:
        k = _wolff_clusters_per_sweep(s, T, burn_in, gen)
        for j in range(per_chain):
            if j:
                wolff_updates(s, T, thin * k, gen)
            out[:, j] = s
    elif L % 2 == 0:
        q = _split(s)
        _quarter_sweeps(q, 1.0 / T, burn_in, gen)
        for j in range(per_chain):
            if j:
                _quarter_sweeps(q, 1.0 / T, thin, gen)
            _merge(q, out[:, j])
    else:
        _masked_sweeps(s, 1.0 / T, burn_in, gen)
        for j in range(per_chain):
            if j:
                _masked_sweeps(s, 1.0 / T, thin, gen)
            out[:, j] = s
    return out.reshape(n_samples, L, L)


# --------------------------------------------------------------------------- exact results
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
    L = _check_int("L", L, 2)
    if L > 4:
        raise ValueError(f"L must be <= 4 for exact enumeration (2^(L²) states), got {L}")
    T = _check_temperature(T)
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


# -------------------------------------------------------------- estimators with error bars
def integrated_autocorr_time(series: np.ndarray | torch.Tensor, *, c: float = 5.0, tol: float = 50.0) -> float:
    """Integrated autocorrelation time τ_int = 1 + 2 Σ_{t≥1} ρ(t), in units of the series' steps.

    `series` is (n_steps,) for one chain or (n_chains, n_steps) for independent chains, whose
    autocorrelation functions are averaged. Uses emcee's FFT estimator with Sokal's automatic
    window (window M = smallest with M ≥ c·τ(M)). A constant series returns 1. If the series is
    shorter than tol·τ the estimate is unreliable: a warning is logged and the estimate returned.
    Var(mean) ≈ τ_int · Var(x) / n_total.
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"series must be (n_steps,) or (n_chains, n_steps) with n_steps >= 2, got {x.shape}")
    x = x[np.var(x, axis=1) > 0]
    if len(x) == 0:
        return 1.0
    import emcee  # here, so that sampling works where emcee is not installed (e.g. a bare GPU box)

    try:
        return float(emcee.autocorr.integrated_time(x.T, c=c, tol=tol, quiet=False)[0])
    except emcee.autocorr.AutocorrError as err:
        logger.warning("series of %d steps is shorter than %g τ_int; τ ≈ %s", x.shape[1], tol, err.tau)
        return float(np.atleast_1d(err.tau)[0])


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate and its standard error."""

    value: float
    stderr: float


@dataclass(frozen=True)
class Observables:
    """Estimates from Monte Carlo configurations at temperature T (per-spin conventions).

    energy ⟨e⟩, abs_magnetization ⟨|m|⟩, specific_heat C = L²(⟨e²⟩ − ⟨e⟩²)/T²,
    susceptibility χ = L²(⟨m²⟩ − ⟨|m|⟩²)/T (the finite-lattice χ′, finite at all T),
    binder U₄ = 1 − ⟨m⁴⟩/(3⟨m²⟩²). τ's are in units of the spacing between configurations.
    """

    energy: Estimate
    abs_magnetization: Estimate
    specific_heat: Estimate
    susceptibility: Estimate
    binder: Estimate
    tau_energy: float
    tau_abs_magnetization: float
    n_samples: int
    chains: int

    def as_dict(self) -> dict[str, float]:
        """Flat {name: value, name_err: stderr, tau_…, …} for a metrics sink."""
        out: dict[str, float] = {}
        for key, val in asdict(self).items():
            if isinstance(val, dict):
                out[key], out[f"{key}_err"] = val["value"], val["stderr"]
            else:
                out[key] = float(val)
        return out


def _jackknife(block_sums: np.ndarray, block_counts: np.ndarray, f) -> float:
    """Delete-one-block jackknife standard error of f(means) from per-block sums (B, k)."""
    B = len(block_counts)
    if B < 2:
        return float("nan")
    loo = (block_sums.sum(0) - block_sums) / (block_counts.sum() - block_counts)[:, None]
    vals = f(loo.T)
    return float(np.sqrt((B - 1) / B * np.sum((vals - vals.mean()) ** 2)))


def observables(configs: torch.Tensor | np.ndarray, T: float, *, chains: int = 1) -> Observables:
    """Energy, ⟨|m|⟩, C, χ and U₄ with standard errors that account for autocorrelation.

    `configs` (n, L, L) of ±1 are `chains` equal, chain-major time series (the layout of
    `sample(..., chains=chains)`); chains = n means independent samples.
    - ⟨e⟩, ⟨|m|⟩: error² = τ_int·Var/n with τ_int from `integrated_autocorr_time` (taken ≥ 1:
      anticorrelation is not credited, which keeps the error conservative; a warning is logged
      when a chain is shorter than 10 τ_int).
    - C, χ, U₄ (non-linear in means): delete-one-block jackknife over blocks of
      b = ⌈5·max τ_int⌉ consecutive samples of one chain (at most n_steps/20 when a chain is
      shorter, fewer blocks giving noisier errors), so that blocks are nearly independent.
    """
    T = _check_temperature(T)
    s = torch.as_tensor(configs)
    if s.ndim != 3 or s.shape[0] < 2:
        raise ValueError(f"configs must have shape (n >= 2, L, L), got {tuple(s.shape)}")
    n, L = s.shape[0], s.shape[-1]
    chains = _check_chains(_check_int("chains", chains, 1), n)
    k = n // chains
    si = s.to(torch.int64)
    H = -(si * (torch.roll(si, 1, -1) + torch.roll(si, 1, -2))).sum(dim=(1, 2))
    e = (H.double() / (L * L)).numpy().reshape(chains, k)
    m = (si.sum(dim=(1, 2)).double() / (L * L)).abs().numpy().reshape(chains, k)
    prims = np.stack([e, e * e, m, m * m, m**4], axis=-1)  # (chains, k, 5)

    taus = [integrated_autocorr_time(prims[..., i], tol=10) if k > 1 else 1.0 for i in range(5)]
    tau_e, tau_m = max(taus[0], 1.0), max(taus[2], 1.0)

    def mean_err(x: np.ndarray, tau: float) -> Estimate:
        return Estimate(float(x.mean()), float(np.sqrt(tau * x.var(ddof=1) / x.size)))

    b = min(math.ceil(5 * max(*taus, 1.0)), max(1, k // 20)) if k > 1 else 1
    nb = k // b
    block = np.minimum(np.arange(k) // b, nb - 1)  # the last block absorbs the remainder
    sums = np.zeros((chains, nb, 5))
    np.add.at(sums, (slice(None), block), prims)
    counts = np.bincount(block, minlength=nb).astype(np.float64)
    sums, counts = sums.reshape(-1, 5), np.tile(counts, chains)

    N = L * L
    fns = {
        "specific_heat": lambda x: N * (x[1] - x[0] ** 2) / T**2,
        "susceptibility": lambda x: N * (x[3] - x[2] ** 2) / T,
        "binder": lambda x: 1.0 - x[4] / (3.0 * x[3] ** 2),
    }
    full = prims.reshape(-1, 5).mean(0)
    derived = {name: Estimate(float(f(full)), _jackknife(sums, counts, f)) for name, f in fns.items()}
    return Observables(
        energy=mean_err(e, tau_e),
        abs_magnetization=mean_err(m, tau_m),
        **derived,
        tau_energy=taus[0],
        tau_abs_magnetization=taus[2],
        n_samples=n,
        chains=chains,
    )


# --------------------------------------------------------------------------- dataset cache
class CacheStatus(str, Enum):
    """What `cached_sample_with_status` did."""

    loaded = "loaded"
    generated = "generated"
    regenerated = "regenerated"  # a corrupt file was found, warned about and replaced


class _CorruptCache(Exception):
    pass


_CACHE_FORMAT = 1


def _checksum(spins: torch.Tensor) -> str:
    return hashlib.sha256(spins.contiguous().numpy().tobytes()).hexdigest()


def _read_cache(path: Path, params: str, shape: tuple[int, int, int]) -> torch.Tensor:
    """The spins stored at `path`, or _CorruptCache saying why they cannot be trusted."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated or garbled files raise many different errors
        raise _CorruptCache(f"unreadable ({type(err).__name__}: {err})") from err
    if not isinstance(blob, dict) or blob.get("format") != _CACHE_FORMAT:
        raise _CorruptCache("not a phasesweep Ising cache file")
    spins = blob.get("spins")
    if blob.get("params") != params:
        raise _CorruptCache(f"parameters {blob.get('params')} differ from the requested {params}")
    if not isinstance(spins, torch.Tensor) or spins.dtype != torch.int8 or tuple(spins.shape) != shape:
        got = (getattr(spins, "dtype", type(spins)), tuple(getattr(spins, "shape", ())))
        raise _CorruptCache(f"expected int8 spins of shape {shape}, got {got}")
    if blob.get("sha256") != _checksum(spins):
        raise _CorruptCache("checksum mismatch")
    if not bool(((spins == 1) | (spins == -1)).all()):
        raise _CorruptCache("spins are not all ±1")
    return spins


def _write_atomic(path: Path, blob: dict) -> None:
    """torch.save to a temporary file in the same directory, fsync, then os.replace onto `path`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(blob, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _FileLock:
    """An exclusive advisory lock (fcntl.flock) on `path`; released by the kernel if we die."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> _FileLock:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _cache_dir(cache_dir: str | os.PathLike) -> Path:
    d = Path(cache_dir).expanduser()
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(
            f"cache_dir {str(d)!r} cannot be created ({err.strerror or err}); "
            "point data.cache_dir at a writable directory, or set it to None to disable caching"
        ) from err
    if not os.access(d, os.W_OK | os.X_OK):
        raise PermissionError(
            f"cache_dir {str(d)!r} is not writable; point data.cache_dir at a writable directory, "
            "or set it to None to disable caching"
        )
    return d


def cached_sample_with_status(
    cache_dir: str | os.PathLike,
    L: int,
    T: float,
    n_samples: int,
    *,
    algorithm: str | Algorithm = "metropolis",
    burn_in: int = 500,
    thin: int = 1,
    seed: int = 0,
    device: str | torch.device = "cpu",
    chains: int | None = None,
) -> tuple[torch.Tensor, CacheStatus]:
    """`sample(...)` generated once per parameter set and stored under `cache_dir`.

    The key is (L, T, n_samples, algorithm, burn_in, thin, seed, chains); the device is not part
    of it (any device's samples are equally valid; the file records which one made them).
    Concurrent callers are safe: a per-key flock lets one process generate while the others
    wait and then read, and the file appears by an atomic os.replace, so nobody reads a half-
    written file. A file that fails to load, has the wrong shape/parameters or a SHA-256
    mismatch is reported with a warning and regenerated, never used.

    Returns the spins (on `device`) and whether they were loaded, generated or regenerated.
    """
    L = _check_int("L", L, 2)
    T = _check_temperature(T)
    n_samples = _check_int("n_samples", n_samples, 1)
    algorithm = _check_algorithm(algorithm)
    burn_in, thin = _check_int("burn_in", burn_in, 0), _check_int("thin", thin, 1)
    seed, chains = int(seed), _check_chains(chains, n_samples)
    params = json.dumps(
        dict(L=L, T=T, n_samples=n_samples, algorithm=algorithm.value, burn_in=burn_in, thin=thin,
             seed=seed, chains=chains),
        sort_keys=True,
    )
    digest = hashlib.sha256(params.encode()).hexdigest()[:16]
    d = _cache_dir(cache_dir)
    path = d / f"ising_L{L}_T{T:.6g}_{algorithm.value}_n{n_samples}_{digest}.pt"
    shape = (n_samples, L, L)

    try:  # fast path without the lock: files only ever appear whole
        spins = _read_cache(path, params, shape)
        logger.info("loaded Ising samples from %s", path)
        return spins.to(device), CacheStatus.loaded
    except _CorruptCache:
        pass  # missing or corrupt: decide under the lock, another process may be writing it

    with _FileLock(d / f"{path.name}.lock"):
        status = CacheStatus.generated
        if path.exists():
            try:
                spins = _read_cache(path, params, shape)
                logger.info("loaded Ising samples from %s", path)
                return spins.to(device), CacheStatus.loaded
            except _CorruptCache as err:
                warnings.warn(f"Ising cache file {path} is corrupt ({err}); regenerating it", stacklevel=2)
                status = CacheStatus.regenerated
        spins = sample(L, T, n_samples, algorithm=algorithm, burn_in=burn_in, thin=thin, seed=seed,
                       device=device, chains=chains)
        cpu = spins.cpu().contiguous()
        blob = dict(format=_CACHE_FORMAT, params=params, spins=cpu, sha256=_checksum(cpu),
                    generated_on=str(torch.device(device)))
        _write_atomic(path, blob)
        logger.info("%s Ising samples into %s", status.value, path)
        return spins, status


def cached_sample(
    cache_dir: str | os.PathLike,
    L: int,
    T: float,
    n_samples: int,
    *,
    algorithm: str | Algorithm = "metropolis",
    burn_in: int = 500,
    thin: int = 1,
    seed: int = 0,
    device: str | torch.device = "cpu",
    chains: int | None = None,
) -> torch.Tensor:
    """`cached_sample_with_status(...)` without the status: int8 spins (n_samples, L, L)."""
    return cached_sample_with_status(
        cache_dir, L, T, n_samples, algorithm=algorithm, burn_in=burn_in, thin=thin, seed=seed,
        device=device, chains=chains,
    )[0]


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
