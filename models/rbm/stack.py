"""A stack of RBMs trained layer by layer, and a measure of how local their receptive fields are.

Mehta & Schwab, "An exact mapping between the variational renormalization group and deep learning",
arXiv:1410.3831 (2014), train a deep belief network greedily (Hinton, Osindero & Teh, Neural Comput. 18,
1527 (2006)) on near-critical 2D Ising configurations: 40×40 spins → 400 → 100 → 25 hidden units, each
layer an RBM trained by contrastive divergence with an L1 penalty on its weights, the next layer's data
being the hidden layer's response to the previous one's. They report that the first layer's receptive
fields W_{·j} are local blobs on the lattice and that deeper layers look like coarser block spins.

Training (one layer). The log-likelihood gradient of an RBM is ∂ℓ/∂θ = −⟨∂F/∂θ⟩_data + ⟨∂F/∂θ⟩_model with
the free energy F of `models.rbm.model.RBM`. CD-k (Hinton 2002) replaces the model average by samples after
k block-Gibbs steps started at the data batch; PCD-k (Tieleman 2008) continues persistent chains instead.
With Mehta & Schwab's L1 penalty λ Σ_ij |W_ij| on the weights (a sparsity prior; compare Lee, Ekanadham &
Ng, NIPS 2008, whose penalty on hidden activations gives localized first-layer features), one minibatch
step descends the surrogate

    𝓛 = (1/B) Σ_{v ∈ batch} F(v) − (1/B′) Σ_{v′ ∈ negatives} F(v′) + λ Σ_ij |W_ij|,      (`l1_cd_loss`)

the negatives held fixed, so ∂𝓛/∂W = −⟨v hᵀ⟩_data + ⟨v hᵀ⟩_negatives + λ sign(W), with h = σ(c + vW).

Locality. For a unit j of a layer over an L×L lattice (site i = r·L + c, the flattening of
`spins_to_visible`), `locality` is the largest fraction of Σ_i W_ij² held by one window×window square
(periodic boundaries): 1 for a field inside one window, window²/L² for a uniform field. Its baseline
`shuffled_locality` permutes every unit's weights over the sites, which keeps each unit's weight values
(and so its sparsity) and destroys only their arrangement; the ratio of the two measures spatial
structure beyond what sparsity alone gives (a sparse field has a high best-window fraction even when its
few large weights are scattered). The ratio is capped by sparsity too: a field of m equal weights has a
baseline ≥ 1/m and so a ratio ≤ m at every window, and a field shrunk to a few sites scores low although it
is perfectly local. Read the ratio together with the locality itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch.nn.functional import conv2d, pad

from models.rbm.model import RBM

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "composite_weights",
    "l1_cd_loss",
    "layer_step",
    "locality",
    "negative_samples",
    "propagate_up",
    "receptive_field_figure",
    "reconstruct",
    "shuffle_sites",
    "shuffled_locality",
    "train_layer",
    "visible_bias_from_data",
]


def _bernoulli(p: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """1.0 where u < p, u ~ U(0, 1) from `generator` (the draw of `models.rbm.flow._bernoulli`)."""
    return (torch.rand(p.shape, generator=generator, device=p.device) < p).to(p.dtype)


# ------------------------------------------------------------------------------------------- training
def l1_cd_loss(rbm: RBM, v_data: torch.Tensor, v_model: torch.Tensor, l1: float) -> torch.Tensor:
    """The CD surrogate with an L1 penalty: mean F(v_data) − mean F(v_model) + l1·Σ|W| (a scalar).

    `v_model` is detached, so the gradient is the CD(-k) estimate of −∂ℓ/∂θ plus l1·sign(W):
    ∂/∂W = −⟨v σ(c + vW)ᵀ⟩_data + ⟨v σ(c + vW)ᵀ⟩_model + l1·sign(W) (biases are not penalised).
    """
    if l1 < 0:
        raise ValueError(f"l1 must be >= 0, got {l1}")
    gap = rbm.free_energy(v_data).mean() - rbm.free_energy(v_model.detach()).mean()
    return gap + l1 * rbm.W.abs().sum() if l1 else gap


@torch.no_grad()
def negative_samples(rbm: RBM, v0: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """v_k after k block-Gibbs steps v → h ~ Bernoulli(σ(c + vW)) → v ~ Bernoulli(σ(b + Wh)) from v0
    (batch, n_visible); k = 0 returns v0. Every unit is a Bernoulli draw from `generator`."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    v = v0.to(rbm.W.dtype)
    for _ in range(k):
        v = _bernoulli(rbm.visible_probs(_bernoulli(rbm.hidden_probs(v), generator)), generator)
    return v


@torch.no_grad()
def _recon_error(rbm: RBM, batch: torch.Tensor) -> float:
    """Mean squared error per unit of the mean-field reconstruction σ(b + W σ(c + vW)) of the batch."""
    return float((rbm.visible_probs(rbm.hidden_probs(batch)) - batch).pow(2).mean())


def layer_step(
    rbm: RBM,
    optimizer: torch.optim.Optimizer,
    batch: torch.Tensor,
    *,
    l1: float,
    k: int,
    generator: torch.Generator,
    chains: torch.Tensor | None = None,
) -> tuple[float, torch.Tensor | None]:
    """One update of `rbm` on a minibatch: CD-k from the batch, or PCD-k from `chains` when given.

    Returns (reconstruction error of the batch before the update, the advanced chains or None). The
    reconstruction error is the mean squared error per unit of the mean-field v → σ(c + vW) → σ(b + Wh);
    it is a training monitor, not the likelihood. The negatives are `negative_samples(rbm, start, k,
    generator)`, start = `chains` (PCD, Tieleman 2008) or `batch` (CD, Hinton 2002), and the step is one
    `optimizer.step()` on `l1_cd_loss(rbm, batch, negatives, l1)`.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    error = _recon_error(rbm, batch)
    negatives = negative_samples(rbm, batch if chains is None else chains, k, generator)
    loss = l1_cd_loss(rbm, batch, negatives, l1)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return error, (None if chains is None else negatives)


@torch.no_grad()
def visible_bias_from_data(rbm: RBM, data: torch.Tensor, eps: float = 1e-3) -> RBM:
    """Set the visible biases to the data's log-odds, b_i = log(p_i / (1 − p_i)), p_i = ⟨v_i⟩ clamped to
    [eps, 1 − eps] (Hinton, "A practical guide to training RBMs", 2010, §8.1); in place, returns `rbm`.
    For Z₂-symmetric Ising data b ≈ 0; for a deeper layer's data (hidden probabilities) it is not."""
    p = data.mean(0).clamp(eps, 1 - eps)
    rbm.visible_bias.copy_(torch.log(p / (1 - p)))
    return rbm


def train_layer(
    rbm: RBM,
    data: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float,
    l1: float,
    k: int,
    generator: torch.Generator,
    persistent: bool = False,
    on_epoch: Callable[[int, float], None] | None = None,
) -> RBM:
    """Train `rbm` in place on `data` (n, n_visible) by CD-k (PCD-k if `persistent`) with an L1 penalty;
    returns `rbm`.

    Every epoch visits the rows in the order `torch.randperm(n, generator=generator)` in minibatches of
    `batch_size` (a last partial batch is dropped) and takes one `layer_step` each, with
    `torch.optim.SGD(rbm.parameters(), lr, momentum)`. Persistent chains (batch_size of them) start at
    rows drawn from `data` with `generator`. After every epoch `on_epoch(epoch, recon_error)` is called,
    epoch = 1, …, epochs (the number of epochs done) and recon_error the epoch's mean of the batches'
    reconstruction errors. The biases are trained from their current values; see
    `visible_bias_from_data` for the usual start of the visible ones.
    """
    n = data.shape[0]
    if epochs < 1 or batch_size < 1 or lr <= 0 or not 0 <= momentum < 1:
        raise ValueError(
            f"need epochs, batch_size >= 1, lr > 0 and 0 <= momentum < 1, got {epochs}, {batch_size}, {lr}, {momentum}"
        )
    if data.dim() != 2 or data.shape[1] != rbm.n_visible:
        raise ValueError(f"data must have shape (n, {rbm.n_visible}), got {tuple(data.shape)}")
    if n < batch_size:
        raise ValueError(f"batch_size {batch_size} exceeds the {n} rows of data")
    data = data.to(rbm.W.dtype)
    optimizer = torch.optim.SGD(rbm.parameters(), lr=lr, momentum=momentum)
    chains = data[torch.randint(0, n, (batch_size,), generator=generator, device=data.device)] if persistent else None
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=generator, device=data.device)
        errors = []
        for start in range(0, n - batch_size + 1, batch_size):
            error, chains = layer_step(
                rbm, optimizer, data[order[start : start + batch_size]], l1=l1, k=k, generator=generator, chains=chains
            )
            errors.append(error)
        if on_epoch is not None:
            on_epoch(epoch, sum(errors) / len(errors))
    return rbm


# ------------------------------------------------------------------------------------------- the stack
@torch.no_grad()
def propagate_up(rbm: RBM, v: torch.Tensor, *, sample: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """The next layer's data from this layer's visible units v (n, n_visible): the hidden probabilities
    σ(c + vW) (mean field, `sample=False`; Hinton et al. 2006 use them to train the layer above), or
    Bernoulli draws of them from `generator` (`sample=True`). Shape (n, n_hidden)."""
    p = rbm.hidden_probs(v.to(rbm.W.dtype))
    if not sample:
        return p
    if generator is None:
        raise ValueError("sample=True needs a torch.Generator (generator=...)")
    return _bernoulli(p, generator)


@torch.no_grad()
def reconstruct(
    stack: Sequence[RBM], v: torch.Tensor, depth: int, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Reconstruct v (n, n_visible of stack[0]) through the first `depth` layers, in mean field:
    up h_ℓ = σ(c_ℓ + h_{ℓ−1} W_ℓ) for ℓ = 1 … depth (h_0 = v), then down h_{ℓ−1} = σ(b_ℓ + W_ℓ h_ℓ) for
    ℓ = depth … 1. Returns probabilities of the visible units, shape (n, n_visible); depth = 0 returns v.

    Everything is deterministic; `generator` is accepted for the signature's sake and unused.
    """
    del generator
    if not 0 <= depth <= len(stack):
        raise ValueError(f"depth must be in [0, {len(stack)}], got {depth}")
    if depth == 0:
        return v
    h = v.to(stack[0].W.dtype)
    for rbm in stack[:depth]:
        h = rbm.hidden_probs(h)
    for rbm in reversed(stack[:depth]):
        h = rbm.visible_probs(h)
    return h


@torch.no_grad()
def composite_weights(stack: Sequence[RBM], depth: int) -> torch.Tensor:
    """The linear receptive fields of layer `depth` on the visible units of stack[0]: W_1 W_2 ⋯ W_depth,
    shape (n_visible of stack[0], n_hidden of stack[depth − 1]).

    It drops the sigmoids between layers, so it is the first-order picture of what a deep unit reads,
    in the spirit of Lee, Grosse, Ranganath & Ng (ICML 2009), who draw a second-layer unit as a weighted
    combination of first-layer bases. Unlike a deeper layer's own W, its rows are lattice sites, so
    `locality` and `receptive_field_figure` apply to it spatially.
    """
    if not 1 <= depth <= len(stack):
        raise ValueError(f"depth must be in [1, {len(stack)}], got {depth}")
    W = stack[0].W.detach()
    for rbm in stack[1:depth]:
        W = W @ rbm.W.detach()
    return W


# ------------------------------------------------------------------------------------------- locality
def _check_lattice(W: torch.Tensor, L: int, window: int) -> None:
    if W.dim() != 2 or W.shape[0] != L * L:
        raise ValueError(f"W must have shape (L² = {L * L}, n_hidden) for L = {L}, got {tuple(W.shape)}")
    if not 1 <= window <= L:
        raise ValueError(f"window must be in [1, L = {L}], got {window}")


@torch.no_grad()
def locality(W: torch.Tensor, L: int, window: int) -> torch.Tensor:
    """For every hidden unit j the largest fraction of Σ_i W_ij² inside one window×window square of the
    periodic L×L lattice: max_{(r, c)} Σ_{a, b < window} W²_{(r+a mod L)·L + (c+b mod L), j} / Σ_i W_ij².

    W has shape (L², n_hidden), site i = r·L + c. All L² window positions are scored at once by a box sum
    (a conv2d with a window×window kernel of ones over W² padded circularly on the bottom and right), in
    float64. Returns float64 (n_hidden,) in [window²/L², 1]: 1 when a unit's weights lie in one window,
    window²/L² for a uniform unit; NaN for a unit whose weights are all zero.
    """
    _check_lattice(W, L, window)
    w2 = W.detach().to(torch.float64).pow(2).T.reshape(-1, 1, L, L)
    padded = pad(w2, (0, window - 1, 0, window - 1), mode="circular") if window > 1 else w2
    boxes = conv2d(padded, torch.ones(1, 1, window, window, dtype=torch.float64, device=W.device))
    return boxes.flatten(1).amax(1) / w2.flatten(1).sum(1)


@torch.no_grad()
def shuffle_sites(W: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """W (n_visible, n_hidden) with every column permuted independently over the rows: column j of the
    result is W[π_j, j], π_j the argsort of n_visible uniforms from `generator` (one (n_visible, n_hidden)
    draw for all columns). Each column keeps its multiset of values."""
    perm = torch.rand(W.shape, generator=generator, device=W.device).argsort(dim=0)
    return W.detach().gather(0, perm)


@torch.no_grad()
def shuffled_locality(W: torch.Tensor, L: int, window: int, generator: torch.Generator) -> torch.Tensor:
    """`locality` of `shuffle_sites(W, generator)`: every unit's weights permuted independently over the
    L² sites, the baseline for a unit with the same weight values placed at random. Shape (n_hidden,).

    One call is one random draw; average a few calls (different generators) for a steadier baseline."""
    _check_lattice(W, L, window)
    return locality(shuffle_sites(W, generator), L, window)


# ------------------------------------------------------------------------------------------- figures
def receptive_field_figure(W: torch.Tensor, L: int, n_show: int = 64, title: str = "") -> Figure:
    """A grid of the receptive fields W_{·j} of the `n_show` hidden units of largest norm ‖W_{·j}‖
    (descending, row by row), each as an L×L image (site i = r·L + c) in a diverging colormap symmetric
    about 0 and scaled to that unit's max |W_ij|. Returns a `matplotlib.figure.Figure` (save it with
    `fig.savefig(path)`).

    For the first layer the L×L image is the spin lattice. For a deeper layer the visible units are the
    previous layer's hidden units, which have no spatial arrangement: the function still draws them when
    n_visible = L² (400 = 20×20, 100 = 10×10), but that layout is arbitrary and the images are not spatial.

    The figure is built directly on `matplotlib.figure.Figure`, which renders with Agg and never touches
    pyplot or a GUI backend, so it works headless and leaves the caller's backend alone.
    """
    from matplotlib.figure import Figure  # lazily: matplotlib is needed only for figures

    _check_lattice(W, L, 1)
    W = W.detach().to(torch.float64).cpu()
    order = W.pow(2).sum(0).argsort(descending=True)[: max(1, min(n_show, W.shape[1]))]
    n = len(order)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(1.3 * cols, 1.3 * rows + (0.4 if title else 0.0)), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, j in zip(axes.flat, order.tolist(), strict=False):
        field = W[:, j].reshape(L, L).numpy()
        scale = float(abs(field).max()) or 1.0
        ax.imshow(field, cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
    if title:
        fig.suptitle(title)
    return fig
