"""The keys of an adaptive sweep (`Settings`, checked by `parse_settings`) and its refined axis (`Axis`):
where its values may lie, how finely, and where the next round's go. Pure numpy and scipy, no Hydra,
Ray or MLflow, so it is tested on its own (`tests/test_adaptive.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.validate import ConfigError

ESTIMATORS = ("peak", "steepest", "onset", "binder")
"""The transition estimators, by the names the analysis config uses (`pipelines.analyze.locate`)."""


@dataclass(frozen=True)
class Settings:
    """`hydra/sweeper=adaptive`'s config, checked (`parse_settings`); fields as in `AdaptiveSweeperConf`."""

    axis: str
    low: float
    high: float
    method: str
    observable: str | None
    target: float
    initial: int
    batch: int | None
    budget: int
    max_rounds: int | None
    log: bool
    resolution: float | None


def parse_settings(raw: dict[str, Any]) -> Settings:
    """Check the sweeper's config; every error is one line naming the key, the value and what is allowed."""
    key = "hydra.sweeper."
    axis = str(raw.get("axis") or "")
    if not axis:
        raise ConfigError(f"{key}axis is not set: name the numeric key to refine, e.g. {key}axis=data.temperature")
    bounds = list(raw.get("bounds") or [])
    if len(bounds) != 2:
        raise ConfigError(f"{key}bounds={bounds}: give [low,high] of {axis}, e.g. {key}bounds=[1.8,3.0]")
    low, high = (float(b) for b in bounds)
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ConfigError(f"{key}bounds=[{low:g},{high:g}]: low must be below high (reversed?)")
    log = bool(raw.get("log"))
    if log and low <= 0:
        raise ConfigError(f"{key}bounds=[{low:g},{high:g}]: {key}log=true needs low > 0")
    estimator = str(raw.get("estimator") or "")
    method, _, observable = estimator.partition(":")
    if method not in ESTIMATORS or (method == "binder") != (not observable):
        raise ConfigError(
            f"{key}estimator={estimator or '(unset)'}: use binder, peak:<observable>, steepest:<observable> or "
            "onset:<observable>, e.g. peak:obs/susceptibility"
        )
    target = float(raw.get("target", 0.01))
    if not target > 0:
        raise ConfigError(f"{key}target={target:g}: the CI half-width to reach must be > 0, in units of {axis}")
    initial = int(raw.get("initial", 5))
    if initial < 3:
        raise ConfigError(f"{key}initial={initial}: the first round needs >= 3 values of {axis} to locate anything")
    budget = int(raw.get("budget", 200))
    batch = raw.get("batch")
    if batch is not None and int(batch) < 1:
        raise ConfigError(f"{key}batch={batch}: trials per round must be >= 1, or null for Ray's free slots")
    max_rounds = raw.get("max_rounds")
    if max_rounds is not None and int(max_rounds) < 1:
        raise ConfigError(f"{key}max_rounds={max_rounds}: must be >= 1, or null for no limit")
    resolution = raw.get("resolution")
    if resolution is not None and not float(resolution) > 0:
        raise ConfigError(f"{key}resolution={resolution}: must be > 0, or null for target / 5")
    return Settings(
        axis=axis,
        low=low,
        high=high,
        method=method,
        observable=observable or None,
        target=target,
        initial=initial,
        batch=int(batch) if batch is not None else None,
        budget=budget,
        max_rounds=int(max_rounds) if max_rounds is not None else None,
        log=log,
        resolution=float(resolution) if resolution is not None else None,
    )


@dataclass(frozen=True)
class Axis:
    """The refined axis's values: where they may lie, how finely, and where the next ones go."""

    low: float
    high: float
    step: float
    """Smallest step between two values (in ln x, a relative step of 1%)."""
    log: bool = False
    integer: bool = False

    def text(self, value: float) -> str:
        """A value as an override, written as its MLflow param will be (Python's repr)."""
        if self.integer:
            return str(int(round(float(value))))  # noqa: RUF046
        return repr(float(f"{value:.4g}")) if self.log else repr(round(float(value), 10))

    def snap(self, value: float) -> float:
        """`value` inside the bounds, on the grid of `step` from `low` (4 significant digits in ln x)."""
        value = min(max(value, self.low), self.high)
        if self.log:
            return float(self.text(value))
        return float(self.text(self.low + round((value - self.low) / self.step) * self.step))

    def initial(self, n: int) -> list[float]:
        space = np.geomspace(self.low, self.high, n) if self.log else np.linspace(self.low, self.high, n)
        return sorted({self.snap(v) for v in space})

    def propose(self, taken: list[float], estimate, m: int, target: float) -> list[float]:
        """`m` new values given those `taken` and the current `estimate` (a TransitionEstimate or None):
        quantiles of N(μ, σ²) with σ = max(CI half-width, target), in ln x on a log axis; without an
        estimate, the midpoint of the widest gap, m times over. Each moves to the nearest free step; fewer come back
        when the axis has no free step left."""
        to_u = (lambda v: np.log(v)) if self.log else (lambda v: np.asarray(v, dtype=float))
        from_u = (lambda u: float(np.exp(u))) if self.log else float
        if estimate is not None and math.isfinite(estimate.ci_high - estimate.ci_low):
            from scipy.stats import norm

            mu = to_u(estimate.location)
            if self.log:
                sigma = max(np.log(estimate.ci_high / estimate.ci_low) / 2, target / estimate.location)
            else:
                sigma = max((estimate.ci_high - estimate.ci_low) / 2, target)
            wanted = [from_u(mu + sigma * norm.ppf((j + 0.5) / m)) for j in range(m)]
            chosen: list[float] = []
            for w in wanted:
                v = self.free_near(w, set(taken) | set(chosen))
                if v is not None:
                    chosen.append(v)
            return sorted(chosen)
        chosen = []
        for _ in range(m):  # halve the widest gap, again and again
            u = np.sort(to_u(sorted(set(taken) | set(chosen))))
            widest = int(np.argmax(np.round(np.diff(u), 9)))  # the first of equal gaps
            v = self.free_near(from_u((u[widest] + u[widest + 1]) / 2), set(taken) | set(chosen))
            if v is None:
                break
            chosen.append(v)
        return sorted(chosen)

    def free_near(self, wanted: float, taken: set[float]) -> float | None:
        """The value nearest `wanted` on the grid of `step`, not in `taken` (None: every step is taken)."""
        base = self.snap(wanted)
        for k in range(100_000):
            for sign in (1, -1) if k else (1,):
                if self.log and not self.integer:
                    v = self.snap(base * (1 + self.step) ** (sign * k))
                else:
                    v = self.snap(base + sign * k * self.step)
                if v not in taken:
                    return v
            if (base + k * self.step > self.high and base - k * self.step < self.low) and not self.log:
                return None
            if self.log and base * (1 + self.step) ** k > self.high and base / (1 + self.step) ** k < self.low:
                return None
        return None
