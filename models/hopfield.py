"""Hopfield network with Hebbian couplings, Glauber dynamics at temperature T, and its theory.

N units s_i ∈ {−1, +1} store P random patterns ξ^μ ∈ {−1, +1}^N (Hopfield 1982):

    W = (1/N) Σ_μ ξ^μ ξ^μᵀ,  W_ii = 0,      E(s) = −½ sᵀ W s,      h_i = Σ_j W_ij s_j.

With the overlaps m_μ = ξ^μ·s / N, the field is h_i = Σ_μ ξ^μ_i m_μ − (P/N) s_i, so nothing
needs the N×N matrix: a sweep of the dynamics costs O(N P) per chain. At load α = P/N → 0 the
retrieval state has the mean-field overlap m = tanh(m/T) (nonzero for T < 1). Retrieval survives up to
α_c(T = 0) = `ALPHA_C` ≈ 0.138 (Amit, Gutfreund & Sompolinsky 1985, 1987), where the
replica-symmetric overlap drops from m ≈ 0.967 to a spin-glass state.

Everything broadcasts over a leading batch of networks: patterns (*nets, P, N) with states
(*nets, B, N), so many independent networks run in one vectorised call.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import brentq
from torch import nn

ALPHA_C = 0.138
"""Storage capacity at T = 0 (Amit, Gutfreund & Sompolinsky, PRL 55, 1530 (1985))."""


def random_patterns(
    P: int,
    N: int,
    *,
    n_networks: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Unbiased random patterns ξ^μ_i = ±1 with probability ½ each: shape (P, N), or (n_networks, P, N)."""
    shape = (P, N) if n_networks is None else (n_networks, P, N)
    bits = torch.randint(2, shape, generator=generator, device=device)
    return (2 * bits - 1).to(torch.float32)


class Hopfield(nn.Module):
    """A Hopfield network defined by its stored patterns (a buffer, so it is in the state dict)."""

    def __init__(self, patterns: torch.Tensor) -> None:
        super().__init__()
        if patterns.dim() < 2 or not bool(((patterns == 1) | (patterns == -1)).all()):
            raise ValueError(f"Hopfield patterns must be ±1 of shape (…, P, N), got shape {tuple(patterns.shape)}")
        self.register_buffer("patterns", patterns.to(torch.float32))

    @property
    def P(self) -> int:
        return self.patterns.shape[-2]

    @property
    def N(self) -> int:
        return self.patterns.shape[-1]

    @property
    def alpha(self) -> float:
        """Load α = P/N."""
        return self.P / self.N

    @property
    def W(self) -> torch.Tensor:
        """Couplings W = (1/N) Σ_μ ξ^μ ξ^μᵀ with zero diagonal, shape (…, N, N) (built on demand)."""
        xi = self.patterns
        w = xi.transpose(-1, -2) @ xi / self.N
        return w - torch.diag_embed(torch.diagonal(w, dim1=-2, dim2=-1))

    def overlaps(self, s: torch.Tensor) -> torch.Tensor:
        """m_μ = ξ^μ·s / N for states (…, B, N); shape (…, B, P)."""
        return s.to(self.patterns.dtype) @ self.patterns.transpose(-1, -2) / self.N

    def local_field(self, s: torch.Tensor) -> torch.Tensor:
        """h_i = Σ_j W_ij s_j = Σ_μ ξ^μ_i m_μ − (P/N) s_i; shape of s."""
        s = s.to(self.patterns.dtype)
        return self.overlaps(s) @ self.patterns - (self.P / self.N) * s

    def energy(self, s: torch.Tensor) -> torch.Tensor:
        """E(s) = −½ sᵀWs = −(N/2) Σ_μ m_μ² + P/2 (using s_i² = 1); shape (…, B)."""
        return -0.5 * self.N * self.overlaps(s).pow(2).sum(-1) + 0.5 * self.P

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Load patterns of any (…, P, N) shape; the couplings follow from them."""
        self.patterns = state_dict["patterns"].to(self.patterns.device, torch.float32).clone()
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


def overlap(s: torch.Tensor, pattern: torch.Tensor) -> torch.Tensor:
    """m = ξ·s / N, broadcasting s (…, N) against pattern (…, N); shape (…)."""
    return (s.to(torch.float32) * pattern.to(torch.float32)).sum(-1) / s.shape[-1]


@torch.no_grad()
def glauber(
    model: Hopfield,
    s: torch.Tensor,
    *,
    sweeps: int,
    temperature: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random-sequential Glauber (heat-bath) dynamics: `sweeps` sweeps of N single-site updates.

    Each sweep visits the sites one at a time in a fresh random order (one permutation shared
    by all chains; the chains are independent, so their laws are unaffected) and sets

        s_i = +1 with probability σ(2 h_i / T),   h_i = Σ_j W_ij s_j   (T > 0),
        s_i = sign(h_i) with sign(0) = +1                               (T = 0),

    so every update is an exact heat-bath step for exp(−E/T) given the current state. The
    site update is vectorised over all chains (…, B); the field comes from the pattern
    overlaps, N h_i = Σ_μ ξ^μ_i (N m_μ) − P s_i, and a flip Δs_i updates them in O(P):
    N m_μ += ξ^μ_i Δs_i. These integer-valued quantities are exact in float32 for N·P < 2²⁴
    (float64 above), so T = 0 ties are detected exactly and nothing drifts. The T > 0 test
    u < σ(2h/T) is written as N h ≥ (N T/2) logit(u) with u drawn once per sweep.
    At T = 0 the loop stops early once a sweep changes no unit in any chain (a fixed point,
    where further sweeps are no-ops). `s` is ±1 of shape (…, B, N); returns a new float tensor.
    """
    if sweeps < 0 or temperature < 0:
        raise ValueError(f"glauber needs sweeps ≥ 0 and temperature ≥ 0, got {sweeps}, {temperature}")
    N, P = model.N, model.P
    dtype = torch.float32 if N * P < 2**24 else torch.float64
    xi_t = model.patterns.to(dtype).transpose(-1, -2).contiguous()  # (…, N, P): site i's ξ_i^μ contiguous
    s = s.to(dtype).clone()
    counts = s @ xi_t  # N m_μ, (…, B, P)
    threshold: torch.Tensor | float = 0.0
    for _ in range(sweeps):
        order = torch.randperm(N, generator=generator, device=s.device).tolist()
        if temperature > 0:
            u = torch.rand(s.shape, generator=generator, device=s.device, dtype=dtype)
            thresholds = 0.5 * N * temperature * torch.logit(u)
        before = s.clone() if temperature == 0 else None
        for i in order:
            xi_i = xi_t[..., i : i + 1, :]  # (…, 1, P)
            s_i = s[..., i]
            field = (counts * xi_i).sum(-1) - P * s_i  # N h_i, (…, B)
            if temperature > 0:
                threshold = thresholds[..., i]
            new = torch.where(field >= threshold, 1.0, -1.0).to(dtype)
            delta = new - s_i
            s[..., i] = new
            counts.addcmul_(delta.unsqueeze(-1), xi_i)
        if before is not None and torch.equal(before, s):
            break
    return s.to(torch.float32)


def mean_field_overlap(T: float) -> float:
    """The α → 0 retrieval overlap: the largest root of m = tanh(m/T); 1 at T = 0, 0 for T ≥ 1."""
    if T < 0:
        raise ValueError(f"temperature must be ≥ 0, got {T}")
    if T == 0:
        return 1.0
    if T >= 1:
        return 0.0
    return brentq(lambda m: m - math.tanh(m / T), 1e-12, 1.0, xtol=1e-14)


def replica_symmetric_overlap(alpha: float, T: float, *, iterations: int = 5000) -> float:
    """Retrieval overlap m(α, T) of the replica-symmetric AGS theory (Amit et al. 1987):

        m = ⟨tanh β(m + √(αr) z)⟩_z,  q = ⟨tanh² β(m + √(αr) z)⟩_z,  r = q / (1 − β(1 − q))²,

    with z ~ N(0, 1), solved by damped iteration from m = 1; at T = 0 the limit
    m = erf(m/√(2αr)), r = 1/(1 − C)², C = √(2/(παr)) exp(−m²/(2αr)). Returns 0 once the
    retrieval solution is lost (α > α_c(T)). Finite-N simulations retrieve slightly beyond it.
    """
    from scipy.special import erf

    z, w = np.polynomial.hermite_e.hermegauss(101)
    w = w / w.sum()
    m, q, r = 1.0, 1.0, 1.0
    for _ in range(iterations):
        if T == 0:
            c = math.sqrt(2.0 / (math.pi * alpha * r)) * math.exp(-(m * m) / (2.0 * alpha * r))
            m_new, r_new = float(erf(m / math.sqrt(2.0 * alpha * r))), 1.0 / (1.0 - min(c, 0.999)) ** 2
        else:
            a = np.tanh((m + math.sqrt(alpha * r) * z) / T)
            m_new, q = float((w * a).sum()), float((w * a * a).sum())
            r_new = q / (1.0 - (1.0 - q) / T) ** 2 if (1.0 - q) / T < 0.999 else 1e6
        m, r = 0.5 * m + 0.5 * m_new, 0.5 * r + 0.5 * r_new
    return m if m > 1e-3 else 0.0


def final_overlaps(
    N: int,
    alpha: float,
    T: float,
    *,
    flip_fraction: float = 0.1,
    n_trials: int = 32,
    sweeps: int = 30,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Final overlaps with a stored pattern after Glauber dynamics, one per trial; shape (n_trials,).

    Each of `n_trials` independent networks stores P = round(αN) fresh random patterns and
    starts from pattern 0 with exactly round(flip_fraction·N) randomly chosen bits flipped;
    after `sweeps` sweeps at temperature T the overlap m = ξ⁰·s/N is recorded. Networks run
    vectorised, in chunks that keep the pattern tensor under about 256 MB.
    """
    P = round(alpha * N)
    if P < 1 or n_trials < 1 or not 0.0 <= flip_fraction <= 1.0:
        raise ValueError(
            f"retrieval needs round(alpha·N) ≥ 1, n_trials ≥ 1, flip_fraction in [0, 1]; "
            f"got alpha·N={alpha * N}, n_trials={n_trials}, flip_fraction={flip_fraction}"
        )
    device = torch.device("cpu") if device is None else torch.device(device)
    generator = torch.Generator(device).manual_seed(seed)
    chunk = max(1, min(n_trials, (2**26) // (P * N)))
    finals = []
    for first in range(0, n_trials, chunk):
        n_nets = min(chunk, n_trials - first)
        patterns = random_patterns(P, N, n_networks=n_nets, generator=generator, device=device)
        target = patterns[:, :1, :]  # (nets, 1, N)
        ranks = torch.rand(n_nets, 1, N, generator=generator, device=device).argsort(-1).argsort(-1)
        flips = torch.where(ranks < round(flip_fraction * N), -1.0, 1.0)
        s = glauber(Hopfield(patterns), target * flips, sweeps=sweeps, temperature=T, generator=generator)
        finals.append(overlap(s, target).flatten())
    return torch.cat(finals).cpu()


def retrieval_overlap(
    N: int,
    alpha: float,
    T: float,
    *,
    flip_fraction: float = 0.1,
    n_trials: int = 32,
    sweeps: int = 30,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> tuple[float, float]:
    """Mean final overlap and its standard error over trials; see `final_overlaps` for the protocol."""
    m = final_overlaps(
        N, alpha, T, flip_fraction=flip_fraction, n_trials=n_trials, sweeps=sweeps, seed=seed, device=device
    ).double()
    stderr = float(m.std() / math.sqrt(len(m))) if len(m) > 1 else float("nan")
    return float(m.mean()), stderr


@torch.no_grad()
def glauber_population(
    patterns: torch.Tensor,
    s: torch.Tensor,
    *,
    sweeps: int,
    temperatures: list[float],
    generators: list[torch.Generator],
) -> torch.Tensor:
    """`glauber` (random-sequential heat-bath dynamics, Glauber 1963) for a population of K systems at
    once, each at its own temperature and with its own generator: patterns (K, …, P, N) and states
    (K, …, B, N); returns a new float tensor of s's shape.

    System k draws exactly what `glauber(Hopfield(patterns[k]), s[k], temperature=temperatures[k],
    generator=generators[k])` draws, in the same order (per sweep its site order, then at T > 0 its
    uniforms), and stops drawing after a T = 0 sweep that changed none of its units, as `glauber` stops.
    Its sites are visited in its own order: before a sweep each system's site axis is permuted by its
    order, so that the t-th update of every system is one vectorised step on column t. The field
    N h_i = Σ_μ ξ^μ_i (N m_μ) − P s_i and the overlap counts N m_μ are sums of integers, exact in
    float32 for N·P < 2²⁴ (float64 above) whatever order they are summed in, and each system's T > 0
    thresholds (N T/2) logit(u) are computed by `glauber`'s own expression on its own uniforms. So every
    accept/reject compares the same numbers, and system k ends bit-identical to its lone `glauber` run.
    A system at a T = 0 fixed point that stopped drawing is swept in the identity order: no unit of a
    fixed point changes whatever the order, so its state is untouched.
    """
    K = len(generators)
    if patterns.dim() < 3 or s.dim() < 3 or patterns.shape[0] != K or s.shape[0] != K or len(temperatures) != K:
        raise ValueError(
            f"glauber_population needs patterns (K, …, P, N), states (K, …, B, N), K temperatures and K "
            f"generators; got {tuple(patterns.shape)}, {tuple(s.shape)}, {len(temperatures)}, {K}"
        )
    if sweeps < 0 or min(temperatures, default=0.0) < 0:
        raise ValueError(f"glauber needs sweeps ≥ 0 and temperature ≥ 0, got {sweeps}, {min(temperatures)}")
    N, P = patterns.shape[-1], patterns.shape[-2]
    dtype = torch.float32 if N * P < 2**24 else torch.float64
    xi_t = patterns.to(dtype).transpose(-1, -2).contiguous()  # (K, …, N, P)
    s = s.to(dtype).clone()
    counts = s @ xi_t  # N m_μ, (K, …, B, P)
    identity = torch.arange(N, device=s.device)
    settled = [False] * K
    for _ in range(sweeps):
        if all(settled):
            break
        orders, thresholds = [], torch.zeros_like(s)
        for k, (gen, T) in enumerate(zip(generators, temperatures, strict=True)):
            if settled[k]:
                orders.append(identity)
                continue
            orders.append(torch.randperm(N, generator=gen, device=s.device))
            if T > 0:
                u = torch.rand(s.shape[1:], generator=gen, device=s.device, dtype=dtype)
                thresholds[k] = 0.5 * N * T * torch.logit(u)
        order = torch.stack(orders)  # (K, N)
        sites = order.view(K, *(1,) * (s.dim() - 2), N).expand_as(s)
        s_perm, th_perm = s.gather(-1, sites), thresholds.gather(-1, sites)
        xi_perm = xi_t.gather(-2, order.view(K, *(1,) * (xi_t.dim() - 3), N, 1).expand_as(xi_t))
        before = s_perm.clone()
        for t in range(N):
            xi_i = xi_perm[..., t : t + 1, :]  # (K, …, 1, P)
            s_i = s_perm[..., t]
            field = (counts * xi_i).sum(-1) - P * s_i  # N h_i, (K, …, B)
            new = torch.where(field >= th_perm[..., t], 1.0, -1.0).to(dtype)
            delta = new - s_i
            s_perm[..., t] = new
            counts.addcmul_(delta.unsqueeze(-1), xi_i)
        s.scatter_(-1, sites, s_perm)
        for k, T in enumerate(temperatures):
            settled[k] = settled[k] or (T == 0 and torch.equal(before[k], s_perm[k]))
    return s.to(torch.float32)
