"""A pack of deep-EBM trials as one batched model: the energy MLPs' parameters stacked along a leading
axis P (`models.ebm.stack_parameters`), every energy and its gradients evaluated for all members at once
(`models.ebm.population_energy`), and the Langevin chains of all members advanced together
(`models.ebm.population_langevin`).

Members may differ in the keys of `config.CHECKS`: `seed`, the optimiser's `train.lr` and `train.beta1`,
`train.cosine_decay`, `train.grad_clip`, the regulariser's `train.alpha`, `train.divergence_patience`,
the sampler's `sampler.temperature`, `sampler.step_size`, `sampler.clip` and `sampler.reinit_prob`, and
the MMD's `data.mmd_bandwidth`. None of them changes a tensor's shape. Everything else (width, depth, data
kind and size, batch size, chains, buffer size, Langevin steps, training steps) is the pack's.

Each member is held by an `EBMFamily`, the lone family itself: its model, Adam optimiser, cosine schedule,
replay buffer, divergence flag and `torch.Generator` seeded by its trial seed. Its parameters stay in its
own `EnergyMLP`; a step stacks those of the members taking part (a copy of small weight matrices, and
differentiable, so that the backward pass leaves each member's gradient in its own `.grad`). A step draws
each member's minibatch and buffer starts with `EBMFamily.draw_batch` and runs the Langevin chains of all
members as one (P, B, d) array, with ε, T and the clip box as per-member (P, 1, 1) tensors and each
member's noise from its own generator. One forward and one backward pass of the summed contrastive losses
(`models.ebm.contrastive_terms`, Du & Mordatch 2019) then give each member its own gradient, and
`EBMFamily.apply_gradients` clips it and takes the member's own Adam step (one `torch.optim.Adam` per
member, with its own learning rate, β₁ and cosine schedule). Observing runs the fresh and the long-run
chains of all members together and scores each with `EBMFamily.scores`.

So each member draws the same random numbers in the same order as its unpacked twin, and on a CPU
computes the same float32 numbers: a hidden layer is a batched product that runs per member the lone
layer's own matrix product, and the output layer, a matrix–vector product, is evaluated member by member
(see `population_energy`). A member is bit-identical to its unpacked twin, whichever members share its
pack: every logged metric, its parameters and its checkpoint. (On a GPU the batched products may pick other
kernels than the lone ones; a member then equals its twin to float rounding.) A member's state is the lone
family's `state_dict`, so a trial checkpointed in a pack resumes alone and the other way round, and its
figures are the lone family's.
"""

from __future__ import annotations

from typing import Any

import torch

from models.ebm import contrastive_terms, population_energy, population_langevin, stack_parameters
from workers.families.ebm.family import EBMFamily

SHARED = (
    "model.width",
    "model.depth",
    "the data's dimension",
    "train.batch_size",
    "train.eval_chains",
    "sampler.steps",
    "sampler.eval_steps",
    "sampler.long_run_factor",
)
"""What every member of a pack shares: the shapes of the batched arrays and the lengths of the chains."""


def _shape(spec, member: EBMFamily) -> tuple:
    """A member's values of `SHARED`."""
    s = member.sampler
    model, train = spec.model, spec.train
    return (
        model.width,
        model.depth,
        member.dim,
        train.batch_size,
        train.eval_chains,
        s.steps,
        s.eval_steps,
        s.long_run_factor,
    )


class EBMPopulation:
    headline_metric = EBMFamily.headline_metric

    def __init__(self, specs, device: torch.device) -> None:
        self.size = len(specs)
        self.members = [EBMFamily(spec, device) for spec in specs]
        lead = self.members[0]
        for spec, member in zip(specs, self.members, strict=True):
            if _shape(spec, member) != _shape(specs[0], lead):
                shared = ", ".join(SHARED)
                raise ValueError(f"a pack of ebm trials shares {shared}; seed={spec.seed} differs from the first")
        self.sampler = lead.sampler
        """The pack's sampler: its step counts are every member's."""
        self.template = lead.model
        """The energy network's layer structure (`population_energy`); every member shares it."""

    def _langevin(self, members: list[int], x: torch.Tensor, steps: int) -> torch.Tensor:
        """Each member's `EBMFamily._langevin`, for all of `members` at once; x of shape (P, B, d)."""
        fams = [self.members[i] for i in members]
        with torch.no_grad():
            params = stack_parameters([f.model for f in fams])
        return population_langevin(
            lambda y: population_energy(self.template, params, y),
            x,
            steps=steps,
            step_size=[f.sampler.step_size for f in fams],
            temperature=[f.sampler.temperature for f in fams],
            generators=[f.generator for f in fams],
            clip_x=[f.box for f in fams],
        )

    def step(self, step: int, members: list[int]) -> list[dict[str, float]]:
        fams = [self.members[i] for i in members]
        x_data, x0, slots = zip(*(f.draw_batch() for f in fams), strict=True)
        x_samples = self._langevin(members, torch.stack(x0), self.sampler.steps)
        for f, s, x in zip(fams, slots, x_samples, strict=True):
            f.buffer.update(s, x)
        params = stack_parameters([f.model for f in fams])
        e_data = population_energy(self.template, params, torch.stack(x_data))
        e_samples = population_energy(self.template, params, x_samples)
        losses = [contrastive_terms(e_data[j], e_samples[j], alpha=f.cfg.alpha) for j, f in enumerate(fams)]
        for f in fams:
            f.optimizer.zero_grad(set_to_none=True)
        torch.stack(losses).sum().backward()  # members share no parameter: each gets its own loss's gradient
        return [f.apply_gradients(losses[j], e_data[j], e_samples[j]) for j, f in enumerate(fams)]

    def observe(self, step: int, members: list[int]) -> list[dict[str, float]]:
        fams = [self.members[i] for i in members]
        starts = torch.stack([f.fresh_starts() for f in fams])
        short = self._langevin(members, starts, self.sampler.eval_steps)
        long = self._langevin(members, short, self.sampler.eval_steps * (self.sampler.long_run_factor - 1))
        return [f.scores(short[j], long[j]) for j, f in enumerate(fams)]

    def member_state(self, i: int) -> dict[str, Any]:
        """Member i's state in `EBMFamily.state_dict`'s format."""
        return self.members[i].state_dict()

    def load_member_state(self, i: int, state: dict[str, Any]) -> None:
        self.members[i].load_state_dict(state)

    def figures(self, i: int, history) -> dict[str, Any]:
        """Member i's figures, drawn by the lone family from member i's own model and generator."""
        return self.members[i].figures(history)


POPULATION = EBMPopulation
