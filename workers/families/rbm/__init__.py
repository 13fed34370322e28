"""RBMs trained by CD-k / PCD-k on Ising configurations or clustered binary data.

`config` holds its schemas, `family` its adapter to the training loop (`FAMILY`).
"""
