"""Full-batch gradient descent on MSE, its sharpness tracked: the catapult and the edge of stability.

`config` holds its schemas, `family` its adapter to the training loop (`FAMILY`).
"""
