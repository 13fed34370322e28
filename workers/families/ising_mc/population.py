"""A pack of Ising Monte Carlo trials as one batched system: spins of shape (P, chains, L, L), one
checkerboard Metropolis update for all (`models.ising.metropolis_sweeps_population`).

Members may differ in `data.temperature` and `seed` (the keys in `config.CHECKS`); everything else (L,
chains, steps, thin, burn-in) is the pack's. Only Metropolis on an even L packs: a Wolff cluster grows
per chain, and an odd L needs the 3-colouring's masked sweeps; the driver runs those one per task
(`config.pack_refusal`).

Each member draws every uniform from its own `torch.Generator`, seeded by its trial seed, in the order
`IsingMCFamily` draws them (the initial signs, then per half-sweep two uniforms per site of that colour),
and every accept/reject is a comparison of the same float32 numbers. So a member is bit-identical to its
unpacked twin, whichever members share its pack: its chains, every logged metric and its checkpoint.
A member's state is saved in `IsingMCFamily`'s format, so a trial checkpointed in a pack resumes alone
and the other way round.
"""

from __future__ import annotations

from typing import Any

import torch

from models import ising
from workers.families.ising_mc.family import chain_metrics, configurations_figure, estimates


class IsingMCPopulation:
    headline_metric = "obs/binder"

    def __init__(self, specs, device: torch.device) -> None:
        lead = specs[0]
        self.size = len(specs)
        self.cfg = lead.train
        self.L, self.chains = lead.data.L, self.cfg.chains
        if lead.data.kind != "ising":
            raise ValueError(f"the ising_mc family samples data.kind=ising, got {lead.data.kind!r}")
        algorithm = ising.Algorithm(lead.data.algorithm)
        if algorithm is not ising.Algorithm.metropolis or self.L % 2:
            got = f"{algorithm.value}, L={self.L}"
            raise ValueError(f"a pack of ising_mc trials runs Metropolis on an even L, got {got}")
        self.T = [float(s.data.temperature) for s in specs]
        self.gens = [torch.Generator(device=device).manual_seed(s.seed) for s in specs]
        self.spins = torch.stack([ising.ordered_start(self.chains, self.L, g, device) for g in self.gens])
        ising.metropolis_sweeps_population(self.spins, self.T, lead.data.burn_in, self.gens)
        self.records = torch.empty((self.size, self.chains, self.cfg.steps, self.L, self.L), dtype=torch.int8)
        self.n_recorded = [0] * self.size

    def step(self, step: int, members: list[int]) -> list[dict[str, float]]:
        if step:
            self._advance(members, self.cfg.thin)
        index = torch.tensor(members)
        self.records[index, :, step] = self.spins[index.to(self.spins.device)].cpu()
        out = []
        for i in members:
            self.n_recorded[i] = step + 1
            out.append(chain_metrics(self.spins[i]))
        return out

    def _advance(self, members: list[int], sweeps: int) -> None:
        gens, temps = [self.gens[i] for i in members], [self.T[i] for i in members]
        if len(members) == self.size:
            ising.metropolis_sweeps_population(self.spins, temps, sweeps, gens)
            return
        index = torch.tensor(members, device=self.spins.device)
        self.spins[index] = ising.metropolis_sweeps_population(self.spins[index], temps, sweeps, gens)

    def observe(self, step: int, members: list[int]) -> list[dict[str, float]]:
        out = []
        for i in members:
            n = self.n_recorded[i]
            configs = self.records[i, :, :n].reshape(-1, self.L, self.L)
            out.append(estimates(configs, self.T[i], self.chains) if n >= 2 else {})
        return out

    def member_state(self, i: int) -> dict[str, Any]:
        return {
            "spins": self.spins[i].cpu().clone(),
            "records": self.records[i].clone(),
            "n_recorded": self.n_recorded[i],
            "updates_per_sweep": 1,
            "generator": self.gens[i].get_state(),
        }

    def load_member_state(self, i: int, state: dict[str, Any]) -> None:
        if int(state["updates_per_sweep"]) != 1:
            raise ValueError("this checkpoint is of a Wolff chain; a pack runs Metropolis")
        self.spins[i] = state["spins"].to(self.spins.device)
        self.records[i] = state["records"]
        self.n_recorded[i] = int(state["n_recorded"])
        self.gens[i].set_state(state["generator"])

    def figures(self, i: int, history) -> dict[str, Any]:
        figure = configurations_figure(self.spins[i], self.L, self.T[i], ising.Algorithm.metropolis)
        return {"configurations.png": figure}


POPULATION = IsingMCPopulation
