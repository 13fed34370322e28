"""RBM exactness on systems small enough to enumerate."""

from __future__ import annotations

import itertools

import pytest
import torch
from scipy import stats

from models.mcmc import gibbs
from models.rbm import RBM, spins_to_visible, visible_to_spins


def all_states(n: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Every {0, 1} configuration of n units, shape (2ⁿ, n)."""
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=dtype)


def random_rbm(n_v: int, n_h: int, w_std: float = 1.0, seed: int = 0, bias_std: float | None = None) -> RBM:
    """An RBM with N(0, w_std²) weights and N(0, bias_std²) biases (bias_std defaults to w_std)."""
    bias_std = w_std if bias_std is None else bias_std
    gen = torch.Generator().manual_seed(seed)
    rbm = RBM(n_v, n_h, init_std=w_std, generator=gen)
    with torch.no_grad():
        rbm.visible_bias.copy_(torch.randn(n_v, generator=gen) * bias_std)
        rbm.hidden_bias.copy_(torch.randn(n_h, generator=gen) * bias_std)
    return rbm


@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0])
def test_free_energy_is_log_sum_over_hidden(beta):
    """F_β(v) = −(1/β) log Σ_h exp(−β E(v, h)), checked by brute force on a 6×5 RBM."""
    rbm = random_rbm(6, 5, seed=1)
    v = all_states(6).double()
    rbm = rbm.double()
    hs = all_states(5).double()
    with torch.no_grad():
        energies = torch.stack([rbm.energy(v, h.expand(len(v), -1)) for h in hs])  # (2^n_h, 2^n_v)
        brute = -torch.logsumexp(-beta * energies, dim=0) / beta
        torch.testing.assert_close(rbm.free_energy(v, beta=beta), brute, rtol=1e-12, atol=1e-12)


def test_conditionals_match_energy_differences():
    """p(h_j=1|v) = σ(−β[E(v,h_j=1) − E(v,h_j=0)]) with the other h fixed (they factorise)."""
    rbm = random_rbm(4, 3, seed=2).double()
    v = all_states(4).double()
    h0 = torch.zeros(len(v), 3, dtype=torch.float64)
    for j in range(3):
        h1 = h0.clone()
        h1[:, j] = 1
        with torch.no_grad():
            expected = torch.sigmoid(-(rbm.energy(v, h1) - rbm.energy(v, h0)))
            torch.testing.assert_close(rbm.hidden_probs(v)[:, j], expected)


def test_batch_of_models_broadcasts():
    """A leading models dimension works with the same methods (future GPU packing)."""
    rbms = [random_rbm(5, 3, seed=s) for s in range(4)]
    stacked = RBM(5, 3)
    with torch.no_grad():
        stacked.W = torch.nn.Parameter(torch.stack([r.W for r in rbms]))
        stacked.visible_bias = torch.nn.Parameter(torch.stack([r.visible_bias for r in rbms]))
        stacked.hidden_bias = torch.nn.Parameter(torch.stack([r.hidden_bias for r in rbms]))
        v = all_states(5)
        batched = stacked.free_energy(v.expand(4, -1, -1))
        for i, r in enumerate(rbms):
            torch.testing.assert_close(batched[i], r.free_energy(v))


def test_gibbs_samples_the_boltzmann_distribution():
    """Long block-Gibbs chains on a 4×3 RBM reproduce p(v) ∝ exp(−F(v)) (χ² test, fixed seed)."""
    rbm = random_rbm(4, 3, w_std=0.8, seed=3)
    v_states = all_states(4)
    with torch.no_grad():
        logp = -rbm.free_energy(v_states)
        p = torch.softmax(logp.double(), 0)
        p = p / p.sum()
    gen = torch.Generator().manual_seed(0)
    v = torch.bernoulli(torch.full((4000, 4), 0.5), generator=gen)
    v, _ = gibbs(rbm, v, steps=50, generator=gen)  # 4000 independent chains, well mixed
    index = (v * torch.tensor([8.0, 4.0, 2.0, 1.0])).sum(1).long()
    observed = torch.bincount(index, minlength=16).double()
    _, pvalue = stats.chisquare(observed.numpy(), (p * len(v)).numpy())
    assert pvalue > 1e-3, f"Gibbs samples disagree with the exact distribution (p={pvalue:.2e})"


def test_spin_visible_round_trip():
    s = torch.randint(0, 2, (3, 4, 4)) * 2 - 1
    v = spins_to_visible(s)
    assert v.shape == (3, 16) and set(v.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(visible_to_spins(v, 4), s.float())
