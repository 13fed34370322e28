"""Observables of the cascade of phase transitions in RBM training, read off the SVD of W.

Bachtis, Biroli, Decelle & Seoane, "Cascade of phase transitions in the training of energy-based
models", NeurIPS 2024, arXiv:2405.14689; Decelle, Fissore & Furtlehner, EPL 119, 60001 (2017) and
J. Stat. Phys. 172, 1576 (2018). Write W = Σ_k σ_k u_k v_kᵀ (σ_1 ≥ σ_2 ≥ …). Early in training W
grows along the top principal directions of the data. Mode k "condenses" when σ_k crosses a
threshold: the model distribution goes from one (paramagnetic) lump to lumps split along u_k. This
is a paramagnet→ferromagnet transition of the projection m_k, with a peak of its susceptibility.

Conventions, for this project's {0, 1} units and E(v, h) = −v·b − h·c − vᵀWh (no 1/√N in W):

* spins s = 2v − 1 ∈ {−1, +1}^N, N = n_visible;
* projections (mode "magnetisations") m_k = u_k·s / √N. For u_k = ξ/√N with ξ ∈ {±1}^N this is the
  Mattis overlap (1/N) Σ_i ξ_i s_i ∈ [−1, 1];
* susceptibilities χ_k = N (⟨m_k²⟩ − ⟨|m_k|⟩²). This is the finite-size χ′ of `models.ising`. It is
  finite on both sides of the transition, and it peaks there. For independent unbiased spins
  χ_k → 1 − 2/π, and at the transition it grows like √N (mean-field).

Autocorrelation times of m_k along a chain use `models.ising.integrated_autocorr_time`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from models.ising.stats import integrated_autocorr_time
from models.rbm.model import RBM

__all__ = [
    "clustered_data",
    "condensation_threshold",
    "integrated_autocorr_time",
    "mode_autocorr_times",
    "mode_order_parameters",
    "mode_projections",
    "mode_susceptibilities",
    "rank_one_rbm",
    "top_singular_directions",
    "top_singular_values",
]


def top_singular_values(W: torch.Tensor, k: int = 1) -> torch.Tensor:
    """The k largest singular values σ_1 ≥ … ≥ σ_k of W (..., n_v, n_h), shape (..., k)."""
    return torch.linalg.svdvals(W.detach())[..., :k]


def top_singular_directions(W: torch.Tensor, k: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(U_k, S_k, V_k): W ≈ U_k diag(S_k) V_kᵀ with U_k (n_v, k), S_k (k,), V_k (n_h, k).

    Each sign is fixed so that the largest-magnitude entry of u_k is positive. This makes m_k
    comparable between checkpoints. |m_k| and χ_k do not depend on the sign.
    """
    U, S, Vh = torch.linalg.svd(W.detach(), full_matrices=False)
    U, S, V = U[..., :k], S[..., :k], Vh[..., :k, :].transpose(-1, -2)
    pivot = U.abs().argmax(dim=-2, keepdim=True)
    sign = torch.sign(torch.gather(U, -2, pivot))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    return U * sign, S, V * sign


def mode_projections(samples: torch.Tensor, U_k: torch.Tensor) -> torch.Tensor:
    """m_k = u_k·s / √N for samples (..., B, N) → (..., B, k).

    Samples with no negative entry are read as visible units v ∈ {0, 1} (or probabilities), and
    mapped to s = 2v − 1. Samples with negative entries are read as spins s ∈ {−1, +1}. A sample of
    all ones is the same state in both readings.
    """
    if samples.shape[-1] != U_k.shape[-2]:
        raise ValueError(
            f"samples have {samples.shape[-1]} units but U_k has {U_k.shape[-2]} rows; "
            "pass U_k from top_singular_directions(rbm.W, k) of the same model"
        )
    s = samples.to(U_k.dtype)
    if not bool((s < 0).any()):
        s = 2.0 * s - 1.0
    return s @ U_k / math.sqrt(samples.shape[-1])


def mode_order_parameters(projections: torch.Tensor) -> torch.Tensor:
    """⟨|m_k|⟩ over the samples axis: (..., B, k) → (..., k)."""
    return projections.abs().mean(-2)


def mode_susceptibilities(projections: torch.Tensor, n_visible: int) -> torch.Tensor:
    """χ_k = N (⟨m_k²⟩ − ⟨|m_k|⟩²) over the samples axis: (..., B, k) → (..., k), N = n_visible."""
    m = projections.double()
    return n_visible * (m.pow(2).mean(-2) - m.abs().mean(-2).pow(2))


def mode_autocorr_times(trajectory: torch.Tensor | np.ndarray) -> np.ndarray:
    """τ_int of each m_k along a chain trajectory (T, B, k) → (k,); B chains are independent series."""
    x = np.asarray(trajectory, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"trajectory must be (n_steps, n_chains, k), got shape {x.shape}")
    return np.array([integrated_autocorr_time(x[:, :, j].T) for j in range(x.shape[2])])


def condensation_threshold(p_visible: float = 0.5, p_hidden: float = 0.5) -> float:
    """The σ_1(W) above which the first mode condenses: σ_c = 1 / √(p_v(1 − p_v) p_h(1 − p_h)).

    At the symmetric point p_v = p_h = 1/2 this gives σ_c = 4.

    Derivation (naive mean-field, the leading order of Decelle et al. 2018, §3). The magnetisations
    μ_v = ⟨v⟩, μ_h = ⟨h⟩ solve μ_v = σ(b + W μ_h), μ_h = σ(c + Wᵀ μ_v). Linearising about the
    paramagnetic solution, with unit variances D_v = diag(p_v(1 − p_v)) and D_h likewise, gives
    δμ_v = D_v W D_h Wᵀ δμ_v. For uniform variances, the paramagnet is unstable along u_1 once
    p_v(1 − p_v) p_h(1 − p_h) σ_1² > 1.

    In spin language: v = (s + 1)/2, h = (τ + 1)/2 turn vᵀWh into ¼ sᵀWτ plus fields. For zero
    spin fields (b = −W1/2, c = −Wᵀ1/2, i.e. p = 1/2), the model is a ±1 RBM with couplings W/4.
    Its threshold w_1 = 1 (Decelle et al. 2017, 2018, ±1 units with unit variance) is σ_1(W)/4 = 1.
    Bachtis et al. (2024) train {0, 1} (Bernoulli-Bernoulli) RBMs on data, as here. Their analytic
    study uses a binary-Gaussian RBM in its own scaling, so its critical value is not in these units
    (we did not transcribe it). The value here is derived for this project's convention, and
    `tests/test_rbm_cascade.py` checks it by sampling. For the rank-one W = σ u vᵀ of `rank_one_rbm`,
    the same σ_c = 4 follows exactly from the Curie-Weiss form of the visible marginal,
    ∝ exp(N σ² m²/32 + O(m⁴)). It holds for any n_h/n_v.
    """
    for name, p in (("p_visible", p_visible), ("p_hidden", p_hidden)):
        if not 0.0 < p < 1.0:
            raise ValueError(f"{name} is the mean activation of a unit and must be in (0, 1), got {p}")
    return 1.0 / math.sqrt(p_visible * (1 - p_visible) * p_hidden * (1 - p_hidden))


def _balanced_signs(n: int, gen: torch.Generator) -> torch.Tensor:
    """A random vector in {±1}^n with Σ = 0 (n even), so that W1 = 0 and zero biases are symmetric."""
    if n % 2:
        raise ValueError(f"a balanced ±1 vector needs an even length, got {n}")
    signs = torch.ones(n)
    signs[n // 2:] = -1.0
    return signs[torch.randperm(n, generator=gen)]


def rank_one_rbm(n_visible: int, n_hidden: int, sigma: float | Sequence[float], *, seed: int = 0) -> RBM:
    """The RBM with W = σ u vᵀ and zero biases. u = ξ/√n_v, v = ζ/√n_h, with ξ, ζ balanced ±1 vectors.

    Since Σξ = Σζ = 0, the spin fields W1/2 and Wᵀ1/2 vanish. The model is then exactly the ±1 RBM
    with couplings W/4, with the symmetry s → −s. Its visible marginal is the Mattis/Curie-Weiss
    model ∝ Π_j 2cosh(σ √n_v m ζ_j / (4 √n_h)), m = ξ·s/n_v, which orders at σ = 4. A sequence of
    σ's gives a batch of models, with W of shape (len(sigma), n_v, n_h) and shared u, v.
    """
    gen = torch.Generator().manual_seed(seed)
    u = _balanced_signs(n_visible, gen) / math.sqrt(n_visible)
    v = _balanced_signs(n_hidden, gen) / math.sqrt(n_hidden)
    sig = torch.as_tensor(sigma, dtype=torch.float32)
    rbm = RBM(n_visible, n_hidden, init_std=0.0)
    with torch.no_grad():
        rbm.W = torch.nn.Parameter(sig[..., None, None] * torch.outer(u, v))
        rbm.visible_bias = torch.nn.Parameter(torch.zeros(*sig.shape, n_visible))
        rbm.hidden_bias = torch.nn.Parameter(torch.zeros(*sig.shape, n_hidden))
    return rbm


def clustered_data(
    n_visible: int,
    n_samples: int,
    *,
    n_modes: int = 1,
    flip_prob: float = 0.2,
    weights: Sequence[float] | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary data in 2·n_modes well-separated clusters ±ξ_a → (v (n_samples, N) in {0,1}, ξ (n_modes, N)).

    The prototypes ξ_a ∈ {±1}^N are independent and uniform. Each sample picks a mode a with
    probability weights[a] (uniform by default) and a sign ε = ±1 with probability 1/2. It then
    flips each spin of εξ_a with probability p = flip_prob: s = εξ_a ⊙ η, P(η_i = −1) = p,
    v = (s + 1)/2. The mixture is symmetric under s → −s, so ⟨v_i⟩ ≈ 1/2. In spin units the
    covariance is Σ_a w_a (1 − 2p)² ξ_a ξ_aᵀ + diagonal, whose top eigenvalues N w_a (1 − 2p)²
    lie along ξ_a/√N. An RBM learns these modes one at a time, in decreasing w_a, which gives a
    cascade (Bachtis et al. 2024 use such mixtures in their analytic study).
    """
    if not 0.0 <= flip_prob < 0.5:
        raise ValueError(f"flip_prob must be in [0, 0.5) for the clusters to stay separated, got {flip_prob}")
    if n_modes < 1 or n_visible < 1 or n_samples < 1:
        raise ValueError(f"need n_modes, n_visible, n_samples ≥ 1, got {n_modes}, {n_visible}, {n_samples}")
    w = torch.full((n_modes,), 1.0 / n_modes) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    if w.shape != (n_modes,) or bool((w < 0).any()) or not math.isclose(float(w.sum()), 1.0, rel_tol=1e-6):
        raise ValueError(f"weights must be {n_modes} non-negative numbers summing to 1, got {weights}")
    gen = torch.Generator().manual_seed(seed)
    prototypes = torch.randint(0, 2, (n_modes, n_visible), generator=gen).float() * 2 - 1
    mode = torch.multinomial(w.float(), n_samples, replacement=True, generator=gen)
    sign = torch.randint(0, 2, (n_samples, 1), generator=gen).float() * 2 - 1
    flips = torch.where(torch.rand(n_samples, n_visible, generator=gen) < flip_prob, -1.0, 1.0)
    spins = sign * prototypes[mode] * flips
    return (spins + 1) / 2, prototypes
