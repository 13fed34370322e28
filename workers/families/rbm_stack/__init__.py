"""Mehta & Schwab's stacked RBMs (arXiv:1410.3831) as a trial: layers trained one after another with L1 on
near-critical Ising configurations, their receptive fields' locality measured against a shuffled baseline.

`config` holds its schemas and checks, `family` its adapter to the training loop (`FAMILY`).
"""
