"""Kadanoff block spins of the 2D Ising model as a trial: the measured renormalization-group flow.

`config` holds its schemas and checks, `family` its adapter to the training loop (`FAMILY`).
"""
