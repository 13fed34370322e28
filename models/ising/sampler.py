"""Monte Carlo samplers of the 2D square-lattice Ising model (J = 1, k_B = 1, periodic boundaries).

Energy of a configuration s ∈ {−1, +1}^{L×L}:

    H(s) = −J Σ_<ij> s_i s_j

where the sum runs over nearest-neighbour pairs, each counted once. Per-spin quantities divide
by N = L²: e = H/N, m = Σ_i s_i / N. (For L = 2 the periodic lattice has double bonds, as the
roll-based sums imply; every function here uses that same convention.)

Two samplers, both vectorised in torch over independent chains: checkerboard Metropolis
(`metropolis_sweeps`) and Wolff clusters (`wolff_updates`), and `sample`, which runs either.
"""

from __future__ import annotations

import functools
import logging
import math
import os

import numpy as np
import torch

from models.ising.checks import Algorithm, check_algorithm, check_chains, check_int, check_temperature

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------------- configurations
def ordered_start(chains: int, L: int, generator: torch.Generator, device=None) -> torch.Tensor:
    """`chains` fully ordered int8 lattices (chains, L, L), each of a random sign (one uniform per chain
    from `generator`): the cold start of every sampler here, equilibrated by its burn-in."""
    up = torch.rand(chains, 1, 1, generator=generator, device=device) < 0.5
    return torch.where(up, 1, -1).to(torch.int8).expand(chains, L, L).contiguous()


def prepared_chains(L, T, n_samples, burn_in, thin, chains, seed, device):
    """The checked arguments of a sampler that records `n_samples` configurations from `chains` chains:
    (cold-started spins (chains, L, L), the empty record (chains, per_chain, L, L), the seeded generator,
    (T, burn_in, thin, per_chain)). Every error names the argument and what it must be."""
    L = check_int("L", L, 2)
    T = check_temperature(T)
    n_samples = check_int("n_samples", n_samples, 1)
    burn_in = check_int("burn_in", burn_in, 0)
    thin = check_int("thin", thin, 1)
    chains = check_chains(chains, n_samples)
    per_chain = n_samples // chains
    device = torch.device(device)
    gen = torch.Generator(device=device).manual_seed(int(seed))
    spins = ordered_start(chains, L, gen, device)
    record = torch.empty((chains, per_chain, L, L), dtype=torch.int8, device=device)
    return spins, record, gen, (T, burn_in, thin, per_chain)


def _neighbour_sum(spins: torch.Tensor) -> torch.Tensor:
    """Σ of the four nearest neighbours of every site, periodic boundaries; shape (..., L, L)."""
    return (
        torch.roll(spins, 1, -1)
        + torch.roll(spins, -1, -1)
        + torch.roll(spins, 1, -2)
        + torch.roll(spins, -1, -2)
    )


def energy_per_spin(spins: torch.Tensor) -> torch.Tensor:
    """e(s) = H(s) / L² for a batch of configurations of shape (n, L, L); returns float32 (n,)."""
    s = spins.to(torch.int32)
    bonds = (s * (torch.roll(s, 1, -1) + torch.roll(s, 1, -2))).sum(dim=(-2, -1))
    return -bonds.to(torch.float32) / (s.shape[-1] * s.shape[-2])


def magnetization(spins: torch.Tensor) -> torch.Tensor:
    """m(s) = Σ_i s_i / L² per configuration; shape (n,)."""
    return spins.to(torch.float32).mean(dim=(-2, -1))


# ---------------------------------------------------------------------- Metropolis sampler
def _flip_mask(sh: torch.Tensor, u: torch.Tensor, p4: float | torch.Tensor, p8: float | torch.Tensor):
    """Metropolis decisions from sh = s_i Σ_j s_j ∈ {−4, −2, 0, 2, 4}, where ΔE = 2·sh.

    Accept with min(1, e^{−βΔE}): always for sh ≤ 0, else when u < p4 = e^{−4β} (sh = 2) or
    u < p8 = e^{−8β} (sh = 4), a precomputed table. Returns the int8 xor mask −2·flip: for ±1
    stored as int8, s ^ −2 = −s, so `s ^ mask` flips exactly the accepted sites.
    """
    return ((sh <= 0) | (u < p8) | ((sh == 2) & (u < p4))).to(torch.int8).mul_(-2)


def _colour_update(X, Y, P, Q, u, p4, p8, sigma: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Update sublattices X, Y of one colour given P, Q of the other; u holds 2 uniforms per site.

    Black: (X, Y, P, Q) = (A, D, B, C), σ = +1; white: (B, C, A, D), σ = −1. With
    A = s[0::2, 0::2], B = s[0::2, 1::2], C = s[1::2, 0::2], D = s[1::2, 1::2] the neighbour sums
    are h_X = P + P(shifted σ along columns) + Q + Q(shifted +1 along rows), h_Y likewise with the
    opposite shifts; e.g. for A[a, b] = s[2a, 2b]: h = B[a, b] + B[a, b−1] + C[a, b] + C[a−1, b].
    """
    roll = torch.roll
    hX = P + roll(P, sigma, -1) + Q + roll(Q, 1, -2)
    hY = Q + roll(Q, -sigma, -1) + P + roll(P, -1, -2)
    return X ^ _flip_mask(hX.mul_(X), u[0], p4, p8), Y ^ _flip_mask(hY.mul_(Y), u[1], p4, p8)


def _black_update(A, D, B, C, u, p4, p8):
    return _colour_update(A, D, B, C, u, p4, p8, 1)


def _white_update(B, C, A, D, u, p4, p8):
    return _colour_update(B, C, A, D, u, p4, p8, -1)


_compiled: dict[str, object] = {}


def _fused_updates():
    """(black, white) updates compiled by torch.compile for CUDA: one fused kernel per colour
    instead of ~20 eager ones, about 3–6× the eager throughput on an H100. Shapes are static
    (fast index arithmetic); each new lattice shape compiles once, and after torch's recompile
    limit further shapes run eager. If compilation fails, eager is used (same numbers).
    Set PHASESWEEP_ISING_COMPILE=0 to disable."""
    if not _compiled:
        for name, fn in (("black", _black_update), ("white", _white_update)):
            compiled = torch.compile(fn, dynamic=False)

            def guarded(*args, _compiled_fn=compiled, _eager=fn):
                if not _compiled.get("failed"):
                    try:
                        return _compiled_fn(*args)
                    except Exception as err:  # no Triton / compiler: eager gives the same numbers
                        logger.warning("torch.compile of the Metropolis update failed (%s); using eager", err)
                        _compiled["failed"] = True
                return _eager(*args)

            _compiled[name] = guarded
    return _compiled["black"], _compiled["white"]


def _use_fused(device: torch.device) -> bool:
    return device.type == "cuda" and os.environ.get("PHASESWEEP_ISING_COMPILE", "1") != "0"


def _quarter_sweeps(
    q: list[torch.Tensor], beta: float, sweeps: int, gen: torch.Generator, fused: bool | None = None
) -> None:
    """Checkerboard sweeps on the four int8 sublattices q = [A, B, C, D] of an even-L lattice.

    A = s[0::2, 0::2], B = s[0::2, 1::2], C = s[1::2, 0::2], D = s[1::2, 1::2], each (n, L/2, L/2).
    Black sites are A ∪ D, white sites B ∪ C; every neighbour of a black site is white, so each
    colour is updated in parallel exactly. Storing the sublattices apart halves the work of a
    masked full-lattice update. The list `q` is updated in place. `fused` (default: on CUDA)
    runs the compiled kernels; both paths consume the same random numbers and agree bitwise.
    """
    device = q[0].device
    noise = lambda shape: torch.rand((2, *shape), generator=gen, device=device)  # noqa: E731
    _sweep_sublattices(q, math.exp(-4.0 * beta), math.exp(-8.0 * beta), sweeps, noise, fused)


def _sweep_sublattices(q, p4, p8, sweeps: int, noise, fused: bool | None = None) -> None:
    """`sweeps` black-then-white updates of the sublattices q in place; `noise(shape)` gives the two
    uniforms per site of one colour, shape (2, *shape)."""
    black, white = _black_update, _white_update
    if fused or (fused is None and _use_fused(q[0].device)):
        black, white = _fused_updates()
        p4, p8 = (torch.as_tensor(p, device=q[0].device) for p in (p4, p8))  # no recompile per T
    A, B, C, D = q
    for _ in range(sweeps):
        A, D = black(A, D, B, C, noise(A.shape), p4, p8)
        B, C = white(B, C, A, D, noise(B.shape), p4, p8)
    q[:] = [A, B, C, D]


@torch.no_grad()
def metropolis_sweeps_population(
    spins: torch.Tensor, temperatures, sweeps: int, generators: list[torch.Generator]
) -> torch.Tensor:
    """`metropolis_sweeps` for P independent systems at once: spins (P, n, L, L), even L, one temperature
    and one generator per system. System i draws exactly the uniforms, in the same order, that
    `metropolis_sweeps(spins[i], temperatures[i], sweeps, generators[i])` draws, and every decision is a
    comparison of the same float32 numbers, so each system ends bit-identical to its lone run whatever
    the other systems are. The P systems share each update's kernels (one launch for the population).
    """
    P, L = spins.shape[0], spins.shape[-1]
    if spins.dim() != 4 or spins.shape[-2] != L or L % 2:
        raise ValueError(f"spins must be (P, n, L, L) with even L, got {tuple(spins.shape)}")
    if not (len(temperatures) == len(generators) == P):
        got = f"{len(temperatures)} and {len(generators)}"
        raise ValueError(f"{P} systems need {P} temperatures and {P} generators, got {got}")
    beta = [1.0 / check_temperature(T) for T in temperatures]
    # the lone sampler compares float32 uniforms with a Python float, i.e. with that float rounded to float32
    table = lambda k: torch.tensor([math.exp(-k * b) for b in beta], device=spins.device).view(P, 1, 1, 1)  # noqa: E731

    def noise(shape) -> torch.Tensor:
        u = torch.empty((P, 2, *shape[1:]), device=spins.device)
        for row, gen in zip(u, generators, strict=True):
            row.uniform_(generator=gen)  # = torch.rand((2, n, L/2, L/2), generator=gen)
        return u.transpose(0, 1)

    q = _split(spins)
    _sweep_sublattices(q, table(4.0), table(8.0), sweeps, noise)
    return _merge(q, spins)


def _split(spins: torch.Tensor) -> list[torch.Tensor]:
    return [spins[..., p::2, r::2].to(torch.int8).clone() for p in (0, 1) for r in (0, 1)]


def _merge(q: list[torch.Tensor], out: torch.Tensor) -> torch.Tensor:
    for (p, r), X in zip(((0, 0), (0, 1), (1, 0), (1, 1)), q, strict=True):
        out[..., p::2, r::2] = X
    return out


@functools.lru_cache(maxsize=16)
def _colouring(L: int) -> tuple[tuple[bool, ...], ...]:
    """A proper greedy colouring of the periodic L×L lattice: 2 colours for even L, 3 for odd L."""
    colour: dict[tuple[int, int], int] = {}
    for i in range(L):
        for j in range(L):
            taken = {colour.get(((i + di) % L, (j + dj) % L)) for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1))}
            colour[i, j] = min(c for c in range(5) if c not in taken)
    n_colours = max(colour.values()) + 1
    return tuple(tuple(colour[i, j] == c for i in range(L) for j in range(L)) for c in range(n_colours))


def _masked_sweeps(s: torch.Tensor, beta: float, sweeps: int, gen: torch.Generator) -> None:
    """Sweeps in place on int8 spins (n, L, L) for any L, one colour class of `_colouring` at a time."""
    L = s.shape[-1]
    masks = [torch.tensor(m, device=s.device).view(L, L) for m in _colouring(L)]
    p4, p8 = math.exp(-4.0 * beta), math.exp(-8.0 * beta)
    for _ in range(sweeps):
        for mask in masks:
            u = torch.rand(s.shape, generator=gen, device=s.device)
            s.bitwise_xor_(_flip_mask(s * _neighbour_sum(s), u, p4, p8) * mask)


@torch.no_grad()
def metropolis_sweeps(
    spins: torch.Tensor, T: float, sweeps: int, generator: torch.Generator
) -> torch.Tensor:
    """Run `sweeps` checkerboard Metropolis sweeps in place on ±1 spins of shape (n, L, L).

    One sweep updates the black sublattice, then the white one. Sites of one colour have no
    neighbours of the same colour, so they are updated in parallel without bias. A flip is
    accepted with probability min(1, exp(−ΔE/T)), ΔE = 2 s_i Σ_j s_j ∈ {−8, …, 8}; only
    ΔE ∈ {4, 8} are decided by the uniform draw, against a precomputed table. Even L runs on
    int8 sublattices (on CUDA through a torch.compile-fused kernel, see `_fused_updates`); odd L
    (not bipartite under periodic boundaries) uses a 3-colouring.
    Any dtype holding ±1 works; `spins` is updated in place and returned.
    """
    beta = 1.0 / check_temperature(T)
    if spins.shape[-1] % 2 == 0 and spins.shape[-2] == spins.shape[-1]:
        q = _split(spins)
        _quarter_sweeps(q, beta, sweeps, generator)
        return _merge(q, spins)
    s = spins.to(torch.int8).clone()
    _masked_sweeps(s, beta, sweeps, generator)
    return spins.copy_(s)


# --------------------------------------------------------------------------- Wolff sampler
def _grow_cluster(seed: torch.Tensor, right: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    """The sites connected to `seed` (bool (n, L, L)) through open bonds, by breadth-first dilation.

    right[i, j] is the bond (i, j)–(i, j+1), down[i, j] the bond (i, j)–(i+1, j), both periodic.
    """
    def dilate(c: torch.Tensor) -> torch.Tensor:
        return (
            c
            | torch.roll(c & right, 1, -1)
            | (torch.roll(c, -1, -1) & right)
            | torch.roll(c & down, 1, -2)
            | (torch.roll(c, -1, -2) & down)
        )

    cluster = seed
    while True:  # two dilations per convergence test: the test costs as much as a dilation
        grown = dilate(dilate(cluster))
        if torch.equal(grown, cluster):
            return cluster
        cluster = grown


@torch.no_grad()
def wolff_updates(
    spins: torch.Tensor, T: float, n_updates: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run `n_updates` Wolff single-cluster updates (Wolff 1989) on every chain of spins (n, L, L).

    Each update picks a uniform random seed site, grows the cluster by adding aligned neighbours
    with probability p_add = 1 − e^{−2β}, and flips it (acceptance 1). The cluster is drawn as the
    connected component of the seed among Fortuin–Kasteleyn bonds opened independently with
    p_add on aligned pairs, which has the same law as sequential growth and vectorises over chains.

    `spins` is updated in place and returned with the cluster sizes |C|, int64 (n_updates, n).
    One sweep-equivalent is L² / ⟨|C|⟩ updates (as many flipped spins as a Metropolis sweep tries).
    """
    p_add = 1.0 - math.exp(-2.0 / check_temperature(T))
    n, L = spins.shape[0], spins.shape[-1]
    s = spins.to(torch.int8)
    sizes = torch.empty((n_updates, n), dtype=torch.int64, device=spins.device)
    rows = torch.arange(n, device=spins.device)
    for t in range(n_updates):
        u = torch.rand((2, *s.shape), generator=generator, device=s.device)
        right = (s == torch.roll(s, -1, -1)) & (u[0] < p_add)
        down = (s == torch.roll(s, -1, -2)) & (u[1] < p_add)
        seed = torch.zeros_like(right)
        site = torch.randint(0, L * L, (n,), generator=generator, device=s.device)
        seed.view(n, -1)[rows, site] = True
        cluster = _grow_cluster(seed, right, down)
        s.bitwise_xor_(cluster.to(torch.int8).mul_(-2))
        sizes[t] = cluster.sum(dim=(-2, -1))
    if s is not spins:
        spins.copy_(s)
    return spins, sizes


def _wolff_clusters_per_sweep(s: torch.Tensor, T: float, burn_in: int, gen: torch.Generator) -> int:
    """Burn Wolff chains in, then return k = round(L² / ⟨|C|⟩), the updates per sweep-equivalent.

    Burn-in runs updates until the chains together have flipped burn_in·L²·n spins (at least 8
    updates); ⟨|C|⟩ is measured on its second half. Sampling then uses a fixed k, so the
    spacing of samples never depends on the chain's own state.
    """
    n, L = s.shape[0], s.shape[-1]
    means, flipped = [], 0
    while flipped < burn_in * L * L * n or len(means) < 8:
        _, size = wolff_updates(s, T, 1, gen)
        means.append(size.double().mean().item())
        flipped += size.sum().item()
    mean_size = float(np.mean(means[len(means) // 2 :]))
    return max(1, round(L * L / mean_size))


# ------------------------------------------------------------------------------- sampling
@torch.no_grad()
def sample(
    L: int,
    T: float,
    n_samples: int,
    *,
    algorithm: str | Algorithm = "metropolis",
    burn_in: int = 500,
    thin: int = 1,
    seed: int = 0,
    device: str | torch.device = "cpu",
    chains: int | None = None,
) -> torch.Tensor:
    """Draw `n_samples` Ising configurations at temperature T.

    `chains` independent chains (default: n_samples, one sample per chain) each give
    n_samples // chains samples. A chain starts ordered (all +1) with a random global sign,
    which respects the Z2 symmetry and avoids metastable stripes at low T, runs `burn_in`
    sweeps, then records a sample every `thin` sweeps. The result is chain-major: rows
    [c·k, (c+1)·k) are chain c's time series (k = n_samples // chains), as `observables`
    expects with the same `chains`.

    Time is counted in sweeps: one Metropolis sweep tries each spin once; for "wolff" one
    sweep-equivalent is a fixed k = round(L²/⟨|C|⟩) cluster updates, with ⟨|C|⟩ measured during
    burn-in (see `_wolff_clusters_per_sweep`). Wolff suits T near T_c; far above T_c clusters
    are tiny and Metropolis is cheaper.

    Returns an int8 tensor of ±1 spins of shape (n_samples, L, L) on `device`, reproducible
    under `seed` on a given device type.
    """
    algorithm = check_algorithm(algorithm)
    s, out, gen, (T, burn_in, thin, per_chain) = prepared_chains(L, T, n_samples, burn_in, thin, chains, seed, device)

    if algorithm is Algorithm.wolff:
        k = _wolff_clusters_per_sweep(s, T, burn_in, gen)
        for j in range(per_chain):
            if j:
                wolff_updates(s, T, thin * k, gen)
            out[:, j] = s
    elif L % 2 == 0:
        q = _split(s)
        _quarter_sweeps(q, 1.0 / T, burn_in, gen)
        for j in range(per_chain):
            if j:
                _quarter_sweeps(q, 1.0 / T, thin, gen)
            _merge(q, out[:, j])
    else:
        _masked_sweeps(s, 1.0 / T, burn_in, gen)
        for j in range(per_chain):
            if j:
                _masked_sweeps(s, 1.0 / T, thin, gen)
            out[:, j] = s
    return out.reshape(n_samples, L, L)
