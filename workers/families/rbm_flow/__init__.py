"""The RBM flow of Iso, Shiba & Yokoo (2018) as a trial: one RBM trained across temperatures, iterated from MC
configurations at several T₀, the temperature of each flow step read by energy matching.

`config` holds its schemas and checks, `family` its adapter to the training loop (`FAMILY`).
"""
