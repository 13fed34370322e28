"""Stochastic-gradient Langevin dynamics (SGLD) at temperature T, its step-size schedules,
posterior-sample collection and divergence detection.

Target and update (Welling & Teh 2011; temperature as in Wenzel et al. 2020, arXiv:2002.02405):

    p_T(θ | D) ∝ exp(−U(θ)/T),    U(θ) = −log p(θ) − Σ_{i=1}^N log p(y_i | x_i, θ)
    θ ← θ − (ε/2) ∇Û(θ) + √(ε T) ξ,    ξ ~ N(0, I)

Convention for the user's loss. The closure (or the loss whose `.backward()` fills `.grad`)
is the *per-datum* potential on a minibatch B of size n:

    L(θ) = −(1/n) Σ_{i∈B} log p(y_i | x_i, θ) + (1/N)(−log p(θ)),    so  Û(θ) = N · L(θ)

is an unbiased estimate of U, and SGLD uses ∇Û = N ∇L with N = `num_data`. A loss that is
already the whole U (full batch, summed) takes `num_data=1`. With this convention `lr` = ε is
the Langevin step in θ-space for U; the matching SGD learning rate on L is ε N / 2.

Discretisation bias, exact for a Gaussian. For U = λθ²/2 and full-batch gradients the chain is
the AR(1) process θ' = aθ + √(εT)ξ with a = 1 − ελ/2. Its stationary variance v solves
v = a²v + εT, so

    v = εT / (1 − a²) = εT / (ελ − ε²λ²/4) = T / [λ (1 − ελ/4)],

which tends to T/λ as ε → 0 and exceeds it by the factor 1/(1 − ελ/4) (stable for ελ < 4).
For a Gaussian with precision Λ the stationary covariance is T Λ⁻¹ (I − εΛ/4)⁻¹; the
integrated autocorrelation time of θ is τ = (1 + a)/(1 − a) ≈ 4/(ελ).

Preconditioned SGLD (pSGLD, Li et al. 2016, AAAI) uses the RMSprop diagonal
G = 1 / (δ + √V), V ← ρV + (1 − ρ) g ⊙ g with g = ∇L (the per-datum gradient), and

    θ ← θ − (ε/2) G ∇Û + √(ε T G) ξ,

dropping the Γ(θ) = Σ_j ∂G/∂θ_j correction term as Li et al. recommend (a small bias when V
changes slowly).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Protocol

import torch
from torch import nn


class SGLD(torch.optim.Optimizer):
    """SGLD / pSGLD sampler of exp(−U(θ)/T), as an optimizer acting on `.grad` of L = Û/N.

    Every param group carries `lr` (ε), `temperature` (T), `num_data` (N) and `noise`; set
    `group["noise"] = False` for a plain gradient step θ ← θ − (ε/2)∇Û (the exploration phase of
    cyclical SG-MCMC, see `CyclicalCosine`). Changing T or ε between steps never rebuilds
    anything: edit the param groups, or call `apply_schedule`.

    The Gaussian noise is drawn from `generator` (reproducible; its state is part of
    `state_dict()`). Without one, the global torch RNG is used.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float,
        *,
        num_data: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        preconditioned: bool = False,
        precond_decay: float = 0.99,
        precond_eps: float = 1e-5,
    ) -> None:
        if not lr > 0:
            raise ValueError(f"SGLD lr (step size ε) must be > 0, got {lr}")
        if not temperature >= 0:
            raise ValueError(f"SGLD temperature must be ≥ 0, got {temperature}; T = 0 is noiseless descent")
        if num_data < 1:
            raise ValueError(f"SGLD num_data must be the training-set size N ≥ 1, got {num_data}")
        if not 0.0 <= precond_decay < 1.0:
            raise ValueError(f"SGLD precond_decay (RMSprop ρ) must be in [0, 1), got {precond_decay}")
        defaults = dict(
            lr=lr,
            temperature=temperature,
            num_data=num_data,
            noise=True,
            preconditioned=preconditioned,
            precond_decay=precond_decay,
            precond_eps=precond_eps,
        )
        super().__init__(params, defaults)
        self.generator = generator

    def _noise(self, p: torch.Tensor) -> torch.Tensor:
        if self.generator is None:
            return torch.randn_like(p)
        xi = torch.randn(p.shape, generator=self.generator, device=self.generator.device, dtype=p.dtype)
        return xi.to(p.device)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """One update θ ← θ − (ε/2) G ∇Û + √(εTG) ξ (G = 1 without preconditioning)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            eps, T, N = group["lr"], group["temperature"], group["num_data"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("SGLD does not support sparse gradients; use dense embeddings")
                g = p.grad
                if group["preconditioned"]:
                    state = self.state[p]
                    if "square_avg" not in state:
                        state["square_avg"] = g * g  # initialise V with the first g², not 0
                    v = state["square_avg"]
                    v.mul_(group["precond_decay"]).addcmul_(g, g, value=1 - group["precond_decay"])
                    precond = 1.0 / (group["precond_eps"] + v.sqrt())
                    p.addcmul_(precond, g, value=-0.5 * eps * N)
                    if group["noise"] and T > 0:
                        p.add_(self._noise(p) * (eps * T * precond).sqrt())
                else:
                    p.add_(g, alpha=-0.5 * eps * N)
                    if group["noise"] and T > 0:
                        p.add_(self._noise(p), alpha=math.sqrt(eps * T))
        return loss

    def state_dict(self) -> dict:
        state = super().state_dict()
        if self.generator is not None:
            state["generator_state"] = self.generator.get_state()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        generator_state = state_dict.pop("generator_state", None)
        super().load_state_dict(state_dict)
        if generator_state is not None and self.generator is not None:
            self.generator.set_state(generator_state)


# ------------------------------------------------------------------------------ schedules
class StepSchedule(Protocol):
    """ε_t as a function of the step t = 0, 1, …, and whether step t draws posterior samples."""

    def __call__(self, step: int) -> float: ...

    def is_sampling(self, step: int) -> bool: ...


class ConstantStep:
    """ε_t = ε. Samples a biased (see module docstring) but fast-mixing stationary law."""

    def __init__(self, lr: float) -> None:
        if not lr > 0:
            raise ValueError(f"step size must be > 0, got {lr}")
        self.lr = lr

    def __call__(self, step: int) -> float:
        return self.lr

    def is_sampling(self, step: int) -> bool:
        return True


class PolynomialDecay:
    """ε_t = a (b + t)^(−γ), γ ∈ (0.5, 1] (Welling & Teh 2011).

    Then Σ_t ε_t = ∞ (the chain travels arbitrarily far) and Σ_t ε_t² < ∞ (the injected noise
    dominates the gradient noise), the Robbins–Monro conditions under which SGLD converges.
    """

    def __init__(self, a: float, b: float = 1.0, gamma: float = 0.55) -> None:
        if not 0.5 < gamma <= 1.0:
            raise ValueError(f"PolynomialDecay gamma must be in (0.5, 1] so Σε=∞ and Σε²<∞, got {gamma}")
        if not (a > 0 and b > 0):
            raise ValueError(f"PolynomialDecay needs a > 0 and b > 0, got a={a}, b={b}")
        self.a, self.b, self.gamma = a, b, gamma

    def __call__(self, step: int) -> float:
        return self.a * (self.b + step) ** (-self.gamma)

    def is_sampling(self, step: int) -> bool:
        return True


class CyclicalCosine:
    """Cyclical cosine step size of cSG-MCMC (Zhang et al. 2020, arXiv:1902.03932).

    With cycle length L = ⌈K/M⌉ (K = total_steps, M = n_cycles) and r_t = (t mod L)/L:

        ε_t = (ε₀/2) [cos(π r_t) + 1]

    so ε restarts at ε₀ at every t = kL. Step t is in the exploration phase (noise off, SGD-like)
    while r_t < β = `exploration`, and in the sampling phase (noise on, collect samples) after.
    """

    def __init__(self, lr: float, total_steps: int, n_cycles: int, exploration: float = 0.5) -> None:
        if not lr > 0:
            raise ValueError(f"CyclicalCosine lr (ε₀) must be > 0, got {lr}")
        if not 1 <= n_cycles <= total_steps:
            raise ValueError(f"CyclicalCosine needs 1 ≤ n_cycles ≤ total_steps, got {n_cycles}, {total_steps}")
        if not 0.0 <= exploration < 1.0:
            raise ValueError(f"CyclicalCosine exploration fraction β must be in [0, 1), got {exploration}")
        self.lr, self.exploration = lr, exploration
        self.cycle_length = math.ceil(total_steps / n_cycles)

    def phase(self, step: int) -> float:
        """r_t = (t mod L)/L ∈ [0, 1), the position inside the current cycle."""
        return (step % self.cycle_length) / self.cycle_length

    def cycle(self, step: int) -> int:
        return step // self.cycle_length

    def __call__(self, step: int) -> float:
        return 0.5 * self.lr * (math.cos(math.pi * self.phase(step)) + 1.0)

    def is_sampling(self, step: int) -> bool:
        return self.phase(step) >= self.exploration


def apply_schedule(optimizer: torch.optim.Optimizer, schedule: StepSchedule, step: int) -> float:
    """Set ε_t on every param group and `noise = schedule.is_sampling(step)`; return ε_t."""
    lr = schedule(step)
    for group in optimizer.param_groups:
        group["lr"] = lr
        group["noise"] = schedule.is_sampling(step)
    return lr


# ------------------------------------------------------------------------ posterior samples
Snapshot = torch.Tensor | dict[str, torch.Tensor]


class PosteriorCollector:
    """Keeps snapshots θ_t (or predictions p(y | x, θ_t)) for t ≥ burn_in, every `thin` steps.

    The posterior predictive is the average of predicted probabilities over kept samples,
    p(y | x, D) ≈ (1/S) Σ_s p(y | x, θ_s): collect softmax outputs and call `mean()`, or collect
    parameters and use `models.bayes.posterior_predictive`.
    """

    def __init__(self, burn_in: int, thin: int = 1, max_samples: int | None = None) -> None:
        if burn_in < 0 or thin < 1:
            raise ValueError(f"PosteriorCollector needs burn_in ≥ 0 and thin ≥ 1, got {burn_in}, {thin}")
        self.burn_in, self.thin, self.max_samples = burn_in, thin, max_samples
        self.samples: list[Snapshot] = []
        self.steps: list[int] = []

    def due(self, step: int) -> bool:
        """Whether step t is kept: t ≥ burn_in and (t − burn_in) divisible by thin."""
        full = self.max_samples is not None and len(self.samples) >= self.max_samples
        return not full and step >= self.burn_in and (step - self.burn_in) % self.thin == 0

    def collect(self, step: int, value: torch.Tensor | nn.Module | Mapping[str, torch.Tensor]) -> bool:
        """Store a detached copy of `value` (a tensor, a module's parameters, or a dict) if due."""
        if not self.due(step):
            return False
        if isinstance(value, nn.Module):
            value = dict(value.named_parameters())
        if isinstance(value, Mapping):
            snap: Snapshot = {k: v.detach().clone() for k, v in value.items()}
        else:
            snap = value.detach().clone()
        self.samples.append(snap)
        self.steps.append(step)
        return True

    def __len__(self) -> int:
        return len(self.samples)

    def mean(self) -> torch.Tensor:
        """(1/S) Σ_s sample_s for tensor samples, e.g. the posterior predictive probabilities."""
        if not self.samples:
            raise RuntimeError(f"no samples collected yet (burn_in={self.burn_in}, thin={self.thin})")
        if not isinstance(self.samples[0], torch.Tensor):
            raise TypeError("mean() needs tensor samples; for parameter dicts use bayes.posterior_predictive")
        return torch.stack(self.samples).mean(0)

    def state_dict(self) -> dict:
        return {"samples": list(self.samples), "steps": list(self.steps)}

    def load_state_dict(self, state: dict) -> None:
        self.samples, self.steps = list(state["samples"]), list(state["steps"])


# ------------------------------------------------------------------------------ divergence
class ChainStatus(str, Enum):
    running = "running"
    diverged = "diverged"


def check_finite(loss: torch.Tensor | float | None, params: Iterable[torch.Tensor]) -> bool:
    """True when the loss (if given) and every parameter are finite (no NaN / ±inf)."""
    if loss is not None and not math.isfinite(float(torch.as_tensor(loss).detach())):
        return False
    return all(bool(torch.isfinite(p).all()) for p in params)


class DivergenceMonitor:
    """Records the first step at which the chain became non-finite; never raises.

    `update(step, loss, params)` returns True while the chain is healthy. After a failure,
    `status` is `ChainStatus.diverged` and `diverged_at` is that step.
    """

    def __init__(self) -> None:
        self.status = ChainStatus.running
        self.diverged_at: int | None = None

    def update(self, step: int, loss: torch.Tensor | float | None, params: Iterable[torch.Tensor]) -> bool:
        if self.status is ChainStatus.diverged:
            return False
        if not check_finite(loss, params):
            self.status, self.diverged_at = ChainStatus.diverged, step
            return False
        return True

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status.value, "diverged_at": self.diverged_at}
