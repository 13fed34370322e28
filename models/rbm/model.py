"""Restricted Boltzmann machine with {0, 1} units.

Energy and free energy (Hinton 2002; Fischer & Igel 2012):

    E(v, h) = −v·b − h·c − vᵀ W h
    F(v)    = −log Σ_h exp(−E(v, h)) = −v·b − Σ_j softplus(c_j + (vW)_j)

At inverse temperature β the conditionals are

    p(h_j = 1 | v) = σ(β (c_j + (vW)_j)),    p(v_i = 1 | h) = σ(β (b_i + (W h)_i)).

Every method broadcasts over leading dimensions, so a batch of models (W of shape
(..., n_v, n_h), biases (..., n_v) / (..., n_h)) works with the same code as one model.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.functional import softplus


class RBM(nn.Module):
    """An RBM: parameters and energies only. Sampling lives in `models.mcmc`."""

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        *,
        init_std: float = 0.01,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if n_visible < 1 or n_hidden < 1:
            raise ValueError(f"RBM needs ≥1 visible and hidden unit, got {n_visible}, {n_hidden}")
        self.W = nn.Parameter(torch.randn(n_visible, n_hidden, generator=generator) * init_std)
        self.visible_bias = nn.Parameter(torch.zeros(n_visible))
        self.hidden_bias = nn.Parameter(torch.zeros(n_hidden))

    @classmethod
    def of(cls, W: torch.Tensor, visible_bias: torch.Tensor, hidden_bias: torch.Tensor) -> RBM:
        """An RBM over the given tensors, uncopied (for a batch of models: W (..., n_v, n_h)); gradients
        flow to them, so a caller that owns the parameters (a population of RBMs) computes with the same
        energies and conditionals as everyone else."""
        rbm = cls.__new__(cls)
        nn.Module.__init__(rbm)
        object.__setattr__(rbm, "W", W)
        object.__setattr__(rbm, "visible_bias", visible_bias)
        object.__setattr__(rbm, "hidden_bias", hidden_bias)
        return rbm

    @property
    def n_visible(self) -> int:
        return self.W.shape[-2]

    @property
    def n_hidden(self) -> int:
        return self.W.shape[-1]

    def _hidden_field(self, v: torch.Tensor) -> torch.Tensor:
        """c + vW, shape (..., batch, n_h)."""
        return v @ self.W + self.hidden_bias.unsqueeze(-2)

    def _visible_field(self, h: torch.Tensor) -> torch.Tensor:
        """b + W h, shape (..., batch, n_v)."""
        return h @ self.W.transpose(-1, -2) + self.visible_bias.unsqueeze(-2)

    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """E(v, h) = −v·b − h·c − vᵀWh for batches v (..., B, n_v), h (..., B, n_h) → (..., B)."""
        vb = (v * self.visible_bias.unsqueeze(-2)).sum(-1)
        hc = (h * self.hidden_bias.unsqueeze(-2)).sum(-1)
        vwh = ((v @ self.W) * h).sum(-1)
        return -vb - hc - vwh

    def free_energy(self, v: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
        """F_β(v) = −v·b − (1/β) Σ_j softplus(β(c_j + (vW)_j)); at β = 1 this is −log Σ_h e^{−E}.

        β scales the energy, so that Σ_h exp(−β E(v, h)) = exp(−β F_β(v)).
        """
        vb = (v * self.visible_bias.unsqueeze(-2)).sum(-1)
        return -vb - softplus(beta * self._hidden_field(v)).sum(-1) / beta

    def hidden_probs(self, v: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
        """p(h = 1 | v) = σ(β (c + vW))."""
        return torch.sigmoid(beta * self._hidden_field(v))

    def visible_probs(self, h: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
        """p(v = 1 | h) = σ(β (b + W h))."""
        return torch.sigmoid(beta * self._visible_field(h))


def spins_to_visible(spins: torch.Tensor) -> torch.Tensor:
    """Map Ising spins s ∈ {−1, +1}^{…×L×L} to visible units v = (s + 1)/2, flattened to (…, L²)."""
    return (spins.to(torch.float32).flatten(-2) + 1.0) / 2.0


def visible_to_spins(v: torch.Tensor, L: int) -> torch.Tensor:
    """Inverse of `spins_to_visible`: s = 2v − 1, reshaped to (…, L, L)."""
    return (2.0 * v - 1.0).reshape(*v.shape[:-1], L, L)
