"""Model families: adapters from typed config to a model, its update and its observables.

One package per family (`rbm`, `sgld`, `ising_mc`, `hopfield`, `ebm`), each a `config.py` of schemas
beside a `family.py` adapter; `base` holds the contract they implement and the schemas they share,
and `registry` finds them. This face only re-exports the registry.
"""

from workers.families.registry import FAMILIES, family_checks, family_path, family_schemas, load_family, load_population

__all__ = ["FAMILIES", "family_checks", "family_path", "family_schemas", "load_family", "load_population"]
