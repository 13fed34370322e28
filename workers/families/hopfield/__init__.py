"""Hopfield networks with Hebbian storage, retrieval under Glauber dynamics.

`config` holds its schemas, `family` its adapter to the training loop (`FAMILY`).
"""
