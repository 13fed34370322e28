"""Deep EBM: energy MLP contract, training helpers (contrastive loss, MMD) and the data sets."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models.datasets import DigitScale, digits, ring_centres, ring_of_gaussians, two_moons
from models.ebm import EnergyMLP, contrastive_loss, median_bandwidth, mmd


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_energy_shapes_finite_and_batch_dims():
    model = EnergyMLP(3, 32, depth=3, generator=torch.Generator().manual_seed(0))
    x = torch.randn(4, 7, 3, generator=torch.Generator().manual_seed(1))
    energy = model.energy(x)
    assert energy.shape == (4, 7) and torch.isfinite(energy).all()
    torch.testing.assert_close(model(x), energy)
    assert sum(isinstance(m, nn.Linear) for m in model.modules()) == 4  # 3 hidden + output
    assert isinstance(EnergyMLP(2, 8, activation=nn.Tanh).net[1], nn.Tanh)


def test_energy_determinism_under_generator():
    a = EnergyMLP(2, 16, generator=torch.Generator().manual_seed(5))
    b = EnergyMLP(2, 16, generator=torch.Generator().manual_seed(5))
    c = EnergyMLP(2, 16, generator=torch.Generator().manual_seed(6))
    x = torch.randn(10, 2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.energy(x), b.energy(x)) and not torch.equal(a.energy(x), c.energy(x))


def test_state_dict_round_trip(tmp_path):
    model = EnergyMLP(2, 16, generator=torch.Generator().manual_seed(0))
    torch.save(model.state_dict(), tmp_path / "ebm.pt")
    restored = EnergyMLP(2, 16, generator=torch.Generator().manual_seed(1))
    restored.load_state_dict(torch.load(tmp_path / "ebm.pt", weights_only=True))
    x = torch.randn(10, 2)
    assert torch.equal(restored.energy(x), model.energy(x))


def test_constructor_says_what_is_wrong():
    with pytest.raises(ValueError, match="width"):
        EnergyMLP(2, 0)


def test_contrastive_loss_value_and_gradients():
    model = EnergyMLP(2, 8, generator=torch.Generator().manual_seed(0))
    x_data = torch.randn(16, 2)
    x_samples = torch.randn(24, 2, requires_grad=True)
    loss = contrastive_loss(model, x_data, x_samples, alpha=0.5)
    e_d, e_s = model.energy(x_data), model.energy(x_samples)
    expected = e_d.mean() - e_s.mean() + 0.5 * torch.cat([e_d, e_s]).pow(2).mean()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert x_samples.grad is None  # samples are detached
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_mmd_unbiased_estimator_against_brute_force():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 2, generator=g, dtype=torch.float64), torch.randn(5, 2, generator=g) + 1
    h = 0.8

    def k(a, b):
        return torch.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / (2 * h * h))

    kxx, kyy, kxy = k(x, x), k(y.double(), y.double()), k(x, y.double())
    expected = ((kxx.sum() - kxx.trace()) / 42 + (kyy.sum() - kyy.trace()) / 20 - 2 * kxy.mean()).item()
    assert mmd(x, y, h) == pytest.approx(expected, rel=1e-10)
    assert mmd(x, y, h) == pytest.approx(mmd(y, x, h), rel=1e-10)


def test_mmd_separates_distributions_with_median_bandwidth():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g)
    shifted = torch.randn(500, 2, generator=g) + 1.0
    same, different = mmd(a, b), mmd(a, shifted)
    assert abs(same) < 0.01 and different > 0.1
    pooled = torch.cat([a, shifted])
    assert median_bandwidth(a, shifted) == pytest.approx(float(torch.pdist(pooled.double()).median()))


def test_ring_of_gaussians():
    x = ring_of_gaussians(4000, std=0.1, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4000, 2) and x.dtype == torch.float32
    assert torch.equal(x, ring_of_gaussians(4000, std=0.1, generator=torch.Generator().manual_seed(0)))
    distance, mode = torch.cdist(x, ring_centres(8, 2.0)).min(-1)
    assert float(distance.pow(2).mean()) == pytest.approx(2 * 0.01, rel=0.1)  # E|x − μ|² = 2σ²
    assert torch.bincount(mode, minlength=8).min() > 400  # every mode is populated
    torch.testing.assert_close(ring_centres(4, 1.0)[1], torch.tensor([0.0, 1.0]), atol=1e-6, rtol=0)


def test_two_moons():
    x = two_moons(2000, noise=0.05, generator=torch.Generator().manual_seed(0))
    assert x.shape == (2000, 2) and torch.isfinite(x).all()
    assert torch.equal(x, two_moons(2000, noise=0.05, generator=torch.Generator().manual_seed(0)))
    assert float(x.mean(0).abs().max()) < 0.1  # centred


def test_digits_split_and_scales():
    x_train, y_train = digits("train", seed=0)
    x_test, y_test = digits("test", seed=0)
    assert x_train.shape == (1437, 64) and x_test.shape == (360, 64) and y_train.dtype == torch.int64
    assert float(x_train.min()) == -1.0 and float(x_train.max()) == 1.0
    assert set(y_test.tolist()) == set(range(10))
    assert torch.equal(digits("test", seed=0)[0], x_test)
    assert not torch.equal(digits("test", seed=1)[0], x_test)
    assert not (torch.cdist(x_test, x_train).min(-1).values == 0).any()  # disjoint (no duplicate images)
    unit, _ = digits("train", scale="unit")
    assert float(unit.min()) == 0.0 and float(unit.max()) == 1.0
    standard, _ = digits("train", scale=DigitScale.STANDARDISED)
    assert float(standard.mean(0).abs().max()) < 1e-5
    with pytest.raises(ValueError, match="scale must be one of"):
        digits(scale="bogus")


def _ring_trial(tmp_path, steps: int, cosine: bool) -> dict[str, list[float]]:
    """The ebm_langevin defaults through the product path: run_trial into a real sqlite store."""
    from mlflow.tracking import MlflowClient

    from workers import config as run_config
    from workers.families.ebm import config as ebm_config
    from workers.spec import TrialSpec
    from workers.trial import run_trial

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("ring")).info.run_id
    train = ebm_config.EBMTrainConfig(steps=steps, cosine_decay=cosine, observe_every=steps - 1, checkpoint_every=0)
    spec = TrialSpec(
        "ebm_langevin",
        0,
        ebm_config.EBMModelConfig(),
        ebm_config.Synthetic2DDataConfig(),
        train,
        sampler=ebm_config.LangevinSamplerConfig(),
        tracking=run_config.TrackingConfig(log_checkpoint=False),
        tracking_uri=uri,
        run_id=run_id,
    )
    result = run_trial(spec)
    assert result.ok, result.error
    return {
        key: [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]
        for key in ("obs/mmd", "obs/mmd_buffer")
    }


@pytest.mark.slow
def test_ring_recipe_reduces_mmd_fivefold(tmp_path):
    """The ebm_langevin defaults (2000 steps) cut the MMD² (bandwidth 0.2) of the replay buffer
    and of fresh 200-step chains to the ring by ≥5×."""
    for key, (initial, *_, final) in _ring_trial(tmp_path, 2000, cosine=True).items():
        assert final < initial / 5, (key, initial, final)


def test_ring_recipe_short_run_sharpens_samples(tmp_path):
    """750 steps of the same recipe: the fine-bandwidth MMD² drops ≥3×."""
    for key, (initial, *_, final) in _ring_trial(tmp_path, 750, cosine=False).items():
        assert final < initial / 3, (key, initial, final)
