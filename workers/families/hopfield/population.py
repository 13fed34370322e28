"""A pack of Hopfield trials as one batched system: patterns of shape (P_pack, networks, P, N) and states
(P_pack, networks, 1, N), one Glauber sweep for all (`models.hopfield.glauber_population`).

Members may differ in `seed`, `train.temperature` and `data.flip_fraction` (the keys in `config.CHECKS`):
none of them changes a tensor's shape. Everything else (N = `model.width`, P = round(αN) through
`data.alpha`, `train.networks`, steps) is the pack's.

Each member draws every random number from its own `torch.Generator`, seeded by its trial seed, in the
order `HopfieldFamily` draws them (its patterns, the ranks of its flipped cue bits, then per sweep its
site order and, at T > 0, its uniforms). Its sites are visited in its own order, and every Glauber
decision compares integer-valued fields N h_i, exact in float32 whatever order they are summed in, with
thresholds computed by the lone expression on the member's own uniforms. So a member's states are
bit-identical to its unpacked twin's, whichever members share its pack. Its logged metrics are too: the
overlaps and energies are computed by the same elementwise operations, reduced over each member's
contiguous row of networks as the lone family reduces its own tensor, and the observables and figures
are the lone family's own functions (`retrieval_observables`, `overlaps_figure`) on the member's
overlaps. (The dynamics are exact integer arithmetic on any device; that the metrics' float means reduce
a row as the lone family reduces its whole tensor is checked on the CPU, `tests/test_packing_hopfield.py`;
a GPU's reduction may split rows differently and differ in the last bit.) A member's state is saved in
`HopfieldFamily`'s format, so a trial checkpointed in a pack resumes alone and the other way round.
"""

from __future__ import annotations

from typing import Any

import torch

from models import hopfield
from workers.families.hopfield.family import (
    networks_and_cues,
    overlaps_figure,
    pattern_count,
    retrieval_observables,
)


class HopfieldPopulation:
    headline_metric = "obs/overlap"

    def __init__(self, specs, device: torch.device) -> None:
        lead = specs[0]
        self.size = len(specs)
        self.N, self.P = lead.model.width, pattern_count(lead)
        shapes = {(s.model.width, pattern_count(s), s.train.networks) for s in specs}
        if len(shapes) > 1:
            got = ", ".join(f"(N={n}, P={p}, networks={k})" for n, p, k in sorted(shapes))
            raise ValueError(
                f"a pack of hopfield trials shares model.width, round(alpha*N) and train.networks; got {got}"
            )
        self.T = [float(s.train.temperature) for s in specs]
        self.gens = [torch.Generator(device=device).manual_seed(s.seed) for s in specs]
        built = [networks_and_cues(s, self.P, g, device) for s, g in zip(specs, self.gens, strict=True)]
        self.model = hopfield.Hopfield(torch.stack([patterns for patterns, _ in built]))
        """Every member's networks: patterns (P_pack, networks, P, N)."""
        self.state = torch.stack([cue for _, cue in built])
        """Every member's network states (P_pack, networks, 1, N)."""

    @property
    def target(self) -> torch.Tensor:
        """Pattern 0 of every network, the one to retrieve: (P_pack, networks, 1, N)."""
        return self.model.patterns[..., :1, :]

    def _overlaps(self) -> torch.Tensor:
        """Each member's overlap m = ξ⁰·s/N per network: (P_pack, networks)."""
        return hopfield.overlap(self.state, self.target).flatten(1)

    def step(self, step: int, members: list[int]) -> list[dict[str, float]]:
        gens, temps = [self.gens[i] for i in members], [self.T[i] for i in members]
        if len(members) == self.size:
            self.state = hopfield.glauber_population(
                self.model.patterns, self.state, sweeps=1, temperatures=temps, generators=gens
            )
        else:
            index = torch.tensor(members, device=self.state.device)
            self.state[index] = hopfield.glauber_population(
                self.model.patterns[index], self.state[index], sweeps=1, temperatures=temps, generators=gens
            )
        overlap = self._overlaps().mean(-1).tolist()
        energy = (self.model.energy(self.state).flatten(1).mean(-1) / self.N).tolist()
        return [{"obs/overlap": overlap[i], "train/energy_per_neuron": energy[i]} for i in members]

    def observe(self, step: int, members: list[int]) -> list[dict[str, float]]:
        m = self._overlaps()
        return [retrieval_observables(m[i]) for i in members]

    def member_state(self, i: int) -> dict[str, Any]:
        """Member i's state in `HopfieldFamily.state_dict`'s format."""
        return {
            "model": {"patterns": self.model.patterns[i].cpu().clone()},
            "state": self.state[i].cpu().clone(),
            "generator": self.gens[i].get_state(),
        }

    def load_member_state(self, i: int, state: dict[str, Any]) -> None:
        patterns = state["model"]["patterns"]
        if tuple(patterns.shape) != tuple(self.model.patterns.shape[1:]):
            want = tuple(self.model.patterns.shape[1:])
            raise ValueError(f"a checkpoint of patterns {tuple(patterns.shape)} cannot join a pack of {want}")
        self.model.patterns[i] = patterns.to(self.model.patterns.device, torch.float32)
        self.state[i] = state["state"].to(self.state.device)
        self.gens[i].set_state(state["generator"])

    def figures(self, i: int, history) -> dict[str, Any]:
        """Member i's figures, drawn as its unpacked twin draws them."""
        figure = overlaps_figure(self._overlaps()[i], self.N, self.P / self.N, self.T[i])
        return {"overlaps.png": figure}


POPULATION = HopfieldPopulation
