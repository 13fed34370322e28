"""Physics and learners: Ising model, RBMs, samplers.

Pure torch and numpy. Nothing in this package imports Hydra, Ray or MLflow, so every
model and sampler can be used directly from a notebook.
"""
