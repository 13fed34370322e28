"""Cascade observables: SVD helpers, projections, and the condensation threshold σ_c = 4 checked by Gibbs sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.mcmc import gibbs
from models.rbm.cascade import (
    clustered_data,
    condensation_threshold,
    mode_autocorr_times,
    mode_order_parameters,
    mode_projections,
    mode_susceptibilities,
    rank_one_rbm,
    top_singular_directions,
    top_singular_values,
)
from models.transitions import peak_location


def mean_field_overlap(sigma: float, alpha: float = 1.0) -> float:
    """Stable solution of m_v = tanh(a √α m_h), m_h = tanh(a m_v / √α), a = σ/4 (rank-one model, n_h = α n_v)."""
    m = 1.0
    for _ in range(10_000):
        m = math.tanh(sigma / 4 * math.sqrt(alpha) * math.tanh(sigma / 4 / math.sqrt(alpha) * m))
    return m


def scan_rank_one(n: int, sigmas: np.ndarray, *, chains: int, sweeps: int, seed: int = 0):
    """Gibbs-sample rank-one RBMs W = σ u vᵀ (n_v = n_h = n) at each σ, all as one batch of models.

    Returns χ_1(σ), ⟨|m_1|⟩(σ) over the last 80% of sweeps and all chains, and the m_1 trajectories
    (sweeps, n_σ, chains) of that window.
    """
    rbm = rank_one_rbm(n, n, sigmas.tolist(), seed=seed)
    U, _, _ = top_singular_directions(rbm.W, 1)
    gen = torch.Generator().manual_seed(seed)
    v = torch.bernoulli(torch.full((len(sigmas), chains, n), 0.5), generator=gen)
    trajectory = []
    for _ in range(sweeps):
        v, _ = gibbs(rbm, v, steps=1, generator=gen)
        trajectory.append(mode_projections(v, U)[..., 0])
    trajectory = torch.stack(trajectory)[sweeps // 5 :]
    pooled = trajectory.permute(1, 0, 2).reshape(len(sigmas), -1, 1)
    chi = mode_susceptibilities(pooled, n)[:, 0].numpy()
    order = mode_order_parameters(pooled)[:, 0].numpy()
    return chi, order, trajectory


def test_threshold_value():
    assert condensation_threshold() == 4.0
    assert condensation_threshold(0.1, 0.5) == pytest.approx(1 / math.sqrt(0.09 * 0.25))
    with pytest.raises(ValueError, match="p_hidden"):
        condensation_threshold(0.5, 1.0)


def test_svd_helpers_reconstruct_and_fix_signs():
    W = torch.randn(7, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    U, S, V = top_singular_directions(W, 5)
    torch.testing.assert_close(U @ torch.diag(S) @ V.T, W)
    torch.testing.assert_close(top_singular_values(W, 2), S[:2])
    pivots = U.abs().argmax(0)
    assert (U[pivots, torch.arange(5)] > 0).all()
    U_neg, _, _ = top_singular_directions(-W, 5)
    torch.testing.assert_close(U_neg, U)  # same directions, sign fixed by the same rule


def test_rank_one_rbm_is_spin_symmetric():
    rbm = rank_one_rbm(10, 6, [2.0, 5.0])
    assert rbm.W.shape == (2, 10, 6)
    torch.testing.assert_close(top_singular_values(rbm.W, 2)[:, 0], torch.tensor([2.0, 5.0]))
    assert top_singular_values(rbm.W, 2)[:, 1].abs().max() < 1e-5
    assert rbm.W.sum(-1).abs().max() < 1e-6 and rbm.W.sum(-2).abs().max() < 1e-6  # spin fields W1/2 vanish


def test_projections_read_visible_and_spin_conventions():
    _, prototypes = clustered_data(64, 1, seed=1)
    xi = prototypes[0]
    U = (xi / 8.0)[:, None]  # u = ξ/√N
    spins = torch.stack([xi, -xi])
    torch.testing.assert_close(mode_projections(spins, U), torch.tensor([[1.0], [-1.0]]))
    torch.testing.assert_close(mode_projections((spins + 1) / 2, U), mode_projections(spins, U))
    with pytest.raises(ValueError, match="top_singular_directions"):
        mode_projections(spins[:, :10], U)


def test_paramagnetic_susceptibility():
    """Independent unbiased spins: ⟨m²⟩ = 1/N, ⟨|m|⟩ = √(2/(πN)), so χ = 1 − 2/π."""
    gen = torch.Generator().manual_seed(0)
    v = torch.bernoulli(torch.full((40_000, 100), 0.5), generator=gen)
    U, _, _ = top_singular_directions(torch.randn(100, 3, generator=gen), 3)
    chi = mode_susceptibilities(mode_projections(v, U), 100)
    torch.testing.assert_close(chi, torch.full((3,), 1 - 2 / math.pi, dtype=torch.float64), atol=0.02, rtol=0)


def test_clustered_data_modes():
    """The top spin-covariance eigenvectors are the prototypes ξ_a/√N, with eigenvalues ≈ N w_a (1 − 2p)²."""
    n, p = 100, 0.2
    v, prototypes = clustered_data(n, 4000, n_modes=2, flip_prob=p, weights=[0.7, 0.3], seed=0)
    assert v.shape == (4000, n) and set(v.unique().tolist()) == {0.0, 1.0}
    assert (v.mean(0) - 0.5).abs().max() < 0.05
    s = 2 * v - 1
    evals, evecs = torch.linalg.eigh(s.T @ s / len(s))
    for rank, (a, w) in enumerate([(0, 0.7), (1, 0.3)]):
        overlap = (evecs[:, -1 - rank] @ prototypes[a]).abs() / math.sqrt(n)
        assert overlap > 0.95
        assert evals[-1 - rank] == pytest.approx(n * w * (1 - 2 * p) ** 2, rel=0.15)


def test_first_mode_condenses_at_threshold():
    """Rank-one RBMs, n_v = n_h = 200, Gibbs-sampled at σ ∈ [2, 6]: the |m_1| order parameter turns on and
    χ_1 peaks near σ_c = 4 (finite size shifts the peak up, ≈ 4.2 here; tolerance [3.75, 4.75]); τ_int of
    m_1 grows at σ_c (critical slowing down); deep in the ordered phase |m_1| is the mean-field overlap."""
    sigmas = np.arange(2.0, 6.01, 0.25)
    chi, order, trajectory = scan_rank_one(200, sigmas, chains=32, sweeps=500)
    peak = peak_location(sigmas, chi, n_boot=0).location
    print("σ:", sigmas.tolist(), "\nχ_1:", chi.round(2).tolist(), "\n|m_1|:", order.round(3).tolist(), "\npeak", peak)
    assert 3.75 <= peak <= 4.75
    assert chi.max() > 4 * chi[0] and chi.max() > 4 * chi[-1]
    assert (order[sigmas <= 3.0] < 0.15).all()
    assert order[-1] == pytest.approx(mean_field_overlap(6.0), abs=0.03)
    at = {s: i for i, s in enumerate(sigmas.tolist())}
    tau = {s: mode_autocorr_times(trajectory[:, at[s], :, None].numpy())[0] for s in (2.0, 4.0)}
    print("τ_int(m_1):", tau)
    assert tau[4.0] > 5 * tau[2.0]


@pytest.mark.slow
def test_threshold_finite_size_scaling():
    """Mean-field finite-size scaling: from N = 100 to 400 the χ_1 peak moves towards 4 and grows ≈ √4 = 2×."""
    sigmas = np.arange(3.0, 5.51, 0.125)
    peaks, heights = {}, {}
    for n, chains in ((100, 64), (400, 32)):
        chi, _, _ = scan_rank_one(n, sigmas, chains=chains, sweeps=500)
        peaks[n], heights[n] = peak_location(sigmas, chi, n_boot=0).location, chi.max()
    print("peaks", peaks, "heights", heights)
    assert abs(peaks[400] - 4) < abs(peaks[100] - 4)
    assert 1.5 < heights[400] / heights[100] < 2.7
