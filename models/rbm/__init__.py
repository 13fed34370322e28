"""Restricted Boltzmann machines: the model, its partition function and likelihood, its training cascade.

This package face only re-exports. Its modules import downward from `model`:

- `model`: `RBM` (parameters, energies, conditionals) and the spin ↔ visible-unit maps;
- `likelihood`: log Z exactly (≤ 20 units on one side), by AIS and by thermodynamic integration;
- `cascade`: the singular-mode observables of the training cascade (Bachtis et al. 2024).

Gibbs sampling of an RBM lives in `models.mcmc.gibbs`.
"""

from models.rbm.model import RBM, spins_to_visible, visible_to_spins

__all__ = ["RBM", "spins_to_visible", "visible_to_spins"]
