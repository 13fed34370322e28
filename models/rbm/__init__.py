"""Restricted Boltzmann machines: the model, its partition function and likelihood, its training cascade.

This package face only re-exports. Its modules import downward from `model`:

- `model`: `RBM` (parameters, energies, conditionals) and the spin ↔ visible-unit maps;
- `likelihood`: log Z exactly (≤ 20 units on one side), by AIS and by thermodynamic integration;
- `cascade`: the singular-mode observables of the training cascade (Bachtis et al. 2024);
- `flow`: the RBM flow of Iso, Shiba & Yokoo (2018), its energy-matching thermometer and training helper.
- `stack`: Mehta & Schwab's stacked RBMs (2014): greedy L1 training, receptive-field locality, figures.

Gibbs sampling of an RBM lives in `models.mcmc.gibbs`.
"""

from models.rbm.flow import EnergyThermometer, ising_training_set, lattice_energy, rbm_flow, train_rbm_on_temperatures
from models.rbm.model import RBM, spins_to_visible, visible_to_spins

__all__ = [
    "RBM",
    "EnergyThermometer",
    "ising_training_set",
    "lattice_energy",
    "rbm_flow",
    "spins_to_visible",
    "train_rbm_on_temperatures",
    "visible_to_spins",
]
