"""Block Gibbs sampling of an RBM, kept apart from the model it samples (NetKet's Sampler/Rule split).

Every sampler has the form ``sample(model, state, *, steps, beta, generator) -> (samples, state)``,
so a temperature sweep changes β without rebuilding a model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from models.rbm.model import RBM


def bernoulli(p: torch.Tensor, generator: torch.Generator | Sequence[torch.Generator] | None) -> torch.Tensor:
    """Independent Bernoulli draws with probabilities `p` (same shape).

    A sequence of generators draws slice p[j] from generator j, so each model of a batch (a population)
    gets the numbers it would get alone."""
    if isinstance(generator, Sequence):
        noise = torch.empty_like(p)
        for j, gen in enumerate(generator):
            torch.rand(p.shape[1:], generator=gen, device=p.device, out=noise[j])
        return noise.lt_(p)  # in place: 1.0 where u < p
    return (torch.rand(p.shape, generator=generator, device=p.device) < p).to(p.dtype)


@torch.no_grad()
def gibbs(
    rbm: RBM,
    v: torch.Tensor,
    *,
    steps: int,
    beta: float = 1.0,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    on_step: Callable[[torch.Tensor], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Block Gibbs sampling at inverse temperature β: h ~ p(h|v), then v ~ p(v|h), `steps` times.

    Returns the final visible samples and the hidden probabilities p(h|v) of those samples,
    the usual low-variance statistic for the negative phase of CD/PCD. `on_step(v)`, if given,
    sees the visible state after every step (e.g. to time the chains' autocorrelation).
    """
    for _ in range(steps):
        h = bernoulli(rbm.hidden_probs(v, beta), generator)
        v = bernoulli(rbm.visible_probs(h, beta), generator)
        if on_step is not None:
            on_step(v)
    return v, rbm.hidden_probs(v, beta)


def drift_z(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Paired z-scores of a monitor's change along independent chains: before/after (..., chains).

    For chains already in equilibrium the start and end of a stretch have the same distribution, so
    each chain's change d = after − before has mean 0, and z = mean(d) / (sd(d)/√chains) is
    approximately standard normal (the chains are independent; the central limit theorem over them).
    A drifting ensemble gives |z| ≫ 1. Identical before and after (sd 0) gives 0."""
    d = (after - before).double()
    sd = d.std(-1)
    z = d.mean(-1) / (sd / d.shape[-1] ** 0.5)
    return torch.where(sd > 0, z, torch.zeros_like(z))


@torch.no_grad()
def gibbs_until_stationary(
    rbm: RBM,
    v: torch.Tensor,
    *,
    block: int,
    max_steps: int,
    generator: Sequence[torch.Generator],
    direction: torch.Tensor | None = None,
    z_max: float = 3.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor | None]]:
    """Continue warm-started chains of P models `block` Gibbs steps at a time, each model until one
    block shows no drift, or until it has done `max_steps`.

    `rbm` holds W (P, n_v, n_h) and `v` is (P, chains, n_v), model j's chains drawing from
    `generator[j]` only, so a model's result does not depend on the others. The drift check over a
    block is `drift_z` of two monitors per chain: the free energy F(v), and, given `direction`
    (P, n_v), the projection v·u. A block passes when both |z| ≤ `z_max`. This detects chains still
    relaxing from their start (e.g. samples of the model before its last updates); like any
    finite-sample diagnostic it cannot prove convergence, so the steps used and the last z are
    returned for logging.

    Returns the chains, the steps each model ran (P,), its last block's max |z| (P,), and per model
    the (chains, steps) trace of v·u along its last block (None without a direction).
    """
    P = v.shape[0]
    v = v.clone()
    steps = torch.zeros(P, dtype=torch.long)
    z = torch.zeros(P, dtype=torch.float64)
    traces: list[torch.Tensor | None] = [None] * P
    todo = list(range(P))
    while todo:
        idx = torch.tensor(todo, device=v.device)
        sub = rbm if len(todo) == P else RBM.of(rbm.W[idx], rbm.visible_bias[idx], rbm.hidden_bias[idx])
        u = direction[idx].unsqueeze(-1) if direction is not None else None
        start = v[idx]
        trace: list[torch.Tensor] = []
        record = (lambda s, u=u, trace=trace: trace.append((s @ u)[..., 0])) if u is not None else None
        end, _ = gibbs(sub, start, steps=block, generator=[generator[j] for j in todo], on_step=record)
        v[idx] = end
        monitors = [(sub.free_energy(start), sub.free_energy(end))]
        if u is not None:
            monitors.append(((start @ u)[..., 0], (end @ u)[..., 0]))
        worst = torch.stack([drift_z(a, b).abs() for a, b in monitors]).amax(0).cpu()
        for n, j in enumerate(todo):
            steps[j] += block
            z[j] = worst[n]
            traces[j] = torch.stack([t[n] for t in trace], -1) if trace else None
        todo = [j for n, j in enumerate(todo) if worst[n] > z_max and steps[j] + block <= max_steps]
    return v, steps, z, traces
