"""The RBM flow of Iso, Shiba & Yokoo, PRE 97, 053304 (2018), arXiv:1801.07172, and a thermometer to read it.

One RBM is trained on Ising configurations pooled from many temperatures (Iso et al.: T = 0 … 6 on a
10×10 lattice). Starting from Monte Carlo configurations v⁽⁰⁾ at a temperature T₀, the trained RBM is
iterated, v⁽ⁿ⁾ → h⁽ⁿ⁺¹⁾ → v⁽ⁿ⁺¹⁾, and the temperature of every v⁽ⁿ⁾ is measured. Iso et al. find
that T(n) approaches T_c ≈ 2.269 from both phases, the opposite of the Ising model's RG flow, which
runs away from T_c. A sampled flow is a Markov chain of the trained RBM (block Gibbs), so with
enough steps it reaches the RBM's stationary distribution whatever T₀ was: the end point is a
property of the trained RBM, and so of its training set (benchmarks/rbm_flow.py varies that set).

Units are {0, 1}: v = (s + 1)/2 for Ising spins s ∈ {−1, +1}, an L×L lattice flattened to L² units
(`models.rbm.model.spins_to_visible`).

The temperature of a set of configurations is read by energy matching (`EnergyThermometer`): the
canonical energy per spin e(T) = ⟨H⟩/L², H = −Σ_<ij> s_i s_j (periodic), rises monotonically with T
(de/dT = C ≥ 0), so the mean energy ē of a set of configurations fixes T = e⁻¹(ē). e(T) is measured
by Swendsen–Wang Monte Carlo at the same L on a temperature grid and interpolated monotonically.
Iso et al. read temperatures with a neural-network thermometer (a classifier trained on labelled
configurations). Veiga & Funchal, arXiv:2006.10176, show that such a thermometer is unreliable for
exactly this purpose: flowed configurations are not equilibrium configurations, and the classifier's
answer on them reflects what it was trained to pick up, not a physical temperature. Energy matching
is transparent (one observable, a known estimator with an error bar) and depends on no training.
It reads a single number, so it cannot tell whether the flowed configurations look like equilibrium
ones at that T (compare other observables, e.g. |m|, for that).

The sampling here is block Gibbs at β = 1, the step of `models.mcmc.gibbs`, written against the
RBM's conditionals: `models.mcmc` imports `models.rbm`, so importing it back would close a package
circle (tests/test_architecture.py). `tests/test_rbm_flow.py` checks that both draw the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.interpolate import PchipInterpolator
from scipy.optimize import brentq, isotonic_regression

from models.ising.swendsen_wang import sample_sw
from models.rbm.model import RBM, spins_to_visible

__all__ = ["EnergyThermometer", "ising_training_set", "lattice_energy", "rbm_flow", "train_rbm_on_temperatures"]


def _seed(*keys: int) -> int:
    """An independent 32-bit seed for every tuple of keys."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def _bernoulli(p: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """1.0 where u < p, u ~ U(0, 1): the draw of `models.mcmc.bernoulli` with one generator."""
    return (torch.rand(p.shape, generator=generator, device=p.device) < p).to(p.dtype)


# ------------------------------------------------------------------------------------------ the flow
@torch.no_grad()
def rbm_flow(
    rbm: RBM, v0: torch.Tensor, steps: int, *, generator: torch.Generator | None, mean_field: bool = False
) -> list[torch.Tensor]:
    """The RBM flow v⁽⁰⁾ → v⁽¹⁾ → … → v⁽ˢᵗᵉᵖˢ⁾ from configurations v0 (batch, n_visible); returns all
    steps + 1 of them, v0 first.

    Sampled (the default): h ~ p(h | v) = σ(c + vW), then v ~ p(v | h) = σ(b + Wh), Bernoulli draws
    from `generator`, so every v⁽ⁿ⁾ is again a {0, 1} configuration; this is one block-Gibbs step per
    flow step, and the batch's flows are independent chains.
    Mean field (`mean_field=True`): the conditional probabilities replace the draws,
    h = σ(c + vW), v = σ(b + Wh); deterministic, v⁽ⁿ⁾ ∈ (0, 1), `generator` unused. To read a
    temperature, draw configurations from these probabilities first (see `EnergyThermometer`).
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if v0.shape[-1] != rbm.n_visible:
        raise ValueError(f"v0 has {v0.shape[-1]} units per configuration but the RBM has {rbm.n_visible} visible")
    if not mean_field and generator is None:
        raise ValueError("a sampled flow needs a torch.Generator (generator=...); or pass mean_field=True")
    v = v0.to(rbm.W.dtype)
    flow = [v]
    for _ in range(steps):
        if mean_field:
            v = rbm.visible_probs(rbm.hidden_probs(v))
        else:
            v = _bernoulli(rbm.visible_probs(_bernoulli(rbm.hidden_probs(v), generator)), generator)
        flow.append(v)
    return flow


# ----------------------------------------------------------------------------------- the thermometer
def lattice_energy(v: torch.Tensor, L: int) -> torch.Tensor:
    """e = H/L² = −(1/L²) Σ_i s_i (s_right(i) + s_down(i)), s = 2v − 1, periodic: (batch, L²) → (batch,).

    Computed in floating point, so that for probabilities v ∈ (0, 1) it is the energy of the product
    measure with magnetisations m_i = 2v_i − 1 (⟨H⟩ = −Σ m_i m_j), which is not an equilibrium energy."""
    if v.shape[-1] != L * L:
        raise ValueError(f"configurations have {v.shape[-1]} units, expected L² = {L * L} for L = {L}")
    s = (2.0 * v.double() - 1.0).reshape(*v.shape[:-1], L, L)
    return -(s * (torch.roll(s, 1, -1) + torch.roll(s, 1, -2))).sum(dim=(-2, -1)) / (L * L)


@dataclass(frozen=True, eq=False)
class EnergyThermometer:
    """T from the mean energy per spin by inverting the canonical curve e(T) at lattice side L.

    `energies[k]` = e(temperatures[k]) ± `stderrs[k]` on an increasing grid. The curve is made
    non-decreasing by isotonic regression (it is, up to MC noise) and interpolated by a monotone
    cubic (PCHIP). A set of configurations with mean energy ē ± σ_ē reads T = e⁻¹(ē), with
    σ_T = √(σ_ē² + σ_e(T)²) / (de/dT), σ_e the grid's own error interpolated linearly.
    """

    L: int
    temperatures: np.ndarray
    energies: np.ndarray
    stderrs: np.ndarray

    def __post_init__(self) -> None:
        t, e, s = (np.asarray(a, dtype=np.float64) for a in (self.temperatures, self.energies, self.stderrs))
        if t.ndim != 1 or len(t) < 3 or e.shape != t.shape or s.shape != t.shape:
            raise ValueError(
                f"need ≥ 3 temperatures with one energy and stderr each, got {t.shape}, {e.shape}, {s.shape}"
            )
        if np.any(np.diff(t) <= 0) or t[0] <= 0:
            raise ValueError(f"temperatures must be > 0 and strictly increasing, got {t}")
        object.__setattr__(self, "temperatures", t)
        object.__setattr__(self, "energies", e)
        object.__setattr__(self, "stderrs", s)
        object.__setattr__(self, "_curve", PchipInterpolator(t, isotonic_regression(e).x))

    @classmethod
    def fit(
        cls, L: int, temperatures, *, n_samples: int = 1000, burn_in: int = 100, seed: int = 0
    ) -> EnergyThermometer:
        """Measure e(T) with `n_samples` independent Swendsen–Wang chains per temperature (one sample
        each, after `burn_in` sweeps; `models.ising.sample_sw`). Use a grid wider than the temperatures
        you will read: outside it the thermometer returns the grid's end and an infinite error."""
        t = np.sort(np.asarray(temperatures, dtype=np.float64))
        e, s = [], []
        for k, T in enumerate(t):
            spins = sample_sw(L, float(T), n_samples, burn_in=burn_in, seed=_seed(seed, k))
            energy = lattice_energy(spins_to_visible(spins), L).numpy()
            e.append(energy.mean())
            s.append(energy.std(ddof=1) / np.sqrt(n_samples))
        return cls(L, t, np.array(e), np.array(s))

    def energy(self, T: float | np.ndarray) -> float | np.ndarray:
        """The interpolated canonical e(T) (inside the grid)."""
        return self._curve(T)

    def temperature_of_energy(self, e: float, stderr: float = 0.0) -> tuple[float, float]:
        """(T, σ_T) with e(T) = e. Below the grid's lowest energy it returns (T_min, inf), above the
        highest (T_max, inf): widen the grid (`fit(L, temperatures=...)`) to read such energies."""
        lo, hi = self.temperatures[0], self.temperatures[-1]
        e_lo, e_hi = float(self._curve(lo)), float(self._curve(hi))
        if e <= e_lo:
            return float(lo), float("inf")
        if e >= e_hi:
            return float(hi), float("inf")
        T = brentq(lambda t: float(self._curve(t)) - e, lo, hi, xtol=1e-10)
        slope = float(self._curve(T, 1))
        grid_err = float(np.interp(T, self.temperatures, self.stderrs))
        return float(T), float(np.hypot(stderr, grid_err) / slope) if slope > 0 else float("inf")

    def temperature(self, v: torch.Tensor) -> tuple[float, float]:
        """(T, σ_T) of configurations v (batch, L²) in {0, 1}, from their mean `lattice_energy`.

        σ_ē = sd(e)/√batch treats the configurations as independent (true for flows from
        independent MC chains). For mean-field flows (v ∈ (0, 1)), draw v ~ Bernoulli(v) first:
        the product-measure energy of probabilities is not a canonical energy."""
        e = lattice_energy(v, self.L)
        n = e.shape[0]
        stderr = float(e.std() / np.sqrt(n)) if n > 1 else float("inf")
        return self.temperature_of_energy(float(e.mean()), stderr)


# ----------------------------------------------------------------------------------- the training
def ising_training_set(L: int, temperatures, samples_per_T: int, *, burn_in: int = 100, seed: int = 0) -> torch.Tensor:
    """Visible units (len(temperatures)·samples_per_T, L²) pooled from independent Swendsen–Wang chains
    at each temperature (one sample per chain after `burn_in` sweeps), in temperature order."""
    parts = [
        spins_to_visible(sample_sw(L, float(T), samples_per_T, burn_in=burn_in, seed=_seed(seed, 1, k)))
        for k, T in enumerate(temperatures)
    ]
    return torch.cat(parts)


def train_rbm_on_temperatures(
    L: int,
    temperatures,
    n_hidden: int,
    *,
    samples_per_T: int = 1000,
    epochs: int = 20,
    batch_size: int = 100,
    lr: float = 0.01,
    momentum: float = 0.5,
    k: int = 1,
    persistent: bool = False,
    seed: int = 0,
    data: torch.Tensor | None = None,
) -> RBM:
    """One RBM trained on Ising configurations pooled from all `temperatures` (Iso et al.'s setup).

    Each minibatch step descends the free-energy gap F(v_data) − F(v_model), averaged over the batch,
    whose gradient is the log-likelihood gradient with the model expectation replaced by k block-Gibbs
    steps (Hinton 2002): from the data batch (CD-k), or from persistent chains carried across steps
    (PCD-k, Tieleman 2008). SGD with momentum; W ~ N(0, 0.01²), visible biases at the data log-odds
    (Hinton's practical guide §8.1; ≈ 0 for Z₂-symmetric data). `data` (n, L²) replaces the sampled
    training set (`ising_training_set(L, temperatures, samples_per_T, seed=seed)`).
    """
    if n_hidden < 1 or epochs < 1 or batch_size < 1 or k < 1 or lr <= 0:
        raise ValueError(
            f"need n_hidden, epochs, batch_size, k >= 1 and lr > 0, got {n_hidden}, {epochs}, {batch_size}, {k}, {lr}"
        )
    if data is None:
        data = ising_training_set(L, temperatures, samples_per_T, seed=seed)
    gen = torch.Generator().manual_seed(_seed(seed, 2))
    rbm = RBM(L * L, n_hidden, generator=gen)
    with torch.no_grad():
        p = data.mean(0).clamp(1e-3, 1 - 1e-3)
        rbm.visible_bias.copy_(torch.log(p / (1 - p)))
    optimizer = torch.optim.SGD(rbm.parameters(), lr=lr, momentum=momentum)
    chains = data[torch.randint(0, len(data), (batch_size,), generator=gen)]
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=gen)
        for start in range(0, len(data) - batch_size + 1, batch_size):
            batch = data[order[start : start + batch_size]]
            negative = rbm_flow(rbm, chains if persistent else batch, k, generator=gen)[-1]
            if persistent:
                chains = negative
            gap = rbm.free_energy(batch).mean() - rbm.free_energy(negative).mean()
            optimizer.zero_grad(set_to_none=True)
            gap.backward()
            optimizer.step()
    return rbm
