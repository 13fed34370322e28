"""Deep energy-based models trained with short-run Langevin samples.

`config` holds its schemas, `family` its adapter to the training loop (`FAMILY`).
"""
