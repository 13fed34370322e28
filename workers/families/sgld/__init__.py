"""SGLD-sampled Bayesian networks with a posterior temperature T.

`config` holds its schemas, `family` its adapter to the training loop (`FAMILY`).
"""
