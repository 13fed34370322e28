"""Random-features regression, fitted exactly or by gradient descent: double descent along the width.

`config` holds its schemas, `family` its adapter to the training loop (`FAMILY`).
"""
