"""Constants and argument checks shared by the Ising sampler, exact results, estimators and cache.

Every check raises `ValueError` with a message naming the argument, its value and what is allowed.
"""

from __future__ import annotations

import math
import numbers
from enum import Enum

T_CRITICAL = 2.0 / math.log(1.0 + math.sqrt(2.0))
"""Onsager's critical temperature T_c = 2 / ln(1 + √2) ≈ 2.269185 (J = k_B = 1)."""


class Algorithm(str, Enum):
    """Monte Carlo update used by `sample`."""

    metropolis = "metropolis"
    wolff = "wolff"


def check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_temperature(T: object) -> float:
    if isinstance(T, bool) or not isinstance(T, numbers.Real) or not (math.isfinite(T) and T > 0):
        raise ValueError(
            f"T must be a finite temperature > 0, got {T!r}; temperatures are in units of J/k_B "
            f"(T_c ≈ {T_CRITICAL:.4f})"
        )
    return float(T)


def check_algorithm(algorithm: object) -> Algorithm:
    try:
        return Algorithm(algorithm)
    except ValueError:
        allowed = ", ".join(repr(a.value) for a in Algorithm)
        raise ValueError(f"algorithm must be one of {allowed}, got {algorithm!r}") from None


def check_chains(chains: object, n_samples: int) -> int:
    if chains is None:
        return n_samples
    chains = check_int("chains", chains, 1)
    if n_samples % chains:
        raise ValueError(
            f"n_samples must be a multiple of chains, got n_samples={n_samples}, chains={chains}; "
            "each chain contributes n_samples // chains samples"
        )
    return chains
