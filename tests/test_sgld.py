"""SGLD against exact answers: the discretised Gaussian chain, Bayesian linear regression, digits.

Statistical tests use fixed seeds and state their tolerance. Parallel chains are one parameter
tensor with a leading chain dimension, so one optimizer step moves every chain.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from scipy.signal import lfilter

from models.bayes import (
    BayesMLP,
    accuracy,
    blr_posterior,
    blr_potential,
    digits_split,
    effective_sample_size,
    expected_calibration_error,
    nll,
    posterior_predictive,
)
from models.mcmc.sgld import (
    SGLD,
    ChainStatus,
    ConstantStep,
    CyclicalCosine,
    DivergenceMonitor,
    PolynomialDecay,
    PosteriorCollector,
    apply_schedule,
    check_finite,
)

torch.set_num_threads(1)


# ---------------------------------------------------------------------- 1D Gaussian, exact
def _gaussian_chains(lam, T, eps, n_chains, n_steps, burn_in, seed=0, **kw):
    """Run n_chains SGLD chains on U = λθ²/2 (full batch, num_data=1), started at θ ~ N(0, T/λ).

    Returns per-chain time averages of θ and θ².
    """
    g = torch.Generator().manual_seed(seed)
    theta = (torch.randn(n_chains, dtype=torch.float64, generator=g) * math.sqrt(T / lam)).requires_grad_()
    opt = SGLD([theta], lr=eps, num_data=1, temperature=T, generator=g, **kw)
    s1 = torch.zeros(n_chains, dtype=torch.float64)
    s2 = torch.zeros(n_chains, dtype=torch.float64)
    for t in range(burn_in + n_steps):
        opt.zero_grad()
        (0.5 * lam * theta**2).sum().backward()
        opt.step()
        if t >= burn_in:
            x = theta.detach()
            s1 += x
            s2 += x * x
    return s1 / n_steps, s2 / n_steps


@pytest.mark.parametrize(("T", "eps"), [(1.0, 0.05), (0.1, 0.2), (3.0, 0.5)])
def test_gaussian_stationary_variance_is_exact_discretised_value(T, eps):
    lam = 2.0
    a = 1 - eps * lam / 2
    tau = (1 + a) / (1 - a)
    m1, m2 = _gaussian_chains(lam, T, eps, 10_000, 1500, burn_in=int(5 * tau))

    # mean: chains are independent, so the spread of per-chain time averages carries the autocorrelation
    mean, stderr = m1.mean().item(), m1.std().item() / math.sqrt(len(m1))
    assert abs(mean) < 4 * stderr, (mean, stderr)

    var = (m2.mean() - m1.mean() ** 2).item()
    exact = T / (lam * (1 - eps * lam / 4))
    assert abs(var / exact - 1) < 0.03, (var, exact, T / lam)
    if eps * lam >= 0.4:  # the test resolves the discretisation bias, not just T/λ
        assert abs(var / (T / lam) - 1) > 0.06


@pytest.mark.parametrize("eps_lam", [0.1, 0.4])
def test_effective_sample_size_of_sgld_ar1_chain(eps_lam):
    """The Gaussian SGLD chain is AR(1), θ' = aθ + √(εT)ξ, with exact τ = (1 + a)/(1 − a)."""
    a = 1 - eps_lam / 2
    rng = np.random.default_rng(0)
    xi = rng.standard_normal((20_000, 20))
    x0 = rng.standard_normal(20) / math.sqrt(1 - a * a)  # stationary start
    chain = lfilter([1.0], [1.0, -a], xi, axis=0, zi=a * x0[None, :])[0]
    ess = effective_sample_size(chain)
    assert ess.shape == (1,)
    assert ess[0] == pytest.approx(chain.size * (1 - a) / (1 + a), rel=0.1)


def test_psgld_gaussian_variance():
    """pSGLD drops Li et al.'s Γ term; with a slow RMSprop average (ρ = 0.999) that bias is ≈ 3 %."""
    lam, T, eps = 2.0, 1.0, 0.05
    m1, m2 = _gaussian_chains(lam, T, eps, 5000, 3000, burn_in=1000, preconditioned=True, precond_decay=0.999)
    assert abs(m1.mean().item()) < 4 * m1.std().item() / math.sqrt(len(m1))
    assert (m2.mean() - m1.mean() ** 2).item() == pytest.approx(T / lam, rel=0.05)


def test_noise_is_reproducible_and_checkpointed():
    def run(steps, opt_state=None, theta0=None):
        g = torch.Generator().manual_seed(7)
        theta = torch.zeros(4, requires_grad=True) if theta0 is None else theta0.clone().requires_grad_()
        opt = SGLD([theta], lr=0.1, num_data=10, generator=g)
        if opt_state is not None:
            opt.load_state_dict(opt_state)
        for _ in range(steps):
            opt.zero_grad()
            (theta**2).sum().backward()
            opt.step()
        return theta.detach(), opt.state_dict()

    a, _ = run(6)
    b, _ = run(6)
    assert torch.equal(a, b)
    half, state = run(3)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # generator state travels in the checkpoint
    resumed, _ = run(3, opt_state=state, theta0=half)
    assert torch.equal(resumed, a)


# -------------------------------------------------------------- Bayesian linear regression
def _blr_problem(seed=0, n=200, d=5, noise_std=0.5, prior_std=1.0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    w_true = torch.randn(d, generator=g, dtype=torch.float64)
    y = X @ w_true + noise_std * torch.randn(n, generator=g, dtype=torch.float64)
    return X, y, noise_std, prior_std


@pytest.mark.parametrize("T", [1.0, 0.1])
def test_blr_matches_analytic_tempered_posterior(T):
    X, y, sigma, s = _blr_problem()
    n, d = X.shape
    mu, cov = blr_posterior(X, y, sigma, s)
    lam_max = torch.linalg.eigvalsh(torch.linalg.inv(cov)).max().item()
    eps = 0.04 / lam_max  # ελ_max = 0.04: discretisation bias ≤ 1 %
    n_chains, burn_in, n_steps = 1000, 1000, 2000
    g = torch.Generator().manual_seed(1)
    w = torch.zeros(n_chains, d, dtype=torch.float64, requires_grad=True)
    opt = SGLD([w], lr=eps, num_data=n, temperature=T, generator=g)
    s1 = torch.zeros(d, dtype=torch.float64)
    s2 = torch.zeros(d, d, dtype=torch.float64)
    for t in range(burn_in + n_steps):
        opt.zero_grad()
        blr_potential(w, X, y, noise_std=sigma, prior_std=s, num_data=n).sum().backward()
        opt.step()
        if t >= burn_in:
            x = w.detach()
            s1 += x.sum(0)
            s2 += x.T @ x
    count = n_chains * n_steps
    mean = s1 / count
    sample_cov = s2 / count - torch.outer(mean, mean)
    target = T * cov
    z = (mean - mu) / target.diagonal().sqrt()  # in tempered posterior standard deviations
    assert z.abs().max() < 0.05, z
    rel = torch.linalg.norm(sample_cov - target) / torch.linalg.norm(target)
    assert rel < 0.10, rel


@pytest.mark.slow
def test_blr_minibatch_sgld():
    """Minibatches of 20 per chain: gradient noise inflates the variance by O(εN²/n) ≈ 2 % here."""
    X, y, sigma, s = _blr_problem()
    n, d = X.shape
    mu, cov = blr_posterior(X, y, sigma, s)
    eps = 0.04 / torch.linalg.eigvalsh(torch.linalg.inv(cov)).max().item()
    n_chains, batch, burn_in, n_steps = 500, 20, 2000, 4000
    g = torch.Generator().manual_seed(2)
    w = torch.zeros(n_chains, d, dtype=torch.float64, requires_grad=True)
    opt = SGLD([w], lr=eps, num_data=n, generator=g)
    draws = []
    for t in range(burn_in + n_steps):
        idx = torch.randint(0, n, (n_chains, batch), generator=g)
        opt.zero_grad()
        blr_potential(w, X[idx], y[idx], noise_std=sigma, prior_std=s, num_data=n).sum().backward()
        opt.step()
        if t >= burn_in and t % 10 == 0:
            draws.append(w.detach().clone())
    samples = torch.cat(draws)
    z = (samples.mean(0) - mu) / cov.diagonal().sqrt()
    assert z.abs().max() < 0.05, z
    rel = torch.linalg.norm(torch.cov(samples.T) - cov) / torch.linalg.norm(cov)
    assert rel < 0.10, rel


# ------------------------------------------------------------------------------- digits
def _train_digits(T, *, width=64, lr=1e-3, steps=3000, batch=128, burn_in=1000, thin=10, prior_std=1.0):
    X_tr, y_tr, X_te, y_te = digits_split(seed=0)
    N = len(X_tr)
    g = torch.Generator().manual_seed(0)
    model = BayesMLP(X_tr.shape[1], width, 10, generator=g)
    opt = SGLD(model.parameters(), lr=lr, num_data=N, temperature=T, generator=g)
    probs, params = PosteriorCollector(burn_in, thin), PosteriorCollector(burn_in, 10 * thin)
    for t in range(steps):
        idx = torch.randint(0, N, (batch,), generator=g)
        opt.zero_grad()
        model.potential(X_tr[idx], y_tr[idx], num_data=N, prior_std=prior_std).backward()
        opt.step()
        if probs.due(t):
            with torch.no_grad():
                probs.collect(t, torch.softmax(model(X_te), -1))
        params.collect(t, model)
    return model, probs, params, X_te, y_te


def test_digits_classifier_at_T1():
    model, probs, params, X_te, y_te = _train_digits(1.0)
    p = probs.mean()
    assert len(probs) == 200
    assert accuracy(p, y_te) >= 0.90
    assert nll(p, y_te) < 0.5
    # predictive from parameter snapshots equals the average of the matching stored predictions
    p_snap = posterior_predictive(model, params.samples, X_te)
    p_match = torch.stack([probs.samples[probs.steps.index(s)] for s in params.steps]).mean(0)
    torch.testing.assert_close(p_snap, p_match)


# --------------------------------------------------------------------------- divergence
def test_divergent_chain_reports_step():
    # U = Σθ² (λ = 2) with ε = 10: θ_t = (1 − ελ/2)^t θ₀ = (−9)^t. The loss 3·81^t computed before
    # step t overflows float32 (3.4e38) at t = 20, before θ itself would (at t = 40).
    theta = torch.ones(3, requires_grad=True)
    opt = SGLD([theta], lr=10.0, num_data=1, temperature=0.0)
    monitor = DivergenceMonitor()
    for t in range(100):
        opt.zero_grad()
        loss = (theta**2).sum()
        loss.backward()
        opt.step()
        if not monitor.update(t, loss, [theta]):
            break
    expected = next(t for t in range(100) if 3 * 81.0**t > torch.finfo(torch.float32).max)
    assert monitor.status is ChainStatus.diverged
    assert monitor.diverged_at == expected == 20
    assert monitor.as_dict() == {"status": "diverged", "diverged_at": 20}
    assert not monitor.update(21, 0.0, [torch.zeros(1)])  # stays diverged, keeps the first step
    assert monitor.diverged_at == 20
    assert not check_finite(float("nan"), [torch.zeros(2)])
    assert check_finite(torch.tensor(1.0), [torch.zeros(2)])


# ---------------------------------------------------------------------------- schedules
def test_polynomial_decay_robbins_monro():
    a, b, gamma = 0.5, 10.0, 0.6
    sched = PolynomialDecay(a, b, gamma)
    eps = np.array([sched(t) for t in range(200_000)])
    assert eps[0] == pytest.approx(a * b**-gamma)
    # Σ_{t<n} ε_t lies between the integrals ∫_0^n and ε_0 + ∫_0^n of a(b+t)^(−γ): grows like n^(1−γ)
    n = len(eps)
    integral = a * ((b + n) ** (1 - gamma) - b ** (1 - gamma)) / (1 - gamma)
    assert integral <= eps.sum() <= eps[0] + integral
    # Σ ε_t² is bounded for every n by ε_0² + a² b^(1−2γ)/(2γ−1)
    assert (eps**2).sum() <= eps[0] ** 2 + a**2 * b ** (1 - 2 * gamma) / (2 * gamma - 1)
    with pytest.raises(ValueError, match="gamma"):
        PolynomialDecay(a, b, gamma=0.5)
    assert ConstantStep(0.1)(12345) == 0.1


def test_cyclical_cosine_restarts_and_phases():
    sched = CyclicalCosine(0.1, total_steps=1000, n_cycles=4, exploration=0.8)
    L = sched.cycle_length
    assert L == 250
    lrs = np.array([sched(t) for t in range(1000)])
    restarts = np.flatnonzero(np.diff(lrs) > 0) + 1
    assert list(restarts) == [250, 500, 750]
    assert all(lrs[k * L] == pytest.approx(0.1) for k in range(4))
    assert lrs[L // 2] == pytest.approx(0.05)
    assert np.all(np.diff(lrs[:L]) < 0)
    sampling = np.array([sched.is_sampling(t) for t in range(1000)])
    assert sampling.sum() == 4 * 50 and not sampling[199] and sampling[200] and not sampling[250]
    assert sched.cycle(999) == 3

    # exploration steps carry no noise: at a zero gradient θ stays put
    theta = torch.zeros(5, requires_grad=True)
    opt = SGLD([theta], lr=0.1, num_data=1, generator=torch.Generator().manual_seed(0))
    theta.grad = torch.zeros(5)
    assert apply_schedule(opt, sched, 10) == pytest.approx(sched(10))
    opt.step()
    assert torch.equal(theta.detach(), torch.zeros(5))
    apply_schedule(opt, sched, 220)
    opt.step()
    assert theta.detach().abs().sum() > 0


# ---------------------------------------------------------------------- collector, metrics
def test_posterior_collector_burn_in_thin():
    col = PosteriorCollector(burn_in=10, thin=3, max_samples=5)
    for t in range(40):
        col.collect(t, torch.full((2,), float(t)))
    assert col.steps == [10, 13, 16, 19, 22]
    torch.testing.assert_close(col.mean(), torch.full((2,), 16.0))
    clone = PosteriorCollector(10, 3)
    clone.load_state_dict(col.state_dict())
    assert clone.steps == col.steps


def test_ece_known_cases():
    g = torch.Generator().manual_seed(0)
    n, k = 200_000, 4
    e = -torch.log(torch.rand(n, k, generator=g))  # Exp(1) draws; normalised they are Dirichlet(1)
    probs = e / e.sum(-1, keepdim=True)
    labels = torch.multinomial(probs, 1, generator=g).squeeze(-1)  # y ~ p: perfectly calibrated
    assert expected_calibration_error(probs, labels) < 0.01
    # always 95 % confident, right 70 % of the time: ECE = 0.25
    conf = torch.tensor([[0.95, 0.05]]).repeat(1000, 1)
    labels = (torch.arange(1000) % 10 >= 7).long()
    assert expected_calibration_error(conf, labels) == pytest.approx(0.25)
    assert accuracy(conf, labels) == pytest.approx(0.7)
    assert nll(conf, labels) == pytest.approx(-(0.7 * math.log(0.95) + 0.3 * math.log(0.05)))
