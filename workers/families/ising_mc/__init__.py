"""Monte Carlo of the 2D Ising model as a trial: the ground truth for the analysis.

`config` holds its schemas, `family` its adapter to the training loop (`FAMILY`).
"""
