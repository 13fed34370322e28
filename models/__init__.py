"""Physics and learners: the Ising model, RBMs, EBMs, Hopfield networks, Bayesian nets, their samplers,
and the statistics that locate transitions.

One subpackage (or module) per concern:

- `models.ising`: the 2D Ising model: samplers, exact results, estimators, dataset cache;
- `models.rbm`: restricted Boltzmann machines, their likelihood and training cascade;
- `models.mcmc`: samplers kept apart from the models: Gibbs, Langevin, SGLD;
- `models.transitions`: the statistics of a sweep: transition estimators with bootstrap CIs, and
  change points along one trial;
- `models.ebm`, `models.hopfield`, `models.bayes`: the other learners; `models.datasets`: small data sets.

Pure torch, numpy and scipy. Nothing in this package imports Hydra, Ray or MLflow, so every model and
sampler can be used directly from a notebook.
"""
