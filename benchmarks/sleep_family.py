"""A model family that only sleeps: a trial whose work takes a known time, for measuring orchestration.

Each step sleeps `SLEEP_PER_STEP_S` (0.05 s), so `train.steps` sets a trial's length: 10 steps are
0.5 s, 40 steps 2 s. Everything a trial costs beyond that is the driver's and the worker's: Ray, the
MLflow runs, the logging of every step, the config and plot artifacts, the checkpoint. `observe` is
trivial and should be made rare (`train.observe_every` larger than `train.steps`: the loop still
observes at the first and last step), so that nothing of the family's own adds to a trial.

The family logs its own clock: `bench/sleep_start` (Unix time before the first step's sleep) at the
first step and `bench/sleep_end` (after the last step's sleep) at the last, and `bench/pid`, the worker
process it ran in, so that a benchmark reads from the MLflow store when and where each trial's work ran
(`benchmarks/orchestration.py`).

It is given by import path, with this folder on PYTHONPATH; any config whose data and train sections
validate will do, the plain defaults are enough (the family reads nothing of them but `train.steps`):

    PYTHONPATH=$PWD/benchmarks phasesweep -m model.family=sleep_family:SleepFamily \\
        train.steps=40 train.observe_every=1000000 seed='range(32)'

Importing it costs nothing (no torch): the driver imports a family given by path to check it.
"""

from __future__ import annotations

import os
import time
from typing import Any

SLEEP_PER_STEP_S = 0.05
"""Seconds each step sleeps."""


class SleepFamily:
    headline_metric = "train/loss"

    def __init__(self, spec, device) -> None:
        self.steps = int(spec.train.steps)
        self.done = 0

    def step(self, step: int) -> dict[str, float]:
        metrics = {"train/loss": 0.0}
        if step == 0:
            metrics["bench/sleep_start"] = time.time()
            metrics["bench/pid"] = float(os.getpid())
        time.sleep(SLEEP_PER_STEP_S)
        self.done = step + 1
        if step == self.steps - 1:
            metrics["bench/sleep_end"] = time.time()
        return metrics

    def observe(self, step: int) -> dict[str, float]:
        return {"obs/steps_done": float(self.done)}

    def state_dict(self) -> dict[str, Any]:
        return {"done": self.done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.done = int(state["done"])

    def figures(self, history) -> dict[str, Any]:
        return {}


FAMILY = SleepFamily
