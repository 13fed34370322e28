"""Bayesian models for SGLD: linear regression with an exact posterior, an MLP classifier with a
Gaussian prior, the digits data, and posterior metrics (accuracy, NLL, ECE, ESS).

Potentials follow the convention of `models.mcmc.sgld.SGLD`: each `potential` returns the per-datum

    L(θ) = −(1/n) Σ_{i∈B} log p(y_i | x_i, θ) + (1/N)(−log p(θ)),    N · L = Û(θ) ≈ U(θ),

for a minibatch B of size n out of N training points.

Bayesian linear regression (Bishop 2006, §3.3): y = Xw + η, η ~ N(0, σ²I), w ~ N(0, s²I).
The posterior is Gaussian with

    Σ_post = (XᵀX/σ² + I/s²)⁻¹,    μ_post = Σ_post Xᵀy / σ²,

and the tempered posterior exp(−U/T) is N(μ_post, T Σ_post).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call


# ------------------------------------------------------------------------------------ data
def digits_split(
    seed: int = 0, test_size: float = 0.25, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """sklearn's 8×8 digits (1797 images, 10 classes; ships with sklearn, no download).

    Stratified split `train_test_split(test_size, random_state=seed)`; pixels are standardised
    with the training mean and std (constant pixels keep std 1). Returns X_train (1347, 64),
    y_train, X_test (450, 64), y_test.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    mu, sd = X_tr.mean(0), X_tr.std(0)
    sd[sd == 0] = 1.0
    X_tr, X_te = (X_tr - mu) / sd, (X_te - mu) / sd
    return (
        torch.as_tensor(X_tr, dtype=dtype),
        torch.as_tensor(y_tr, dtype=torch.long),
        torch.as_tensor(X_te, dtype=dtype),
        torch.as_tensor(y_te, dtype=torch.long),
    )


# ----------------------------------------------------------------------- linear regression
def blr_posterior(
    X: torch.Tensor, y: torch.Tensor, noise_std: float, prior_std: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ_post, Σ_post) with Σ_post = (XᵀX/σ² + I/s²)⁻¹ and μ_post = Σ_post Xᵀy/σ² (float64)."""
    X, y = X.double(), y.double()
    precision = X.T @ X / noise_std**2 + torch.eye(X.shape[1], dtype=X.dtype) / prior_std**2
    cov = torch.linalg.inv(precision)
    cov = 0.5 * (cov + cov.T)
    return cov @ (X.T @ y) / noise_std**2, cov


def blr_potential(
    w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, *, noise_std: float, prior_std: float, num_data: int
) -> torch.Tensor:
    """L(w) = (1/n) Σ_{i∈B} (y_i − x_i·w)²/(2σ²) + ‖w‖²/(2 s² N), up to constants.

    `w` may carry leading chain dimensions (..., d); the result has shape (...), one potential per
    chain, and `.sum().backward()` gives every chain its own gradient. X (n, d) and y (n,) may
    also carry the chain dimensions, (..., n, d) and (..., n), for one minibatch per chain.
    """
    resid = y - (w @ X.T if X.dim() == 2 else (X @ w.unsqueeze(-1)).squeeze(-1))
    nll = (resid**2).mean(-1) / (2 * noise_std**2)
    neg_log_prior = (w**2).sum(-1) / (2 * prior_std**2)
    return nll + neg_log_prior / num_data


# ---------------------------------------------------------------------------------- MLP
class BayesMLP(nn.Module):
    """MLP classifier p(y | x, θ) = softmax(f_θ(x))_y with `depth` tanh hidden layers of `width`,
    and an isotropic Gaussian prior θ ~ N(0, s² I) on every weight and bias."""

    def __init__(
        self,
        in_dim: int,
        width: int,
        n_classes: int,
        depth: int = 1,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if min(in_dim, width, n_classes, depth) < 1:
            raise ValueError(f"BayesMLP sizes must be ≥ 1, got {in_dim=}, {width=}, {n_classes=}, {depth=}")
        dims = [in_dim] + [width] * depth + [n_classes]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        with torch.no_grad():  # LeCun-normal init, drawn from `generator` for reproducibility
            for layer in self.layers:
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator))
                layer.weight.mul_(1.0 / math.sqrt(layer.in_features))
                layer.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits f_θ(x), shape (batch, n_classes)."""
        for layer in self.layers[:-1]:
            x = torch.tanh(layer(x))
        return self.layers[-1](x)

    def log_prior(self, prior_std: float) -> torch.Tensor:
        """log N(θ; 0, s²I) = −‖θ‖²/(2s²) − P log(s√(2π)), P = number of parameters."""
        sq = sum((p**2).sum() for p in self.parameters())
        n_params = sum(p.numel() for p in self.parameters())
        return -sq / (2 * prior_std**2) - n_params * math.log(prior_std * math.sqrt(2 * math.pi))

    def potential(self, x: torch.Tensor, y: torch.Tensor, *, num_data: int, prior_std: float) -> torch.Tensor:
        """L(θ) = mean cross-entropy on the batch + (1/N)(−log p(θ)); N·L estimates U(θ)."""
        nll = nn.functional.cross_entropy(self(x), y)
        return nll - self.log_prior(prior_std) / num_data


# ------------------------------------------------------------------ functional forms (vmap)
def prior_constants(prior_std: float, n_params: int) -> tuple[float, float]:
    """(2s², P log(s√(2π))): the two numbers of log N(θ; 0, s²I) = −‖θ‖²/(2s²) − P log(s√(2π)), in float64
    as `BayesMLP.log_prior` and `blr_potential` compute them from a float `prior_std`."""
    return 2 * prior_std**2, n_params * math.log(prior_std * math.sqrt(2 * math.pi))


def blr_potential_functional(
    w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, *, noise_std: float, two_prior_var: torch.Tensor, num_data: int
) -> torch.Tensor:
    """`blr_potential` with the prior's 2s² given as a tensor (a per-member value under `torch.func.vmap`):
    L(w) = (1/n) Σ_{i∈B} (y_i − x_i·w)²/(2σ²) + ‖w‖²/(2 s² N), the same operations in the same order, so
    a float32 `two_prior_var` equal to `prior_constants(s, ·)[0]` gives `blr_potential`'s numbers."""
    resid = y - (w @ X.T if X.dim() == 2 else (X @ w.unsqueeze(-1)).squeeze(-1))
    nll = (resid**2).mean(-1) / (2 * noise_std**2)
    neg_log_prior = (w**2).sum(-1) / two_prior_var
    return nll + neg_log_prior / num_data


def mlp_potential_functional(
    model: nn.Module,
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    num_data: int,
    two_prior_var: torch.Tensor,
    log_norm: torch.Tensor,
) -> torch.Tensor:
    """`BayesMLP.potential` of the parameters `params` (`torch.func.functional_call`), with the prior's
    constants (2s², P log(s√(2π))) given as tensors, so that `torch.func.vmap` batches members with their own
    prior width: L(θ) = mean cross-entropy on the batch + (1/N)(−log p(θ)), in `BayesMLP`'s operation order."""
    nll = nn.functional.cross_entropy(functional_call(model, params, (x,)), y)
    sq = sum((p**2).sum() for p in params.values())
    log_prior = -sq / two_prior_var - log_norm
    return nll - log_prior / num_data


@torch.no_grad()
def posterior_predictive(
    model: nn.Module, snapshots: Sequence[dict[str, torch.Tensor]], x: torch.Tensor
) -> torch.Tensor:
    """p(y | x, D) ≈ (1/S) Σ_s softmax(f_{θ_s}(x)) over parameter snapshots θ_s."""
    if not snapshots:
        raise ValueError("posterior_predictive needs at least one parameter snapshot")
    probs = torch.zeros(())
    for snap in snapshots:
        probs = probs + torch.softmax(functional_call(model, snap, (x,)), dim=-1)
    return probs / len(snapshots)


# -------------------------------------------------------------------------------- metrics
def accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of argmax_k p_k = y."""
    return (probs.argmax(-1) == labels).double().mean().item()


def nll(probs: torch.Tensor, labels: torch.Tensor, eps: float = 1e-12) -> float:
    """Mean negative log predictive probability −(1/n) Σ_i log p(y_i | x_i) (probabilities in)."""
    p = probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return (-torch.log(p.double().clamp_min(eps))).mean().item()


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> float:
    """ECE = Σ_b (|B_b|/n) |acc(B_b) − conf(B_b)| (Guo et al. 2017, ICML).

    Confidence is max_k p_k; the bins split [0, 1] into `n_bins` equal widths, (l, u] each, the
    first bin closed at 0.
    """
    conf, pred = probs.double().max(-1)
    correct = (pred == labels).double()
    edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64)
    bins = torch.bucketize(conf, edges[1:-1], right=False)  # bin b holds conf ∈ (edges[b], edges[b+1]]
    n = conf.numel()
    ece = torch.zeros((), dtype=torch.float64)
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.sum() / n * (correct[mask].mean() - conf[mask].mean()).abs()
    return ece.item()


def effective_sample_size(chain: np.ndarray | torch.Tensor, c: float = 5.0) -> np.ndarray:
    """ESS = n_steps · n_chains / τ_int per parameter, τ_int from `emcee.autocorr.integrated_time`
    (Sokal's adaptive window, chains' autocorrelations averaged; Goodman & Weare 2010).

    `chain` has shape (n_steps,), (n_steps, n_chains) or (n_steps, n_chains, n_params). Returns
    an array of shape (n_params,) (length 1 for the first two shapes). Short chains give a
    logged warning, not an error. τ is floored at 1, so anticorrelated chains report ESS ≤ n.
    """
    from emcee.autocorr import integrated_time

    x = chain.detach().cpu().numpy() if isinstance(chain, torch.Tensor) else np.asarray(chain)
    x = x.astype(np.float64)
    if x.ndim == 1:
        x = x[:, None, None]
    elif x.ndim == 2:
        x = x[:, :, None]
    elif x.ndim != 3:
        raise ValueError(f"chain must be (n_steps[, n_chains[, n_params]]), got shape {x.shape}")
    tau = integrated_time(x, c=c, tol=0, quiet=True)
    return x.shape[0] * x.shape[1] / np.maximum(tau, 1.0)
