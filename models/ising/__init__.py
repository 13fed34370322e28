"""The 2D square-lattice Ising model (J = 1, k_B = 1, periodic boundaries).

This package face only re-exports; the code lives in its modules, which import each other
downward (`checks` ← `sampler` ← `cache`; `checks` ← `exact`, `stats`; `checks` ← `swendsen_wang`;
`exact`, `sampler`, `stats` ← `rg`):

- `checks`: T_c, the `Algorithm` enum, and the argument checks every module shares;
- `sampler`: checkerboard Metropolis (`metropolis_sweeps`, and `metropolis_sweeps_population` for P
  systems at once) and Wolff clusters (`wolff_updates`),
  both vectorised in torch over independent chains, and `sample`;
- `exact`: Onsager's energy, Yang's magnetization, brute-force enumeration for L ≤ 4, and Kaufman's exact
  energy and specific heat of any finite torus;
- `stats`: estimators with autocorrelation-aware error bars (`observables`,
  `integrated_autocorr_time`);
- `cache`: an on-disk dataset cache shared by the trials of a sweep (`cached_sample`);
- `swendsen_wang`: Swendsen–Wang cluster sweeps for all chains at once (`swendsen_wang_sweeps`,
  `sample_sw`), the fast sampler near T_c;
- `rg`: Kadanoff majority-rule block spins (`block_spins`, `block_levels`), per-level observables
  (`level_observables`), and Swendsen's matching for the RG fixed point T* and ν (`rg_fixed_point`).
"""

from models.ising.cache import CacheStatus, cached_sample, cached_sample_with_status, ensure_cache_dir
from models.ising.checks import T_CRITICAL, Algorithm
from models.ising.exact import (
    ExactObservables,
    KaufmanObservables,
    binder_crossing,
    exact_observables,
    kaufman_observables,
    onsager_energy,
    onsager_magnetization,
)
from models.ising.rg import (
    BlockObservables,
    Curve,
    RGFixedPoint,
    block_levels,
    block_spins,
    fixed_point,
    level_observables,
    nearest_window,
    neighbour_correlations,
    rg_fixed_point,
    rg_map,
)
from models.ising.sampler import (
    energy_per_spin,
    magnetization,
    metropolis_sweeps,
    metropolis_sweeps_population,
    ordered_start,
    sample,
    wolff_updates,
)
from models.ising.stats import Estimate, Observables, integrated_autocorr_time, observables
from models.ising.swendsen_wang import sample_sw, swendsen_wang_sweeps

__all__ = [
    "T_CRITICAL",
    "Algorithm",
    "BlockObservables",
    "CacheStatus",
    "Curve",
    "Estimate",
    "ExactObservables",
    "KaufmanObservables",
    "Observables",
    "RGFixedPoint",
    "binder_crossing",
    "block_levels",
    "block_spins",
    "cached_sample",
    "cached_sample_with_status",
    "energy_per_spin",
    "ensure_cache_dir",
    "exact_observables",
    "fixed_point",
    "integrated_autocorr_time",
    "kaufman_observables",
    "level_observables",
    "magnetization",
    "metropolis_sweeps",
    "metropolis_sweeps_population",
    "nearest_window",
    "neighbour_correlations",
    "observables",
    "onsager_energy",
    "onsager_magnetization",
    "ordered_start",
    "rg_fixed_point",
    "rg_map",
    "sample",
    "sample_sw",
    "swendsen_wang_sweeps",
    "wolff_updates",
]
