"""Swendsen–Wang cluster updates of the 2D square-lattice Ising model (J = 1, k_B = 1, periodic).

One Swendsen–Wang sweep (R. H. Swendsen and J.-S. Wang, PRL 58, 86 (1987)) samples the
Fortuin–Kasteleyn random-cluster representation of Z = Σ_s e^{−βH(s)}, H = −Σ_<ij> s_i s_j:

    1. every nearest-neighbour bond <ij> with s_i = s_j is opened with probability p = 1 − e^{−2β};
    2. the connected components of the open bonds (the clusters) are labelled;
    3. every cluster is given a new spin, +1 or −1 with probability 1/2 each (i.e. flipped with 1/2).

This satisfies detailed balance for the Boltzmann weight and, unlike Metropolis, decorrelates in
a few sweeps near T_c (dynamic exponent z ≈ 0.2–0.35 instead of ≈ 2.17).

Here all chains are one graph: node c·L² + i·L + j is site (i, j) of chain c, so the graph is
block-diagonal and one call of `scipy.sparse.csgraph.connected_components` labels every cluster
of every chain. Bond and flip decisions come from a seeded `torch.Generator`. Labelling runs in
scipy on the CPU; spins on another device are copied there and back each sweep.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components

from models.ising.checks import check_int, check_temperature
from models.ising.sampler import prepared_chains


def _bond_targets(n: int, L: int) -> np.ndarray:
    """Node of the right (i, j+1) and down (i+1, j) neighbour of every site: int32 (n·L²·2,),
    ordered (chain, i, j, direction) like the bond mask of a sweep."""
    idx = np.arange(n * L * L, dtype=np.int32).reshape(n, L, L)
    return np.stack([np.roll(idx, -1, axis=-1), np.roll(idx, -1, axis=-2)], axis=-1).ravel()


def _label_clusters(open_bonds: np.ndarray, targets: np.ndarray, n_nodes: int) -> tuple[int, np.ndarray]:
    """Connected components of the open bonds: (number of clusters, int32 label per node).

    The graph is assembled directly in CSR form (row = site, columns = its open right/down bonds),
    and its weakly connected components, which for these one-way edges are the clusters, are
    found by `connected_components(..., directed=True, connection="weak")`; that is the same
    partition as the undirected call but about twice as fast (no symmetrised copy of the graph).
    """
    k = np.flatnonzero(open_bonds)
    indptr = np.zeros(n_nodes + 1, dtype=np.int32)
    np.cumsum(np.bincount(k >> 1, minlength=n_nodes), out=indptr[1:])
    graph = csr_array((np.ones(len(k)), targets[k], indptr), shape=(n_nodes, n_nodes))
    return connected_components(graph, directed=True, connection="weak")


@torch.no_grad()
def swendsen_wang_sweeps(spins: torch.Tensor, T: float, sweeps: int, generator: torch.Generator) -> torch.Tensor:
    """Run `sweeps` Swendsen–Wang sweeps in place on ±1 spins of shape (n, L, L), any L ≥ 2.

    Per sweep the generator draws n·L²·2 uniforms, shape (n, L, L, 2), for the right and the down
    bond of every site (opened when s_i = s_j and u < p = 1 − e^{−2β}), then one uniform per
    cluster in label order (flipped when u < ½). For L = 2 the two periodic bonds between a pair
    are separate bonds, as in `energy_per_spin`. Any dtype holding ±1 works; `spins` is updated in
    place and returned.
    """
    p_bond = 1.0 - math.exp(-2.0 / check_temperature(T))
    sweeps = check_int("sweeps", sweeps, 0)
    if spins.dim() != 3 or spins.shape[-1] != spins.shape[-2] or spins.shape[-1] < 2:
        raise ValueError(f"spins must have shape (n, L, L) with L >= 2, got {tuple(spins.shape)}")
    n, L = spins.shape[0], spins.shape[-1]
    device = spins.device
    s = spins.to(torch.int8)
    targets = _bond_targets(n, L)
    for _ in range(sweeps):
        u = torch.rand((n, L, L, 2), generator=generator, device=device)
        aligned = torch.stack([s == torch.roll(s, -1, -1), s == torch.roll(s, -1, -2)], dim=-1)
        open_bonds = (aligned & (u < p_bond)).cpu().numpy().ravel()
        n_clusters, labels = _label_clusters(open_bonds, targets, n * L * L)
        flip = torch.rand(n_clusters, generator=generator, device=device) < 0.5
        mask = flip[torch.from_numpy(labels).to(device=device, dtype=torch.int64)].view(n, L, L)
        s = torch.where(mask, -s, s)
    return spins.copy_(s)


@torch.no_grad()
def sample_sw(
    L: int,
    T: float,
    n_samples: int,
    *,
    chains: int | None = None,
    burn_in: int = 100,
    thin: int = 1,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Draw `n_samples` Ising configurations at temperature T with Swendsen–Wang sweeps.

    The layout and conventions are those of `models.ising.sample`: `chains` independent chains
    (default: n_samples, one sample per chain) each give n_samples // chains samples; a chain
    starts ordered with a random global sign, runs `burn_in` sweeps, then records a sample every
    `thin` sweeps. Rows [c·k, (c+1)·k) are chain c's time series (k = n_samples // chains), as
    `observables(..., chains=chains)` expects. A few sweeps decorrelate |m| even at T_c, so
    burn_in of ~100 and thin = 1 suffice for L ≤ 128.

    Returns an int8 tensor of ±1 spins of shape (n_samples, L, L) on `device`, reproducible under
    `seed` on a given device type.
    """
    s, out, gen, (T, burn_in, thin, per_chain) = prepared_chains(L, T, n_samples, burn_in, thin, chains, seed, device)
    swendsen_wang_sweeps(s, T, burn_in, gen)
    for j in range(per_chain):
        if j:
            swendsen_wang_sweeps(s, T, thin, gen)
        out[:, j] = s
    return out.reshape(n_samples, L, L)
