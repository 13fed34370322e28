"""Langevin sampler and replay buffer: exact stationary law on a quadratic energy, and the contract."""

from __future__ import annotations

import math

import pytest
import torch

from models.ebm import EnergyMLP
from models.mcmc.langevin import ReplayBuffer, langevin

DIM = 10


def quadratic(lam: float):
    """E(x) = λ|x|²/2, per row."""
    return lambda x: 0.5 * lam * x.pow(2).sum(-1)


@pytest.mark.parametrize(
    ("temperature", "step_size", "lam"),
    [(1.0, 0.4, 2.0), (0.5, 0.1, 4.0), (2.0, 1.0, 1.0), (0.3, 0.05, 1.0)],
)
def test_stationary_moments_match_discretised_chain(temperature, step_size, lam):
    """Stationary mean 0 and variance T/[λ(1 − ελ/4)] within 3% (see the models.mcmc.langevin docstring).

    4000 chains × 10 coordinates; 50 burn-in steps, then 20 snapshots 10 steps apart
    (≈ 8·10⁵ samples, statistical error of the variance ≈ 0.3% allowing for correlations).
    """
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    energy = quadratic(lam)
    x = torch.zeros(4000, DIM, dtype=torch.float64)
    x = langevin(energy, x, steps=50, step_size=step_size, temperature=temperature, generator=generator)
    snapshots = []
    for _ in range(20):
        x = langevin(energy, x, steps=10, step_size=step_size, temperature=temperature, generator=generator)
        snapshots.append(x)
    samples = torch.stack(snapshots)
    exact = temperature / (lam * (1.0 - step_size * lam / 4.0))
    variance = float(samples.var())
    assert abs(variance / exact - 1.0) < 0.03, (variance, exact)
    assert abs(float(samples.mean())) < 0.01 * math.sqrt(exact)
    if step_size * lam >= 0.4:  # the test distinguishes the chain from the ε → 0 law T/λ
        assert abs(variance / (temperature / lam) - 1.0) > 0.05


def test_zero_temperature_is_gradient_descent():
    x0 = torch.randn(5, DIM, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = langevin(quadratic(2.0), x0, steps=7, step_size=0.3, temperature=0.0)
    torch.testing.assert_close(x, x0 * (1.0 - 0.3 * 2.0 / 2.0) ** 7)


def test_model_energy_determinism_and_no_parameter_grads():
    model = EnergyMLP(2, 16, generator=torch.Generator().manual_seed(0))
    x0 = torch.zeros(64, 2)
    runs = [
        langevin(model, x0, steps=5, step_size=0.1, temperature=1.0, generator=torch.Generator().manual_seed(3))
        for _ in range(2)
    ]
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)
    assert runs[0].shape == x0.shape and not runs[0].requires_grad and torch.isfinite(runs[0]).all()
    assert all(p.grad is None for p in model.parameters())
    other = langevin(model, x0, steps=5, step_size=0.1, temperature=1.0, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(runs[0], other)


@pytest.mark.parametrize(("clip", "low", "high"), [(0.5, -0.5, 0.5), ((-0.2, 1.0), -0.2, 1.0)])
def test_clip_keeps_chains_in_box(clip, low, high):
    x = langevin(
        quadratic(1.0),
        torch.zeros(256, 3),
        steps=20,
        step_size=1.0,
        temperature=5.0,
        generator=torch.Generator().manual_seed(0),
        clip_x=clip,
    )
    assert float(x.min()) >= low - 1e-6 and float(x.max()) <= high + 1e-6


def test_langevin_rejects_bad_arguments():
    with pytest.raises(ValueError, match="step_size"):
        langevin(quadratic(1.0), torch.zeros(2, 2), steps=1, step_size=0.0, temperature=1.0)


def test_replay_buffer_sample_update_and_reinit():
    g = torch.Generator().manual_seed(0)
    buffer = ReplayBuffer(100, 2, reinit_prob=0.0, low=-3.0, high=3.0, generator=g)
    assert len(buffer) == 100 and buffer.buffer.shape == (100, 2)
    assert float(buffer.buffer.min()) >= -3.0 and float(buffer.buffer.max()) <= 3.0
    x, idx = buffer.sample(32, generator=g)
    assert x.shape == (32, 2) and idx.shape == (32,)
    torch.testing.assert_close(x, buffer.buffer[idx])  # reinit_prob 0: all from the buffer
    buffer.update(idx, torch.full((32, 2), 7.0))
    assert bool((buffer.buffer[idx] == 7.0).all())

    buffer.reinit_prob = 1.0  # every point is a fresh uniform draw
    x, idx = buffer.sample(32, generator=g)
    assert float(x.abs().max()) <= 3.0


def test_replay_buffer_reinit_fraction():
    buffer = ReplayBuffer(1000, 4, reinit_prob=0.25, low=10.0, high=11.0)
    buffer.buffer.zero_()
    x, _ = buffer.sample(4000, generator=torch.Generator().manual_seed(0))
    fraction = float((x[:, 0] >= 10.0).double().mean())
    assert abs(fraction - 0.25) < 0.03


def test_replay_buffer_state_dict_round_trip(tmp_path):
    g = torch.Generator().manual_seed(0)
    buffer = ReplayBuffer(50, (1, 3), reinit_prob=0.1, low=-2.0, high=1.0, generator=g)
    torch.save(buffer.state_dict(), tmp_path / "buffer.pt")
    restored = ReplayBuffer(10, (1, 3))
    restored.load_state_dict(torch.load(tmp_path / "buffer.pt", weights_only=True))
    assert torch.equal(restored.buffer, buffer.buffer)
    assert (restored.reinit_prob, restored.low, restored.high) == (0.1, -2.0, 1.0)
    a = buffer.sample(20, generator=torch.Generator().manual_seed(5))
    b = restored.sample(20, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match="shape"):
        ReplayBuffer(10, 2).load_state_dict(buffer.state_dict())
