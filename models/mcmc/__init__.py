"""Samplers, kept apart from the models they sample (NetKet's Sampler/Rule split).

This package face only re-exports:

- `gibbs`: block Gibbs sampling of an RBM, ``gibbs(rbm, v, *, steps, beta) -> (v, h)``, and
  `gibbs_until_stationary`, which continues warm-started chains until a drift check (`drift_z`) passes;
- `langevin`: Langevin dynamics on an energy, and the replay buffer of short-run EBM training;
- `sgld`: stochastic-gradient Langevin dynamics on a posterior at temperature T, its step schedules
  and posterior collection.

Temperature is an argument everywhere, so a temperature sweep never rebuilds a model.
"""

from models.mcmc.gibbs import bernoulli, drift_z, gibbs, gibbs_until_stationary
from models.mcmc.langevin import ReplayBuffer, langevin
from models.mcmc.sgld import SGLD, ConstantStep, CyclicalCosine, PolynomialDecay, PosteriorCollector, apply_schedule

__all__ = [
    "SGLD",
    "ConstantStep",
    "CyclicalCosine",
    "PolynomialDecay",
    "PosteriorCollector",
    "ReplayBuffer",
    "apply_schedule",
    "bernoulli",
    "drift_z",
    "gibbs",
    "gibbs_until_stationary",
    "langevin",
]
