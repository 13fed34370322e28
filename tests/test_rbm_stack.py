"""The layer-by-layer RBM stack (Mehta & Schwab 2014) and its locality measure: exact cases first."""

from __future__ import annotations

import io

import pytest
import torch

from models.rbm.model import RBM
from models.rbm.stack import (
    composite_weights,
    l1_cd_loss,
    layer_step,
    locality,
    negative_samples,
    propagate_up,
    receptive_field_figure,
    reconstruct,
    shuffle_sites,
    shuffled_locality,
    train_layer,
    visible_bias_from_data,
)

torch.set_num_threads(1)


def field(L: int, sites: dict[tuple[int, int], float]) -> torch.Tensor:
    """One receptive field (L²,) with the given weights at lattice sites (r, c), zero elsewhere."""
    w = torch.zeros(L, L, dtype=torch.float64)
    for (r, c), value in sites.items():
        w[r % L, c % L] = value
    return w.flatten()


def brute_locality(W: torch.Tensor, L: int, window: int) -> torch.Tensor:
    """The definition, by loops: the best share of Σ W² over all L² periodic window positions."""
    W2 = W.to(torch.float64).pow(2)
    best = torch.zeros(W.shape[1], dtype=torch.float64)
    for r in range(L):
        for c in range(L):
            sites = [((r + a) % L) * L + (c + b) % L for a in range(window) for b in range(window)]
            best = torch.maximum(best, W2[sites].sum(0))
    return best / W2.sum(0)


def tiny_rbm(n_v: int = 5, n_h: int = 3, seed: int = 0) -> RBM:
    gen = torch.Generator().manual_seed(seed)
    rbm = RBM(n_v, n_h, init_std=0.5, generator=gen).double()
    with torch.no_grad():
        rbm.visible_bias.copy_(torch.randn(n_v, generator=gen, dtype=torch.float64) * 0.3)
        rbm.hidden_bias.copy_(torch.randn(n_h, generator=gen, dtype=torch.float64) * 0.3)
    return rbm


def binary(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 2, (n, d), generator=torch.Generator().manual_seed(seed)).double()


# -------------------------------------------------------------------------------------------- locality
def test_a_field_inside_one_window_has_locality_one():
    L, b = 8, 3
    g = torch.Generator().manual_seed(1)
    inside = {(2 + a, 3 + c): float(torch.randn(1, generator=g)) for a in range(b) for c in range(b)}
    W = torch.stack([field(L, inside), field(L, {(5, 5): -2.0}), field(L, {(0, 0): 1.0, (2, 2): 0.5})], dim=1)
    assert torch.equal(locality(W, L, b), torch.ones(3, dtype=torch.float64))


@pytest.mark.parametrize(("L", "b"), [(8, 3), (40, 8), (40, 1), (6, 6)])
def test_a_uniform_field_has_locality_window_area_over_lattice_area(L, b):
    W = torch.full((L * L, 4), -2.5, dtype=torch.float64)
    assert torch.equal(locality(W, L, b), torch.full((4,), b * b / (L * L), dtype=torch.float64))


def test_a_field_across_the_periodic_boundary_is_found():
    """Weights split over the corners (and over one edge) of the torus lie in one periodic window."""
    L = 10
    corners = field(L, {(L - 1, L - 1): 1.0, (L - 1, 0): -2.0, (0, L - 1): 3.0, (0, 0): 0.5})
    edge = field(L, {(4, L - 1): 1.0, (5, L - 1): 1.0, (4, 0): -1.0, (5, 1): 2.0})
    W = torch.stack([corners, edge], dim=1)
    assert torch.equal(locality(W, L, 2), torch.tensor([1.0, 5 / 7], dtype=torch.float64))
    assert torch.equal(locality(W, L, 3), torch.ones(2, dtype=torch.float64))


@pytest.mark.parametrize("window", [1, 2, 3, 4, 5, 6])
def test_vectorised_locality_equals_the_brute_force_definition(window):
    L = 6
    W = torch.randn(L * L, 20, generator=torch.Generator().manual_seed(window))
    W[:, :5] *= torch.rand(L * L, 5, generator=torch.Generator().manual_seed(9)) < 0.2  # sparse units too
    W[0, :5] = 1.0  # …but never all zero
    torch.testing.assert_close(locality(W, L, window), brute_locality(W, L, window), rtol=1e-12, atol=0)


def test_locality_is_nan_for_a_dead_unit_and_checks_its_input():
    W = torch.zeros(16, 2)
    W[3, 1] = 1.0
    out = locality(W, 4, 2)
    assert out[0].isnan() and out[1] == 1.0
    with pytest.raises(ValueError, match="shape"):
        locality(torch.zeros(15, 2), 4, 2)
    with pytest.raises(ValueError, match="window"):
        locality(W, 4, 5)


def test_shuffling_keeps_every_column_multiset_and_permutes_columns_independently():
    W = torch.randn(64, 30, generator=torch.Generator().manual_seed(0))
    W[:, 1] = W[:, 0]
    S = shuffle_sites(W, torch.Generator().manual_seed(1))
    assert torch.equal(S.sort(0).values, W.sort(0).values)
    assert not torch.equal(S, W)
    assert not torch.equal(S[:, 0], S[:, 1])  # two equal columns get different permutations


def test_shuffled_locality_is_the_locality_of_the_shuffled_weights():
    W = torch.randn(100, 12, generator=torch.Generator().manual_seed(2))
    shuffled = shuffled_locality(W, 10, 3, torch.Generator().manual_seed(5))
    assert torch.equal(shuffled, locality(shuffle_sites(W, torch.Generator().manual_seed(5)), 10, 3))
    uniform = torch.ones(100, 3)
    assert torch.equal(shuffled_locality(uniform, 10, 3, torch.Generator()), locality(uniform, 10, 3))


def test_a_local_blob_beats_its_shuffled_baseline():
    L = 40
    blob = torch.stack(
        [field(L, {(r, c): 1.0 for r in range(i, i + 4) for c in range(2 * i, 2 * i + 4)}) for i in range(5)]
    )
    ratio = locality(blob.T, L, 4) / shuffled_locality(blob.T, L, 4, torch.Generator().manual_seed(0))
    assert ratio.min() > 5


# ------------------------------------------------------------------------------------------- training
def test_l1_cd_loss_gradient_is_positive_minus_negative_phase_plus_l1_sign():
    rbm = tiny_rbm()
    v_data, v_model = binary(7, 5, seed=1), binary(4, 5, seed=2).requires_grad_()
    l1 = 0.3
    l1_cd_loss(rbm, v_data, v_model, l1).backward()
    with torch.no_grad():
        h_data = torch.sigmoid(rbm.hidden_bias + v_data @ rbm.W)
        h_model = torch.sigmoid(rbm.hidden_bias + v_model @ rbm.W)
        grad_W = -v_data.T @ h_data / 7 + v_model.T @ h_model / 4 + l1 * rbm.W.sign()
        grad_b = -v_data.mean(0) + v_model.mean(0)
        grad_c = -h_data.mean(0) + h_model.mean(0)
    torch.testing.assert_close(rbm.W.grad, grad_W, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(rbm.visible_bias.grad, grad_b, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(rbm.hidden_bias.grad, grad_c, rtol=1e-12, atol=1e-14)
    assert v_model.grad is None  # the negatives are constants of the surrogate


def test_negative_samples_are_block_gibbs_draws():
    rbm, v0 = tiny_rbm(), binary(50, 5, seed=3)
    assert torch.equal(negative_samples(rbm, v0, 0, torch.Generator()), v0)
    a = negative_samples(rbm, v0, 3, torch.Generator().manual_seed(4))
    assert torch.equal(a, negative_samples(rbm, v0, 3, torch.Generator().manual_seed(4)))
    assert a.shape == v0.shape and set(a.unique().tolist()) <= {0.0, 1.0}
    # one step by hand: h ~ Bernoulli(σ(c + vW)), then v ~ Bernoulli(σ(b + Wh)) from the same stream
    g = torch.Generator().manual_seed(7)
    h = (torch.rand(50, 3, generator=g) < rbm.hidden_probs(v0)).double()
    v1 = (torch.rand(50, 5, generator=g) < rbm.visible_probs(h)).double()
    assert torch.equal(negative_samples(rbm, v0, 1, torch.Generator().manual_seed(7)), v1)


def test_layer_step_returns_chains_only_for_pcd():
    rbm, batch = tiny_rbm(), binary(10, 5, seed=5)
    opt = torch.optim.SGD(rbm.parameters(), lr=0.1)
    error, chains = layer_step(rbm, opt, batch, l1=0.01, k=1, generator=torch.Generator())
    assert chains is None and 0 < error < 1
    before = rbm.W.detach().clone()
    _, chains = layer_step(rbm, opt, batch, l1=0.01, k=2, generator=torch.Generator(), chains=binary(6, 5, seed=6))
    assert chains.shape == (6, 5) and not torch.equal(before, rbm.W)


def run_training(persistent: bool, seed: int = 0) -> tuple[RBM, list[tuple[int, float]]]:
    data = binary(300, 16, seed=8).float()
    rbm = RBM(16, 6, generator=torch.Generator().manual_seed(seed))
    visible_bias_from_data(rbm, data)
    log: list[tuple[int, float]] = []
    train_layer(
        rbm,
        data,
        epochs=3,
        batch_size=32,
        lr=0.1,
        momentum=0.5,
        l1=1e-3,
        k=2,
        generator=torch.Generator().manual_seed(seed),
        persistent=persistent,
        on_epoch=lambda e, err: log.append((e, err)),
    )
    return rbm, log


@pytest.mark.parametrize("persistent", [False, True])
def test_train_layer_is_deterministic_under_its_seed(persistent):
    (a, log_a), (b, log_b), (c, _) = run_training(persistent), run_training(persistent), run_training(persistent, 1)
    for name in ("W", "visible_bias", "hidden_bias"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert log_a == log_b and [e for e, _ in log_a] == [1, 2, 3]
    assert not torch.equal(a.W, c.W)


def test_train_layer_rejects_mismatched_data():
    with pytest.raises(ValueError, match="shape"):
        train_layer(
            RBM(16, 4),
            torch.zeros(50, 15),
            epochs=1,
            batch_size=10,
            lr=0.1,
            momentum=0.0,
            l1=0.0,
            k=1,
            generator=torch.Generator(),
        )


# ------------------------------------------------------------------------------------------- the stack
def test_propagate_up_gives_probabilities_or_their_draws():
    rbm, v = tiny_rbm(), binary(40, 5, seed=9)
    assert torch.equal(propagate_up(rbm, v, sample=False), rbm.hidden_probs(v))
    h = propagate_up(rbm, v, sample=True, generator=torch.Generator().manual_seed(0))
    assert h.shape == (40, 3) and set(h.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="Generator"):
        propagate_up(rbm, v, sample=True)


def test_reconstruct_goes_up_then_down_in_mean_field():
    stack = [tiny_rbm(6, 4, seed=1), tiny_rbm(4, 3, seed=2)]
    v = binary(8, 6, seed=10)
    assert reconstruct(stack, v, 0) is v
    one = stack[0].visible_probs(stack[0].hidden_probs(v))
    two = stack[0].visible_probs(stack[1].visible_probs(stack[1].hidden_probs(stack[0].hidden_probs(v))))
    assert torch.equal(reconstruct(stack, v, 1), one)
    assert torch.equal(reconstruct(stack, v, 2), two)
    with pytest.raises(ValueError, match="depth"):
        reconstruct(stack, v, 3)


def test_composite_weights_multiply_down_the_stack():
    stack = [tiny_rbm(6, 4, seed=1), tiny_rbm(4, 3, seed=2)]
    assert torch.equal(composite_weights(stack, 1), stack[0].W.detach())
    torch.testing.assert_close(composite_weights(stack, 2), stack[0].W @ stack[1].W)


def test_receptive_field_figure_draws_the_strongest_units(tmp_path):
    L = 20  # a deeper layer over 400 units: drawn as 20×20, an arbitrary layout
    W = torch.randn(L * L, 10, generator=torch.Generator().manual_seed(0)) * torch.arange(10.0)
    fig = receptive_field_figure(W, L, n_show=4, title="layer 2")
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 4
    for img, j in zip(images, [9, 8, 7, 6], strict=True):  # descending norm
        data = img.get_array()
        assert torch.allclose(torch.as_tensor(data.data).flatten(), W[:, j].double())
        assert img.norm.vmin == -img.norm.vmax == -float(W[:, j].abs().max())
    fig.savefig(io.BytesIO(), format="png")
