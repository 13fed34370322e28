"""Entry points: the Hydra task `phasesweep`. The only layer that sees a DictConfig."""
