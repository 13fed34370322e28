"""Partition function and log-likelihood of an RBM: exact enumeration, AIS and thermodynamic integration.

Conventions are those of `models.rbm`: units in {0, 1}, E(v, h) = −v·b − h·c − vᵀWh, and
log Z = log Σ_{v,h} e^{−E(v,h)}. Estimates are computed in float64 whatever the model's dtype.

Both estimators follow one path of distributions, from a base-rate model A (W = 0, c = 0, visible
biases b_A fitted to the data; Salakhutdinov & Murray 2008, "On the quantitative analysis of deep
belief networks", ICML, §4) to the RBM B:

    p_β(v, h) ∝ exp(−(1 − β) E_A(v) − β E_B(v, h)),    E_A(v) = −b_A·v,    β ∈ [0, 1].

Summing out h gives the unnormalised marginal used by both estimators,

    log p*_β(v) = (1 − β) b_A·v + β b·v + Σ_j softplus(β a_j(v)),    a(v) = c + vW,

with log Z_0 = log Z_A = Σ_i softplus(b_A,i) + n_h log 2 (at β = 0 the hidden units are free) and
Z_1 = Z_B. p_β is itself an RBM with parameters (βW, (1 − β) b_A + βb, βc), so block Gibbs sampling
of it (h ~ σ(β a(v)), then v ~ σ((1 − β) b_A + β(b + Wh))) leaves p_β invariant.

    log_z = log_partition_exact(rbm)                                # ≤ 20 units on one side
    log_z, err = ais_log_partition(rbm, data=train_v)               # any size
    nll = -log_likelihood(rbm, test_v, log_z)
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from scipy.integrate import simpson, trapezoid
from torch.nn.functional import softplus

from models.rbm.model import RBM

MAX_ENUMERATED_UNITS = 20
_CHUNK_BITS = 14  # 2^14 enumerated states per chunk bounds memory to 2^14 · n_other float64s


def _double(rbm: RBM) -> RBM:
    """A detached float64 copy of one model (no batch-of-models dimension)."""
    if rbm.W.dim() != 2:
        raise ValueError(
            f"expected one RBM with W of shape (n_v, n_h), got W of shape {tuple(rbm.W.shape)}; "
            "for a batch of models, estimate each model separately"
        )
    return copy.deepcopy(rbm).double().requires_grad_(False)


def _states(n: int, start: int, stop: int, device: torch.device) -> torch.Tensor:
    """The configurations start…stop−1 of {0,1}^n in binary order, shape (stop − start, n), float64."""
    idx = torch.arange(start, stop, device=device)
    return ((idx[:, None] >> torch.arange(n, device=device)) & 1).double()


@torch.no_grad()
def log_partition_exact(rbm: RBM) -> float:
    """log Z by summing over the smaller layer, which must have ≤ 20 units.

    Enumerating h:  log Z = logsumexp_h [h·c + Σ_i softplus(b_i + (W h)_i)],
    enumerating v:  log Z = logsumexp_v [v·b + Σ_j softplus(c_j + (vW)_j)] = logsumexp_v(−F(v)),
    in float64, in chunks of 2^14 states, combined by a final logsumexp.
    """
    m = _double(rbm)
    n_v, n_h = m.n_visible, m.n_hidden
    if min(n_v, n_h) > MAX_ENUMERATED_UNITS:
        raise ValueError(
            f"log_partition_exact enumerates the smaller layer, which needs ≤ {MAX_ENUMERATED_UNITS} units; "
            f"this RBM has n_visible={n_v}, n_hidden={n_h}. Use ais_log_partition or ti_log_partition instead"
        )
    enumerate_hidden = n_h <= n_v
    n = n_h if enumerate_hidden else n_v
    parts = []
    for start in range(0, 2**n, 2**_CHUNK_BITS):
        s = _states(n, start, min(start + 2**_CHUNK_BITS, 2**n), m.W.device)
        if enumerate_hidden:
            score = s @ m.hidden_bias + softplus(s @ m.W.T + m.visible_bias).sum(-1)
        else:
            score = -m.free_energy(s)
        parts.append(torch.logsumexp(score, 0))
    return float(torch.logsumexp(torch.stack(parts), 0))


def base_rate_bias(data: torch.Tensor, *, eps: float = 1e-3) -> torch.Tensor:
    """Visible biases of the base-rate model: b_A = log(p / (1 − p)), p = data mean clamped to [ε, 1 − ε]."""
    p = data.double().mean(0).clamp(eps, 1.0 - eps)
    return torch.log(p / (1.0 - p))


class _Path:
    """The path p_β between the base-rate model A and the RBM B (see the module docstring)."""

    def __init__(self, rbm: RBM, base_visible_bias: torch.Tensor | None, data: torch.Tensor | None) -> None:
        m = _double(rbm)
        self.W, self.b, self.c = m.W, m.visible_bias, m.hidden_bias
        if base_visible_bias is not None:
            b_a = torch.as_tensor(base_visible_bias, dtype=torch.float64, device=self.W.device)
        elif data is not None:
            if data.dim() != 2 or data.shape[-1] != m.n_visible:
                raise ValueError(f"data must be (n_samples, {m.n_visible}) visible vectors, got {tuple(data.shape)}")
            b_a = base_rate_bias(data.to(self.W.device))
        else:
            b_a = torch.zeros(m.n_visible, dtype=torch.float64, device=self.W.device)
        if b_a.shape != (m.n_visible,):
            raise ValueError(f"base_visible_bias must have shape ({m.n_visible},), got {tuple(b_a.shape)}")
        self.b_a = b_a
        self.log_z_base = float(softplus(b_a).sum()) + m.n_hidden * math.log(2.0)

    def base_sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """Exact samples of p_0: independent v_i ~ Bernoulli(σ(b_A,i))."""
        return torch.bernoulli(torch.sigmoid(self.b_a).expand(n, -1), generator=gen)

    def field(self, v: torch.Tensor) -> torch.Tensor:
        """a(v) = c + vW."""
        return v @ self.W + self.c

    def log_p(self, v: torch.Tensor, a: torch.Tensor, beta: float) -> torch.Tensor:
        """log p*_β(v) = (1 − β) b_A·v + β b·v + Σ_j softplus(β a_j), given a = a(v)."""
        return v @ ((1.0 - beta) * self.b_a + beta * self.b) + softplus(beta * a).sum(-1)

    def gibbs_step(self, a: torch.Tensor, beta: float, gen: torch.Generator) -> torch.Tensor:
        """One block Gibbs step of p_β from the state whose field is a: the new v.

        This is `models.mcmc.gibbs` on the RBM (βW, (1 − β) b_A + βb, βc), written against the
        field a(v) that the estimators already computed for their weights or integrand: 2 matrix
        products per β instead of 4 (gibbs's 3 plus the field).
        """
        h = torch.bernoulli(torch.sigmoid(beta * a), generator=gen)
        return torch.bernoulli(torch.sigmoid((1.0 - beta) * self.b_a + beta * (h @ self.W.T + self.b)), generator=gen)


def ais_schedule(n_betas: int) -> np.ndarray:
    """n_betas + 1 inverse temperatures from 0 to 1, denser near β = 1 where p_β changes fastest.

    Piecewise linear in the proportions of Salakhutdinov & Murray (2008): 500 : 4000 : 10000 of the
    steps on [0, 0.5], [0.5, 0.9] and [0.9, 1].
    """
    if n_betas < 3:
        raise ValueError(f"n_betas must be ≥ 3 annealing steps, got {n_betas}")
    k1 = max(1, round(n_betas * 500 / 14500))
    k2 = max(1, round(n_betas * 4000 / 14500))
    k3 = n_betas - k1 - k2
    return np.concatenate([
        np.linspace(0.0, 0.5, k1, endpoint=False),
        np.linspace(0.5, 0.9, k2, endpoint=False),
        np.linspace(0.9, 1.0, k3 + 1),
    ])


@torch.no_grad()
def ais_log_partition(
    rbm: RBM,
    *,
    n_chains: int = 500,
    n_betas: int = 1000,
    seed: int = 0,
    base_visible_bias: torch.Tensor | None = None,
    data: torch.Tensor | None = None,
    betas: np.ndarray | None = None,
) -> tuple[float, float]:
    """log Z by annealed importance sampling (Neal 2001; Salakhutdinov & Murray 2008) → (log Z, stderr).

    Each of `n_chains` independent chains starts from an exact sample v_1 ~ p_0 and collects the
    log importance weight along β_0 = 0 < β_1 < … < β_K = 1 (`ais_schedule(n_betas)` or `betas`):

        log w = Σ_{k=1}^{K} [log p*_{β_k}(v_k) − log p*_{β_{k−1}}(v_k)],   v_{k+1} ~ T_{β_k}(v_k, ·),

    where T_β is one block Gibbs step of p_β. Then Z_B / Z_A = E[w], so

        log Z ≈ log Z_A + logsumexp(log w) − log n_chains.

    The standard error is the delta method on the weights, stderr = std(w / w̄) / √n_chains; it
    understates the error when a few weights dominate (then use more β steps or chains).
    The base model's biases are `base_visible_bias`, else fitted to `data`, else 0 (uniform).
    """
    if n_chains < 2:
        raise ValueError(f"n_chains must be ≥ 2 to estimate an error, got {n_chains}")
    path = _Path(rbm, base_visible_bias, data)
    schedule = ais_schedule(n_betas) if betas is None else np.asarray(betas, dtype=np.float64)
    if schedule[0] != 0.0 or schedule[-1] != 1.0 or np.any(np.diff(schedule) <= 0):
        raise ValueError("betas must increase strictly from 0 to 1, e.g. ais_schedule(1000)")
    gen = torch.Generator(device=path.W.device).manual_seed(seed)
    v = path.base_sample(n_chains, gen)
    log_w = torch.zeros(n_chains, dtype=torch.float64, device=path.W.device)
    for k in range(1, len(schedule)):
        a = path.field(v)
        log_w += path.log_p(v, a, float(schedule[k])) - path.log_p(v, a, float(schedule[k - 1]))
        if k < len(schedule) - 1:
            v = path.gibbs_step(a, float(schedule[k]), gen)
    log_mean_w = float(torch.logsumexp(log_w, 0)) - math.log(n_chains)
    ratios = torch.exp(log_w - log_mean_w)
    return path.log_z_base + log_mean_w, float(ratios.std() / math.sqrt(n_chains))


@torch.no_grad()
def ti_log_partition(
    rbm: RBM,
    *,
    n_betas: int = 101,
    n_chains: int = 200,
    steps_per_beta: int = 20,
    seed: int = 0,
    data: torch.Tensor | None = None,
    base_visible_bias: torch.Tensor | None = None,
) -> tuple[float, float]:
    """log Z by thermodynamic integration along the base-rate path → (log Z, stderr).

    On the joint path p_β(v, h) ∝ exp(−(1 − β) E_A(v) − β E_B(v, h)) of the module docstring,

        log Z_B − log Z_A = ∫₀¹ (d/dβ) log Z_β dβ = ∫₀¹ ⟨E_A(v) − E_B(v, h)⟩_β dβ,

    and the integrand is measured with h summed out analytically (E[h | v] = σ(β a(v))):

        g_β(v) = E_A(v) − E[E_B(v, h) | v] = (b − b_A)·v + a(v)·σ(β a(v)),    a(v) = c + vW.

    The `n_chains` chains start from exact samples of p_0 and are annealed through `n_betas`
    equally spaced β ∈ [0, 1], with `steps_per_beta` Gibbs steps at each; g is averaged over the
    second half of those steps. Every chain yields its own integral I_c by Simpson's rule, so the
    statistical error is the batch-means error with one batch per chain, std(I_c)/√n_chains; this
    includes the correlation between neighbouring β's that per-β errors would miss. The quadrature
    error is estimated as |Simpson − trapezoid| of the mean curve and added in quadrature.
    """
    if n_betas < 3 or n_chains < 2 or steps_per_beta < 1:
        raise ValueError(
            f"ti_log_partition needs n_betas ≥ 3, n_chains ≥ 2, steps_per_beta ≥ 1; "
            f"got {n_betas}, {n_chains}, {steps_per_beta}"
        )
    path = _Path(rbm, base_visible_bias, data)
    betas = np.linspace(0.0, 1.0, n_betas)
    gen = torch.Generator(device=path.W.device).manual_seed(seed)
    v = path.base_sample(n_chains, gen)
    burn = steps_per_beta // 2
    g = torch.zeros(n_chains, n_betas, dtype=torch.float64, device=path.W.device)
    delta_b = path.b - path.b_a
    for k, beta in enumerate(betas.tolist()):
        for t in range(steps_per_beta):
            a = path.field(v)
            if t >= burn:
                g[:, k] += v @ delta_b + (a * torch.sigmoid(beta * a)).sum(-1)
            v = path.gibbs_step(a, beta, gen)
    g = (g / (steps_per_beta - burn)).cpu().numpy()
    per_chain = simpson(g, x=betas, axis=1)
    mean_curve = g.mean(0)
    quadrature_err = abs(simpson(mean_curve, x=betas) - trapezoid(mean_curve, x=betas))
    stat_err = per_chain.std(ddof=1) / math.sqrt(n_chains)
    return path.log_z_base + float(per_chain.mean()), float(math.hypot(stat_err, quadrature_err))


@torch.no_grad()
def log_likelihood(rbm: RBM, data: torch.Tensor, log_z: float) -> float:
    """Average log-likelihood per sample, (1/n) Σ_n log p(v_n) = −(1/n) Σ_n F(v_n) − log Z (float64)."""
    m = _double(rbm)
    if data.dim() != 2 or data.shape[-1] != m.n_visible:
        raise ValueError(f"data must be (n_samples, {m.n_visible}) visible vectors, got {tuple(data.shape)}")
    return float(-m.free_energy(data.to(m.W.device, torch.float64)).mean()) - float(log_z)
