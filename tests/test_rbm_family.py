"""The RBM family's learning rules, schedules, likelihood tracking and cascade observables."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from models.rbm import likelihood as rbm_likelihood
from workers.families import base
from workers.families.rbm import config as rbm_config
from workers.families.rbm.family import RBMFamily
from workers.spec import TrialSpec


def family(data, **train) -> RBMFamily:
    defaults = dict(batch_size=16, sample_chains=16, sample_steps=12)
    spec = TrialSpec(
        "t", 0, rbm_config.RBMConfig(width=train.pop("width", 6)), data, rbm_config.RBMTrainConfig(**(defaults | train))
    )
    return RBMFamily(spec, torch.device("cpu"))


ISING = base.IsingDataConfig(L=4, n_samples=128, burn_in=20)


def test_pcd_keeps_its_chains_and_cd_restarts_at_the_data():
    pcd = family(ISING, rule=rbm_config.LearningRule.pcd, k=1)
    before = pcd.chains.clone()
    pcd.step(0)
    assert pcd.chains.shape == (16, 16) and not torch.equal(before, pcd.chains)
    cd = family(ISING, rule=rbm_config.LearningRule.cd)
    chains = cd.chains.clone()
    cd.step(0)
    assert torch.equal(chains, cd.chains), "CD never touches persistent chains"


def test_cosine_schedule_decays_the_learning_rate_to_zero():
    f = family(ISING, lr=0.1, lr_schedule=rbm_config.LRSchedule.cosine, steps=10)
    lrs = [f.step(s)["train/lr"] for s in range(10)]
    assert lrs[0] < 0.1 and all(a >= b for a, b in itertools.pairwise(lrs)) and lrs[-1] == pytest.approx(0)


def test_exact_log_likelihood_matches_a_direct_computation():
    f = family(ISING, loglik_every=1, width=6)
    for s in range(5):
        f.step(s)
    got = f.log_likelihood()
    log_z = rbm_likelihood.log_partition_exact(f.rbm)
    direct = (-f.rbm.free_energy(f.data).double().mean().item() - log_z) / f.rbm.n_visible
    assert got["obs/log_likelihood"] == pytest.approx(direct, rel=1e-6)
    assert got["obs/log_likelihood_err"] == 0.0
    assert got["obs/log_likelihood"] < 0


def test_large_layers_use_ais_with_an_error_bar():
    f = family(rbm_config.ClusteredDataConfig(N=24, n_samples=256), width=24, ais_chains=64, ais_betas=200)
    for s in range(3):
        f.step(s)
    out = f.log_likelihood()
    assert math.isfinite(out["obs/log_likelihood"]) and out["obs/log_likelihood_err"] > 0


def test_cascade_observables_on_clustered_data():
    f = family(rbm_config.ClusteredDataConfig(N=20, n_samples=256), rule=rbm_config.LearningRule.pcd, modes=2, width=8)
    out = f.observe(0)
    assert {"obs/sigma_1", "obs/sigma_2", "obs/model_m_1", "obs/model_chi_1", "obs/data_m_1", "chain/tau_m1"} <= set(
        out
    )
    assert out["obs/sigma_1"] >= out["obs/sigma_2"] >= 0
    assert "obs/model_energy" not in out, "Ising observables only for Ising data"


def test_relative_errors_are_the_model_data_gap_over_the_data_value():
    out = family(ISING).observe(0)
    for name in ("energy", "specific_heat"):
        model, data = out[f"obs/model_{name}"], out[f"obs/data_{name}"]
        assert out[f"obs/{name}_error"] == pytest.approx(abs(model - data))
        assert out[f"obs/{name}_rel_error"] == pytest.approx(abs(model - data) / abs(data))
    # an untrained RBM (weights ~0.01) samples nearly independent spins: far from the ordered data at T_c
    assert out["obs/energy_rel_error"] > 0.5
