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
