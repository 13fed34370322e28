"""A deep energy-based model on continuous data, and the pure functions that train and score it.

The model is a density p_θ(x) ∝ exp(−E_θ(x)/T) with E_θ an MLP (Du & Mordatch 2019;
Nijkamp et al. 2019). Sampling (Langevin dynamics, replay buffer) lives in `models.mcmc.langevin`;
the training loop belongs to the caller. The maximum-likelihood gradient is

    ∇_θ (−log p_θ(x_data)) ∝ ∇_θ E_θ(x_data) − E_{x ~ p_θ}[∇_θ E_θ(x)],

estimated by `contrastive_loss` with model samples from a short Langevin run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class EnergyMLP(nn.Module):
    """E_θ(x) = w_out · φ(W_d … φ(W_1 x + b_1) … + b_d) + b_out, a scalar energy per point.

    `depth` is the number of hidden layers of `width` units; φ is `activation` (default SiLU,
    i.e. Swish x·σ(x), smooth so that ∇_x E is continuous, as Langevin dynamics needs).
    Weights start as PyTorch's `nn.Linear` default, U(±1/√fan_in), drawn from `generator`.
    """

    def __init__(
        self,
        dim: int,
        width: int,
        depth: int = 2,
        activation: Callable[[], nn.Module] = nn.SiLU,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if dim < 1 or width < 1 or depth < 1:
            raise ValueError(f"EnergyMLP needs dim, width, depth ≥ 1; got {dim}, {width}, {depth}")
        layers: list[nn.Module] = []
        fan_in = dim
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width), activation()]
            fan_in = width
        layers.append(nn.Linear(fan_in, 1))
        self.net = nn.Sequential(*layers)
        self.dim = dim
        with torch.no_grad():
            for layer in self.net:
                if isinstance(layer, nn.Linear):
                    bound = layer.in_features**-0.5
                    for param in (layer.weight, layer.bias):
                        param.copy_((torch.rand(param.shape, generator=generator) * 2.0 - 1.0) * bound)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """E_θ(x) for x of shape (..., dim); returns shape (...)."""
        return self.net(x).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.energy(x)


def contrastive_loss(
    model: EnergyMLP, x_data: torch.Tensor, x_samples: torch.Tensor, alpha: float = 0.0
) -> torch.Tensor:
    """L(θ) = ⟨E_θ⟩_data − ⟨E_θ⟩_samples + α ⟨E_θ(x_data)² + E_θ(x_samples)²⟩.

    The first two terms are the maximum-likelihood surrogate (its θ-gradient is the contrastive
    gradient above); the α term keeps energies near zero, which stops them from drifting, as
    the likelihood is invariant to E → E + c (Du & Mordatch 2019, "energy magnitude
    regularisation"). `x_samples` is detached: no gradient flows through the sampler.
    Returns a scalar tensor; both batches may have different sizes.
    """
    return contrastive_terms(model.energy(x_data), model.energy(x_samples.detach()), alpha)


def contrastive_terms(e_data: torch.Tensor, e_samples: torch.Tensor, alpha: float = 0.0) -> torch.Tensor:
    """`contrastive_loss` from energies already computed (a training step also logs them)."""
    regulariser = torch.cat([e_data, e_samples]).pow(2).mean()
    return e_data.mean() - e_samples.mean() + alpha * regulariser


def median_bandwidth(x: torch.Tensor, y: torch.Tensor | None = None) -> float:
    """Median heuristic h = median_{i<j} |z_i − z_j| over the pooled points z = x ∪ y (Gretton et al. 2012)."""
    z = x if y is None else torch.cat([x, y])
    distances = torch.pdist(z.to(torch.float64))
    return float(distances.median())


def mmd(x: torch.Tensor, y: torch.Tensor, bandwidth: float | None = None) -> float:
    """Unbiased estimate of the squared maximum mean discrepancy with an RBF kernel.

        k(a, b) = exp(−|a − b|² / (2h²))
        MMD²_u = 1/(n(n−1)) Σ_{i≠i'} k(x_i, x_i') + 1/(m(m−1)) Σ_{j≠j'} k(y_j, y_j')
                 − 2/(nm) Σ_{i,j} k(x_i, y_j)

    (Gretton et al. 2012, eq. 3). Being unbiased (a U-statistic), it can be slightly negative when
    the two samples come from the same distribution; its expectation is exactly MMD²(P, Q).
    `bandwidth=None` uses the median heuristic over the pooled sample, `median_bandwidth(x, y)`.
    To compare MMDs across training steps, fix the bandwidth (e.g. `median_bandwidth(data)`).
    Computed in float64; x (n, d) and y (m, d) need n, m ≥ 2.
    """
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError(f"mmd needs at least 2 points per sample, got {x.shape[0]} and {y.shape[0]}")
    h = median_bandwidth(x, y) if bandwidth is None else bandwidth
    if h <= 0:
        raise ValueError(f"mmd bandwidth must be > 0, got {h}")
    x, y = x.to(torch.float64), y.to(y.device, torch.float64)
    n, m = x.shape[0], y.shape[0]

    def kernel_sum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.exp(-torch.cdist(a, b).pow(2) / (2.0 * h * h)).sum()

    k_xx = (kernel_sum(x, x) - n) / (n * (n - 1))  # the diagonal k(x_i, x_i) = 1 is removed
    k_yy = (kernel_sum(y, y) - m) / (m * (m - 1))
    k_xy = kernel_sum(x, y) / (n * m)
    return float(k_xx + k_yy - 2.0 * k_xy)


# ------------------------------------------------------------------------ populations of models
def stack_parameters(models: Sequence[EnergyMLP]) -> dict[str, torch.Tensor]:
    """The parameters of P EnergyMLPs of one shape, each stacked along a new leading axis P, by name.

    `torch.stack` is differentiable: a loss on the stack sends each model's share of the gradient to
    that model's own parameters (their `.grad`), as if it had been computed on the model alone."""
    names = [name for name, _ in models[0].named_parameters()]
    params = [dict(m.named_parameters()) for m in models]
    return {name: torch.stack([p[name] for p in params]) for name in names}


def population_energy(model: EnergyMLP, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """E_θ_p(x_p) of P models at once: `params` as `stack_parameters` gives them, x of shape (P, B, dim);
    returns (P, B). `model` only lends its layer structure (its activations; its weights are unused).

    A hidden layer is one `torch.baddbmm` over the population, which on a CPU runs per member the same
    matrix product as the lone `nn.Linear` (`addmm`), bit for bit. The output layer, a matrix–vector
    product, goes member by member through the lone `nn.functional.linear`: a batched product rounds
    differently from the BLAS matrix–vector kernel that a lone model's output layer uses."""
    h = x
    last = len(model.net) - 1
    for n, layer in enumerate(model.net):
        if not isinstance(layer, nn.Linear):
            h = layer(h)  # the activation: elementwise, any shape
            continue
        weight, bias = params[f"net.{n}.weight"], params[f"net.{n}.bias"]
        if n == last:
            h = torch.stack([F.linear(h[p], weight[p], bias[p]) for p in range(h.shape[0])])
        else:
            h = torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
    return h.squeeze(-1)


def population_langevin(
    energy: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    steps: int,
    step_size: Sequence[float],
    temperature: Sequence[float],
    generators: Sequence[torch.Generator],
    clip_x: Sequence[float] | None = None,
) -> torch.Tensor:
    """`models.mcmc.langevin` for P sets of chains at once, each with its own ε_p, T_p, generator and box:
    the unadjusted Langevin algorithm (Roberts & Tweedie 1996; at temperature T as in the
    `models.mcmc.langevin` docstring) x_p ← x_p − (ε_p/2)∇E_p(x_p) + √(ε_p T_p) ξ_p, ξ_p ~ N(0, I),
    clamped to [−c_p, c_p] after every step.

    `energy` maps x (P, B, ...) to energies (P, B) (e.g. `population_energy`); the gradient of their sum
    is each set's own gradient, as the sets share no parameter. Each set draws its noise from its own
    generator in the lone function's order, and every update is the lone one's float32 arithmetic on
    (P, 1, …) tensors of its constants (0.5·ε and √(εT) rounded from float64, as Python scalars are), so
    set p ends where `langevin` with (ε_p, T_p, generators[p], c_p) ends. A set with T_p = 0 draws no
    noise, as there. Returns the final x, detached.
    """
    n = x.shape[0]
    if steps < 0 or min(step_size) <= 0 or min(temperature) < 0:
        raise ValueError(
            f"langevin needs steps ≥ 0, step_size > 0, temperature ≥ 0; got steps={steps}, "
            f"step_size={list(step_size)}, temperature={list(temperature)}"
        )
    if not len(step_size) == len(temperature) == len(generators) == n:
        raise ValueError(f"population_langevin needs one ε, T and generator per set; got {n} sets")
    shape = (n,) + (1,) * (x.ndim - 1)

    def per_set(values) -> torch.Tensor:
        return torch.tensor([float(v) for v in values], dtype=x.dtype, device=x.device).view(shape)

    half_step = per_set(0.5 * e for e in step_size)
    stds = [math.sqrt(e * t) for e, t in zip(step_size, temperature, strict=True)]
    noise_std, noisy = per_set(stds), torch.tensor(stds, device=x.device).view(shape) > 0
    low, high = (per_set(-c for c in clip_x), per_set(clip_x)) if clip_x is not None else (None, None)
    x = x.detach().clone()
    for _ in range(steps):
        with torch.enable_grad():
            x.requires_grad_(True)
            (grad,) = torch.autograd.grad(energy(x).sum(), x)
        x = x.detach() - half_step * grad
        if max(stds) > 0:
            noise = torch.stack(
                [
                    torch.randn(x.shape[1:], generator=g, device=x.device, dtype=x.dtype)
                    if s > 0
                    else torch.zeros(x.shape[1:], device=x.device, dtype=x.dtype)
                    for g, s in zip(generators, stds, strict=True)
                ]
            )
            x = torch.where(noisy, x + noise_std * noise, x)
        if clip_x is not None:
            x = torch.clamp(x, low, high)
    return x
