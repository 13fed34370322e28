"""The families registry: every package under `workers/families/` is a model family.

A family package `workers/families/<name>/` holds two modules:

- `config.py`: its schema dataclasses and `SCHEMAS`, the `schema/<group>/<name>` entries it adds to
  Hydra's ConfigStore, and `CHECKS`, what the driver checks of its trials (`base.FamilyChecks`).
  Torch-free, so composing and checking a sweep stays fast.
- `family.py`: its adapter to the one training loop, a class implementing `workers.families.base.Family`,
  named by the module-level `FAMILY`.
- `population.py`, for a family that packs: `POPULATION`, the class that trains a pack of its trials as
  one batched model (`workers.families.base.Population`).

The registry finds them by looking at the folder and imports them by name when asked: nothing here
imports a family statically, so the trial machinery depends on the contract in `base`, never on a family.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workers.families.base import Family, FamilyChecks, Population

_HERE = Path(__file__).resolve().parent

FAMILIES: dict[str, str] = {
    p.name: f"workers.families.{p.name}.family:FAMILY"
    for p in sorted(_HERE.iterdir())
    if (p / "family.py").is_file() and (p / "config.py").is_file()
}
"""Registered families: name -> import path. `model.family` may also be an import path `pkg.mod:Class`."""


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


def load_population(name: str) -> type[Population] | None:
    """The class that trains packs of a family: `POPULATION` of a registered family's `population.py`, or
    of the module of a family given by import path; None if it has none."""
    if name in FAMILIES:
        if not (_HERE / name / "population.py").is_file():
            return None
        return importlib.import_module(f"workers.families.{name}.population").POPULATION
    module, _, _ = family_path(name).partition(":")
    return getattr(importlib.import_module(module), "POPULATION", None)


def family_checks(name: str) -> FamilyChecks:
    """What the driver checks of a `model.family` trial: a registered family's `CHECKS` (its config
    module, torch-free), or the class attributes of a family given by import path."""
    from workers.families.base import FamilyChecks

    if name in FAMILIES:
        return getattr(importlib.import_module(f"workers.families.{name}.config"), "CHECKS", FamilyChecks())
    family = load_family(name)
    return FamilyChecks(
        data_kinds=getattr(family, "data_kinds", None),
        needs_sampler=getattr(family, "needs_sampler", False),
        memory_bytes=getattr(family, "memory_bytes", None),
        packable=tuple(getattr(family, "packable", ())),
        pack_note=getattr(family, "pack_note", ""),
        pack_refusal=getattr(family, "pack_refusal", None),
    )


def family_schemas() -> dict[str, dict[str, type]]:
    """Every registered family's `SCHEMAS`, merged by group; a name two families claim is an error."""
    merged: dict[str, dict[str, type]] = {}
    for name in FAMILIES:
        for group, entries in importlib.import_module(f"workers.families.{name}.config").SCHEMAS.items():
            for key, node in entries.items():
                if merged.setdefault(group, {}).setdefault(key, node) is not node:
                    raise ValueError(f"schema/{group}/{key} is declared by two families (again by {name!r})")
    return merged
