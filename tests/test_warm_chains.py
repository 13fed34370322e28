"""Warm-started measurement chains (`train.sample_warm_steps`): the drift check against known answers, the
continued chains against the exact distribution of an enumerable RBM, and per-model independence."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from models.mcmc import drift_z, gibbs_until_stationary
from models.rbm import RBM
from tests.test_rbm import all_states, random_rbm


def batch(*rbms: RBM) -> RBM:
    """P RBMs as one batched RBM, W (P, n_v, n_h)."""
    return RBM.of(*(torch.stack([getattr(r, k).detach() for r in rbms]) for k in ("W", "visible_bias", "hidden_bias")))


def exact(rbm: RBM, n_v: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.softmax(-rbm.free_energy(all_states(n_v)).double(), 0)


def draw(p: torch.Tensor, n_v: int, chains: int, seed: int) -> torch.Tensor:
    """`chains` exact samples of p(v) over the enumerated states."""
    index = torch.multinomial(p, chains, replacement=True, generator=torch.Generator().manual_seed(seed))
    return all_states(n_v)[index]


def chi2_pvalue(v: torch.Tensor, p: torch.Tensor) -> float:
    n_v = v.shape[-1]
    index = (v * 2 ** torch.arange(n_v - 1, -1, -1)).sum(-1).long()
    observed = torch.bincount(index, minlength=2**n_v).double()
    return float(stats.chisquare(observed.numpy(), (p * len(v)).numpy()).pvalue)


def test_drift_z_is_the_paired_z_score():
    before = torch.zeros(2, 3)
    after = torch.tensor([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]])
    z = drift_z(before, after)
    assert z[0] == pytest.approx(2 * math.sqrt(3))  # mean 2, sd 1 over 3 chains
    assert z[1] == 0.0  # every chain moved alike: sd 0 reads as no evidence of drift


def test_chains_already_in_equilibrium_stop_after_one_block():
    rbm = random_rbm(6, 3, w_std=0.8, seed=1)
    p = exact(rbm, 6)
    start = draw(p, 6, 4000, seed=0)[None]
    direction = torch.ones(1, 6) / math.sqrt(6)
    v, steps, z, traces = gibbs_until_stationary(
        batch(rbm), start, block=5, max_steps=50, generator=[torch.Generator().manual_seed(2)], direction=direction
    )
    assert steps.tolist() == [5] and z[0] <= 3.0
    assert traces[0].shape == (4000, 5)
    assert chi2_pvalue(v[0], p) > 1e-3


def test_chains_started_far_from_equilibrium_run_on_until_they_pass_and_then_sample_the_model():
    """All chains start in one configuration: the first blocks drift, later ones pass, and the chains then
    reproduce the exact distribution."""
    rbm = random_rbm(6, 3, w_std=1.5, seed=4, bias_std=0.3)
    p = exact(rbm, 6)
    rare = all_states(6)[int(p.argmin())]
    start = rare.expand(4000, 6).clone()[None]
    v, steps, z, _ = gibbs_until_stationary(
        batch(rbm), start, block=2, max_steps=200, generator=[torch.Generator().manual_seed(0)]
    )
    assert 2 < int(steps[0]) < 200 and z[0] <= 3.0
    assert chi2_pvalue(v[0], p) > 1e-3


def test_max_steps_bounds_the_blocks():
    rbm = random_rbm(6, 3, seed=1)
    start = torch.zeros(1, 100, 6)
    _, steps, _, _ = gibbs_until_stationary(
        batch(rbm), start, block=4, max_steps=10, generator=[torch.Generator().manual_seed(0)], z_max=-1.0
    )
    assert steps.tolist() == [8], "whole blocks only, never past max_steps"


def test_each_model_continues_on_its_own():
    """A model's chains, steps and trace are the same alone as beside another model that needs more blocks."""
    calm, wild = random_rbm(6, 3, w_std=0.5, seed=1), random_rbm(6, 3, w_std=1.5, seed=4, bias_std=0.3)
    start_calm = draw(exact(calm, 6), 6, 500, seed=0)
    start_wild = torch.ones(500, 6)
    u = torch.ones(2, 6) / math.sqrt(6)

    def gens():
        return [torch.Generator().manual_seed(10), torch.Generator().manual_seed(11)]

    both = gibbs_until_stationary(
        batch(calm, wild), torch.stack([start_calm, start_wild]), block=3, max_steps=60, generator=gens(), direction=u
    )
    alone = gibbs_until_stationary(
        batch(calm), start_calm[None], block=3, max_steps=60, generator=gens()[:1], direction=u[:1]
    )
    assert int(both[1][1]) > int(both[1][0]), "the wild model needs more blocks than the calm one"
    assert torch.equal(both[0][0], alone[0][0]) and int(both[1][0]) == int(alone[1][0])
    assert torch.equal(both[3][0], alone[3][0])
