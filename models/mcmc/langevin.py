"""Langevin dynamics at temperature T for continuous energies, and the replay buffer of chains.

One step of the unadjusted Langevin algorithm (ULA) with step size ε at temperature T:

    x ← x − (ε/2) ∇E(x) + √(ε T) · ξ,        ξ ~ N(0, I).

As ε → 0 its stationary density is p(x) ∝ exp(−E(x)/T). At finite ε the chain is biased,
and the bias is known exactly for a quadratic energy E(x) = λ|x|²/2 (∇E = λx):

    x' = a x + √(εT) ξ,   a = 1 − ελ/2.

This is an AR(1) process per coordinate. It is stable iff |a| < 1, i.e. 0 < ελ < 4. Its
stationary variance v solves v = a² v + εT:

    v = εT / (1 − a²) = εT / (ελ − ε²λ²/4) = T / [λ (1 − ελ/4)],

which is larger than the continuous-time value T/λ by the factor 1/(1 − ελ/4); the stationary
mean is 0. `tests/test_langevin.py` checks both numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

EnergyFn = Callable[[torch.Tensor], torch.Tensor]
"""x of shape (B, ...) ↦ energies of shape (B,)."""


def _as_energy_fn(model: Any) -> EnergyFn:
    return model.energy if hasattr(model, "energy") else model


def langevin(
    model: Any,
    x: torch.Tensor,
    *,
    steps: int,
    step_size: float,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    clip_x: float | tuple[float, float] | None = None,
) -> torch.Tensor:
    """Run `steps` ULA steps x ← x − (ε/2)∇E(x) + √(εT)ξ from x and return the final x (detached).

    `model` is anything with an `energy(x) -> (B,)` method, or such a function itself. The
    gradient is taken with respect to x only: parameter `.grad`s are untouched, so this can
    run inside a training step. `clip_x = c` clamps x to [−c, c] after every step, and a pair
    (low, high) clamps to [low, high]; clamping keeps short-run chains in the data box but
    makes the chain inexact near the walls. T = 0 gives noiseless gradient descent.
    """
    if steps < 0 or step_size <= 0 or temperature < 0:
        raise ValueError(
            f"langevin needs steps ≥ 0, step_size > 0, temperature ≥ 0; got steps={steps}, "
            f"step_size={step_size}, temperature={temperature}"
        )
    energy = _as_energy_fn(model)
    low, high = (-clip_x, clip_x) if isinstance(clip_x, (int, float)) else (clip_x or (None, None))
    noise_std = math.sqrt(step_size * temperature)
    x = x.detach().clone()
    for _ in range(steps):
        with torch.enable_grad():
            x.requires_grad_(True)
            (grad,) = torch.autograd.grad(energy(x).sum(), x)
        x = x.detach() - 0.5 * step_size * grad
        if noise_std > 0:
            x = x + noise_std * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        if clip_x is not None:
            x = x.clamp(low, high)
    return x


class ReplayBuffer:
    """Persistent Langevin chains for EBM training (Du & Mordatch 2019, "sample replay buffer").

    The buffer holds `size` points of shape `shape`, first drawn uniformly from the box
    [low, high]^d. `sample(n)` returns n buffered points, each replaced with probability
    `reinit_prob` by a fresh uniform point (this keeps the chains exploring new regions);
    after running Langevin on them, `update(idx, x)` writes the results back.
    """

    def __init__(
        self,
        size: int,
        shape: int | tuple[int, ...],
        *,
        reinit_prob: float = 0.05,
        low: float = -1.0,
        high: float = 1.0,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        if size < 1 or not 0.0 <= reinit_prob <= 1.0 or not low < high:
            raise ValueError(
                f"ReplayBuffer needs size ≥ 1, reinit_prob in [0, 1] and low < high; got size={size}, "
                f"reinit_prob={reinit_prob}, low={low}, high={high}"
            )
        self.shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.reinit_prob, self.low, self.high = float(reinit_prob), float(low), float(high)
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.buffer = self.uniform(size, generator=generator)

    def __len__(self) -> int:
        return self.buffer.shape[0]

    def uniform(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """n points drawn uniformly from the init box [low, high]^d, shape (n, *shape)."""
        u = torch.rand((n, *self.shape), generator=generator, device=self.device)
        return self.low + (self.high - self.low) * u

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw n start points (with replacement) and their buffer indices: (x (n, *shape), idx (n,)).

        Each point is a fresh uniform draw with probability `reinit_prob`, else a buffered chain.
        """
        idx = torch.randint(len(self), (n,), generator=generator, device=self.device)
        x = self.buffer[idx].clone()
        reinit = torch.rand(n, generator=generator, device=self.device) < self.reinit_prob
        fresh = self.uniform(n, generator=generator)
        x[reinit] = fresh[reinit]
        return x, idx

    def update(self, idx: torch.Tensor, x: torch.Tensor) -> None:
        """Write the evolved chains x back to their slots idx."""
        self.buffer[idx] = x.detach().to(self.buffer.dtype)

    def to(self, device: torch.device | str) -> ReplayBuffer:
        self.device = torch.device(device)
        self.buffer = self.buffer.to(self.device)
        return self

    def state_dict(self) -> dict[str, Any]:
        """The whole buffer state; loadable with `torch.load(..., weights_only=True)`."""
        return {
            "buffer": self.buffer.clone(),
            "reinit_prob": self.reinit_prob,
            "low": self.low,
            "high": self.high,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        buffer = state["buffer"]
        if tuple(buffer.shape[1:]) != self.shape:
            raise ValueError(f"ReplayBuffer state has points of shape {tuple(buffer.shape[1:])}, "
                             f"this buffer holds {self.shape}")
        self.buffer = buffer.to(self.device).clone()
        self.reinit_prob, self.low, self.high = state["reinit_prob"], state["low"], state["high"]
