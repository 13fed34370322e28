"""The contract between a model family and the one training loop.

A family supplies only its update and its observables (NetKet's AbstractDriver split).
The loop in `workers.loop` owns stepping, logging, divergence checks and checkpoints.

A family is a class constructed once per trial:

    family = MyFamily(spec, device)       # builds model, data, optimiser from typed config
    family.step(step) -> {"train/loss": …}   # one update; flat dict of floats
    family.observe(step) -> {"obs/…": …}     # heavier observables, every train.observe_every
    family.state_dict() / load_state_dict()  # the whole state: params, optimiser, chains, RNG
    family.figures(history) -> {"name.png": Figure}   # extra plots (optional)

Metric names are namespaced: `train/…` (per-step learning signals), `obs/…` (order
parameters and observables), `chain/…` (sampler diagnostics). `sys/…` is the loop's.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch
    from matplotlib.figure import Figure

    from workers.trial import TrialSpec


class Family(Protocol):
    def __init__(self, spec: TrialSpec, device: torch.device) -> None: ...

    def step(self, step: int) -> dict[str, float]: ...

    def observe(self, step: int) -> dict[str, float]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def figures(self, history: dict[str, list[tuple[int, float]]]) -> dict[str, Figure]: ...


FAMILIES: dict[str, str] = {
    "rbm": "workers.families.rbm:RBMFamily",
    "sgld": "workers.families.sgld:SGLDFamily",
    "ising_mc": "workers.families.ising_mc:IsingMCFamily",
    "hopfield": "workers.families.hopfield:HopfieldFamily",
    "ebm": "workers.families.ebm:EBMFamily",
}
"""Registered families: name -> import path. `model.family` may also be an import path."""


def family_path(name: str) -> str:
    """The import path of a family given its registered name or its own `pkg.mod:Class` path."""
    if name in FAMILIES:
        return FAMILIES[name]
    if ":" in name:
        return name
    raise KeyError(name)


def load_family(name: str) -> type[Family]:
    """Import and return the family class for `model.family`."""
    module, _, attr = family_path(name).partition(":")
    return getattr(importlib.import_module(module), attr)
