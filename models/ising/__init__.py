"""The 2D square-lattice Ising model (J = 1, k_B = 1, periodic boundaries).

This package face only re-exports; the code lives in its modules, which import each other
downward (`checks` ← `sampler` ← `cache`; `checks` ← `exact`, `stats`):

- `checks`: T_c, the `Algorithm` enum, and the argument checks every module shares;
- `sampler`: checkerboard Metropolis (`metropolis_sweeps`, and `metropolis_sweeps_population` for P
  systems at once) and Wolff clusters (`wolff_updates`),
  both vectorised in torch over independent chains, and `sample`;
- `exact`: Onsager's energy, Yang's magnetization, and brute-force enumeration for L ≤ 4;
- `stats`: estimators with autocorrelation-aware error bars (`observables`,
  `integrated_autocorr_time`);
- `cache`: an on-disk dataset cache shared by the trials of a sweep (`cached_sample`).
"""

from models.ising.cache import CacheStatus, cached_sample, cached_sample_with_status, ensure_cache_dir
from models.ising.checks import T_CRITICAL, Algorithm
from models.ising.exact import (
    ExactObservables,
    binder_crossing,
    exact_observables,
    onsager_energy,
    onsager_magnetization,
)
from models.ising.sampler import (
    energy_per_spin,
    magnetization,
    metropolis_sweeps,
    metropolis_sweeps_population,
    sample,
    wolff_updates,
)
from models.ising.stats import Estimate, Observables, integrated_autocorr_time, observables

__all__ = [
    "T_CRITICAL",
    "Algorithm",
    "CacheStatus",
    "Estimate",
    "ExactObservables",
    "Observables",
    "binder_crossing",
    "cached_sample",
    "cached_sample_with_status",
    "energy_per_spin",
    "ensure_cache_dir",
    "exact_observables",
    "integrated_autocorr_time",
    "magnetization",
    "metropolis_sweeps",
    "metropolis_sweeps_population",
    "observables",
    "onsager_energy",
    "onsager_magnetization",
    "sample",
    "wolff_updates",
]
