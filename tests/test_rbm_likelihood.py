"""log Z of an RBM: exact enumeration against brute force, and AIS and TI against exact, with fixed seeds.

Statistical tolerances: AIS must land within 3 of its own standard errors AND within 0.1 nats of the
exact log Z; TI and AIS must agree within 3 combined standard errors, √(se_AIS² + se_TI²).
"""

from __future__ import annotations

import functools
import math

import pytest
import torch

from models.mcmc import gibbs
from models.rbm import RBM
from models.rbm import likelihood as rbm_likelihood
from models.rbm.cascade import clustered_data
from models.rbm.likelihood import (
    ais_log_partition,
    ais_schedule,
    log_likelihood,
    log_partition_exact,
    ti_log_partition,
)
from tests.test_rbm import all_states as _all_states
from tests.test_rbm import random_rbm as _random_rbm

N_V, N_H = 20, 12
AIS = dict(n_chains=500, n_betas=1000)
TI = dict(n_betas=101, n_chains=200, steps_per_beta=20)


all_states = functools.partial(_all_states, dtype=torch.float64)
random_rbm = functools.partial(_random_rbm, bias_std=0.5)  # biases N(0, 0.25) unless a test says otherwise


def brute_force_log_z(rbm: RBM) -> float:
    """log Σ_{v,h} exp(−E(v, h)) over every pair, straight from `RBM.energy`."""
    m = rbm.double()
    vs, hs = all_states(m.n_visible), all_states(m.n_hidden)
    v = vs.repeat_interleave(len(hs), 0)
    h = hs.repeat(len(vs), 1)
    with torch.no_grad():
        return float(torch.logsumexp(-m.energy(v, h), 0))


def cd1_trained_rbm() -> tuple[RBM, torch.Tensor]:
    """A 20×12 RBM after 1000 CD-1 steps on four clusters ±ξ_1, ±ξ_2 (10% bit flips): multimodal."""
    data, _ = clustered_data(N_V, 1000, n_modes=2, flip_prob=0.1, seed=3)
    gen = torch.Generator().manual_seed(0)
    rbm = RBM(N_V, N_H, init_std=0.01, generator=gen)
    lr, batch_size = 0.1, 100
    for _ in range(1000):
        batch = data[torch.randint(0, len(data), (batch_size,), generator=gen)]
        v_neg, p_h_neg = gibbs(rbm, batch, steps=1, generator=gen)
        with torch.no_grad():
            p_h = rbm.hidden_probs(batch)
            rbm.W += lr * (batch.T @ p_h - v_neg.T @ p_h_neg) / batch_size
            rbm.visible_bias += lr * (batch - v_neg).mean(0)
            rbm.hidden_bias += lr * (p_h - p_h_neg).mean(0)
    return rbm, data


CASES = {
    "w_std=0.5/sqrt(20)": lambda: (random_rbm(N_V, N_H, 0.5 / math.sqrt(N_V), seed=1), None),
    "w_std=1.5/sqrt(20)": lambda: (random_rbm(N_V, N_H, 1.5 / math.sqrt(N_V), seed=2), None),
    "w_std=3/sqrt(20)": lambda: (random_rbm(N_V, N_H, 3.0 / math.sqrt(N_V), seed=3), None),
    "cd1_trained": cd1_trained_rbm,
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    rbm, data = CASES[request.param]()
    return request.param, rbm, data, log_partition_exact(rbm)


@pytest.mark.parametrize(("n_v", "n_h"), [(8, 8), (6, 9), (9, 6)])
@pytest.mark.parametrize("chunk_bits", [14, 3])
def test_exact_matches_brute_force(n_v, n_h, chunk_bits, monkeypatch):
    """Summing out the larger layer analytically equals the double sum over v and h, chunked or not."""
    monkeypatch.setattr(rbm_likelihood, "_CHUNK_BITS", chunk_bits)
    rbm = random_rbm(n_v, n_h, w_std=1.0, seed=n_v + 10 * n_h, bias_std=1.0)
    exact, brute = log_partition_exact(rbm), brute_force_log_z(rbm)
    assert abs(exact - brute) <= 1e-6 * abs(brute)


def test_exact_refuses_two_large_layers():
    with pytest.raises(ValueError, match="ais_log_partition"):
        log_partition_exact(RBM(21, 22))


def test_log_likelihood_normalises():
    """Σ_v p(v) = 1 with p(v) = exp(log_likelihood(rbm, [v], log Z))."""
    rbm = random_rbm(8, 5, w_std=0.8, seed=4)
    log_z = log_partition_exact(rbm)
    per_state = torch.tensor([log_likelihood(rbm, v[None], log_z) for v in all_states(8)])
    assert abs(float(torch.logsumexp(per_state, 0))) < 1e-10


def test_ais_schedule_shape():
    betas = ais_schedule(1000)
    assert len(betas) == 1001 and betas[0] == 0.0 and betas[-1] == 1.0
    assert (betas[1:] > betas[:-1]).all()


def test_ais_matches_exact(case):
    name, rbm, data, exact = case
    log_z, stderr = ais_log_partition(rbm, seed=0, data=data, **AIS)
    print(f"{name}: exact {exact:.4f}  AIS {log_z:.4f} ± {stderr:.4f}  diff {log_z - exact:+.4f}")
    assert abs(log_z - exact) <= 3 * stderr
    assert abs(log_z - exact) <= 0.1


def test_ti_agrees_with_ais(case):
    name, rbm, data, exact = case
    ais, ais_err = ais_log_partition(rbm, seed=1, data=data, **AIS)
    ti, ti_err = ti_log_partition(rbm, seed=1, data=data, **TI)
    combined = math.hypot(ais_err, ti_err)
    print(f"{name}: TI {ti:.4f} ± {ti_err:.4f}  AIS {ais:.4f} ± {ais_err:.4f}  exact {exact:.4f}")
    assert abs(ti - ais) <= 3 * combined
    assert abs(ti - exact) <= 3 * ti_err


def test_base_rate_model_is_exact_at_zero_weights():
    """With W = 0, c = 0, the base model fitted to b itself is exact: every importance weight is 1."""
    rbm = random_rbm(10, 4, w_std=0.0, seed=5)
    with torch.no_grad():
        rbm.hidden_bias.zero_()
    log_z, stderr = ais_log_partition(rbm, n_chains=10, n_betas=10, base_visible_bias=rbm.visible_bias)
    assert log_z == pytest.approx(log_partition_exact(rbm), abs=1e-10)
    assert stderr < 1e-10


def test_ais_stderr_is_calibrated():
    """Over 40 seeds of a cheap AIS run (100 chains, 100 β-steps), the z-scores have std ≈ 1."""
    rbm = random_rbm(N_V, N_H, 3.0 / math.sqrt(N_V), seed=3)
    exact = log_partition_exact(rbm)
    z = []
    for seed in range(40):
        log_z, stderr = ais_log_partition(rbm, n_chains=100, n_betas=100, seed=seed)
        z.append((log_z - exact) / stderr)
    z = torch.tensor(z)
    print(f"z-scores: mean {z.mean():.2f}, std {z.std():.2f}")
    assert 0.6 < float(z.std()) < 1.6
    assert abs(float(z.mean())) < 1.0


def test_estimators_reject_bad_inputs():
    rbm = random_rbm(6, 4, w_std=0.5, seed=6)
    with pytest.raises(ValueError, match="from 0 to 1"):
        ais_log_partition(rbm, betas=[0.0, 0.5])
    with pytest.raises(ValueError, match=r"\(n_samples, 6\)"):
        ti_log_partition(rbm, data=torch.zeros(10, 5))
    with pytest.raises(ValueError, match="n_betas"):
        ti_log_partition(rbm, n_betas=2)
