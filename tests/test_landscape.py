"""The curvature estimators and the least-squares solver of issue 17 against dense, exact answers."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from models.features import min_norm_fit, relu_features
from models.landscape import ntk_top_eigenvalue, sharpness, top_eigenvalue
from workers.families.fullbatch.config import MLPModelConfig
from workers.families.fullbatch.family import MLP


def test_power_iteration_finds_the_top_eigenvalue_of_a_known_spectrum():
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(20, 20, generator=g, dtype=torch.float64))
    spectrum = torch.linspace(0.1, 3.0, 20, dtype=torch.float64)
    a = q @ torch.diag(spectrum) @ q.T
    value, (vector,) = top_eigenvalue(
        lambda v: (a @ v[0],), (torch.zeros(20, dtype=torch.float64),), iters=2000, tol=1e-14, generator=g
    )
    assert value == pytest.approx(3.0, rel=1e-10)
    assert abs(float(vector @ q[:, -1])) == pytest.approx(1.0, abs=1e-6)


def test_sharpness_of_a_quadratic_is_the_top_eigenvalue_of_its_matrix():
    g = torch.Generator().manual_seed(1)
    b = torch.randn(8, 8, generator=g, dtype=torch.float64)
    a = b @ b.T + torch.eye(8, dtype=torch.float64)
    x = torch.randn(8, generator=g, dtype=torch.float64).requires_grad_()
    value, _ = sharpness(lambda: 0.5 * x @ a @ x, [x], iters=3000, tol=1e-14, generator=g)
    assert value == pytest.approx(torch.linalg.eigvalsh(a)[-1].item(), rel=1e-9)


def _tiny_net(parameterization: str, activation: str = "tanh"):
    g = torch.Generator().manual_seed(2)
    cfg = MLPModelConfig(width=6, depth=2, activation=activation, parameterization=parameterization)
    net = MLP(cfg, 3, 2, g, torch.float64)
    x = torch.randn(7, 3, generator=g, dtype=torch.float64)
    y = torch.randn(7, 2, generator=g, dtype=torch.float64)
    return net, x, y


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_sharpness_of_a_network_matches_its_dense_hessian(parameterization):
    net, x, y = _tiny_net(parameterization)
    shapes = [p.shape for p in net.params]
    sizes = [p.numel() for p in net.params]

    def loss_flat(flat):
        ps = [c.reshape(s) for c, s in zip(torch.split(flat, sizes), shapes, strict=True)]
        return 0.5 * ((net(ps, x) - y) ** 2).sum(1).mean()

    flat = torch.cat([p.detach().flatten() for p in net.params])
    dense = torch.autograd.functional.hessian(loss_flat, flat)
    eigen = torch.linalg.eigvalsh(dense)
    assert eigen[-1] > abs(eigen[0])  # the positive outlier dominates, as power iteration needs
    value, _ = sharpness(lambda: 0.5 * ((net(net.params, x) - y) ** 2).sum(1).mean(), net.params, iters=5000, tol=1e-13)
    assert value == pytest.approx(eigen[-1].item(), rel=1e-7)


@pytest.mark.parametrize("activation", ["relu", "tanh", "linear"])
def test_lambda0_is_the_top_eigenvalue_of_the_dense_ntk(activation):
    net, x, _ = _tiny_net("ntk", activation)
    params = tuple(p.detach() for p in net.params)
    jac = torch.func.jacrev(lambda *ps: net(ps, x), argnums=tuple(range(len(params))))(*params)
    j = torch.cat([block.reshape(x.shape[0] * 2, -1) for block in jac], dim=1)  # (n·k, P)
    dense = torch.linalg.eigvalsh(j @ j.T / x.shape[0])[-1].item()
    # the Gauss–Newton matrix JᵀJ/n has the same top eigenvalue
    assert torch.linalg.eigvalsh(j.T @ j / x.shape[0])[-1].item() == pytest.approx(dense, rel=1e-10)
    value, _ = ntk_top_eigenvalue(lambda *ps: net(ps, x), params, x.shape[0], iters=5000, tol=1e-14)
    assert value == pytest.approx(dense, rel=1e-9)


@pytest.mark.parametrize("p", [5, 12, 40])  # under-, exactly and over-parameterised for n = 12
def test_min_norm_fit_equals_numpy_lstsq(p):
    g = torch.Generator().manual_seed(p)
    x = torch.randn(12, 4, generator=g, dtype=torch.float64)
    phi = relu_features(x, torch.randn(p, 4, generator=g, dtype=torch.float64))
    y = torch.randn(12, generator=g, dtype=torch.float64)
    ours = min_norm_fit(phi, y).numpy()
    theirs = np.linalg.lstsq(phi.numpy(), y.numpy(), rcond=None)[0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-10)
    near = min_norm_fit(phi, y, ridge=1e-12).numpy()  # the ridge solution tends to the minimum-norm one
    np.testing.assert_allclose(near, theirs, rtol=1e-3, atol=1e-5)


def test_relu_features_are_scaled_by_fan_in_and_width():
    x = torch.tensor([[3.0, 4.0]], dtype=torch.float64)
    w = torch.tensor([[1.0, 0.0], [0.0, -1.0], [1.0, 1.0], [0.5, 0.5]], dtype=torch.float64)
    expected = torch.tensor([[3.0, 0.0, 7.0, 3.5]], dtype=torch.float64) / math.sqrt(2) / 2
    torch.testing.assert_close(relu_features(x, w), expected)


def test_teacher_data_is_fixed_by_its_seed_and_noise_only_on_training_labels():
    from models.datasets import teacher_data

    cfg = SimpleNamespace(n_train=5, n_test=4, dim=3, target="linear", label_noise=0.0, split_seed=3)
    x, y, xt, yt = teacher_data(cfg)
    assert x.shape == (5, 3) and y.shape == (5, 1) and xt.shape == (4, 3)
    torch.testing.assert_close(x.norm(dim=1), torch.full((5,), math.sqrt(3), dtype=torch.float64))
    noisy = teacher_data(SimpleNamespace(**{**vars(cfg), "label_noise": 0.5}))
    torch.testing.assert_close(noisy[0], x)
    torch.testing.assert_close(noisy[3], yt)  # test labels stay clean
    assert not torch.allclose(noisy[1], y)
