"""Random-features regression: the model in which test error peaks where the features interpolate.

A fixed random first layer W (p × d, entries N(0, 1)) maps x ∈ Rᵈ to φ(x) = relu(Wx/√d)/√p; only the
second layer a ∈ Rᵖ is fitted, to f(x) = φ(x)·a. With n training points and p features:

* p < n: least squares is overdetermined and has one solution;
* p > n: infinitely many interpolate, and the minimum-norm one a = Φ⁺y is what gradient descent from
  a = 0 converges to (it never leaves the row space of Φ);
* p = n: Φ is square and nearly singular, ‖a‖ blows up with the label noise, and so does the test error.

That peak is the interpolation threshold of double descent (Belkin, Hsu, Ma & Mandal, PNAS 116, 15849,
2019; Mei & Montanari, arXiv:1908.05355, 2019, for the exact asymptotics of this model).
"""

from __future__ import annotations

import math

import torch


def relu_features(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """φ(x) = relu(x Wᵀ/√d)/√p for x (n, d) and W (p, d); shape (n, p)."""
    p, d = weights.shape
    return torch.relu(x @ weights.T / math.sqrt(d)) / math.sqrt(p)


def min_norm_fit(phi: torch.Tensor, y: torch.Tensor, ridge: float = 0.0) -> torch.Tensor:
    """The least-squares coefficients of y (n,) on phi (n, p) of least Euclidean norm, Φ⁺y, by LAPACK's
    SVD-based `gelsd` (singular values below rcond·σ_max count as zero); with `ridge` > 0 the ridge
    solution (ΦᵀΦ + ridge·n·I)⁻¹Φᵀy instead, which tends to Φ⁺y as ridge → 0."""
    n, p = phi.shape
    if ridge > 0:
        if p <= n:
            return torch.linalg.solve(phi.T @ phi + ridge * n * torch.eye(p, dtype=phi.dtype), phi.T @ y)
        return phi.T @ torch.linalg.solve(phi @ phi.T + ridge * n * torch.eye(n, dtype=phi.dtype), y)
    if phi.device.type != "cpu":  # gelsd is CPU-only; the pseudo-inverse is the same solution
        return torch.linalg.pinv(phi) @ y
    return torch.linalg.lstsq(phi, y[:, None], driver="gelsd").solution[:, 0]
