"""Tests of the 2D Ising substrate: samplers against exact answers, estimators, dataset cache.

Statistical tests use fixed seeds and state their tolerance; `slow` ones (run with `-m slow`)
check the large-lattice physics: Onsager at L = 32, the Binder crossing, critical slowing down.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing as mp

import numpy as np
import pytest
import torch
from scipy import integrate, signal

from models import ising
from models.ising import cache as ising_cache
from models.ising import sampler as ising_sampler

FIELDS = ("energy", "abs_magnetization", "specific_heat", "susceptibility", "binder")


# ------------------------------------------------------------------------ argument checks
@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (dict(L=1), r"L must be an integer >= 2, got 1"),
        (dict(L=4.0), r"L must be an integer >= 2, got 4.0"),
        (dict(T=0.0), r"T must be a finite temperature > 0, got 0.0"),
        (dict(T=-1.0), r"T must be a finite temperature > 0, got -1.0; temperatures are in units"),
        (dict(T=float("nan")), r"T must be a finite temperature > 0, got nan"),
        (dict(n_samples=0), r"n_samples must be an integer >= 1, got 0"),
        (dict(algorithm="gibbs"), r"algorithm must be one of 'metropolis', 'wolff', got 'gibbs'"),
        (dict(burn_in=-1), r"burn_in must be an integer >= 0, got -1"),
        (dict(thin=0), r"thin must be an integer >= 1, got 0"),
        (dict(chains=3), r"n_samples must be a multiple of chains, got n_samples=10, chains=3"),
    ],
)
def test_sample_rejects_bad_arguments(kwargs, pattern):
    args = dict(L=4, T=2.0, n_samples=10) | kwargs
    with pytest.raises(ValueError, match=pattern):
        ising.sample(args.pop("L"), args.pop("T"), args.pop("n_samples"), **args)


def test_exact_and_onsager_reject_bad_arguments():
    with pytest.raises(ValueError, match=r"L must be <= 4 for exact enumeration .*got 5"):
        ising.exact_observables(5, 2.0)
    with pytest.raises(ValueError, match=r"T must be a finite temperature > 0, got -2.0"):
        ising.exact_observables(3, -2.0)
    with pytest.raises(ValueError, match=r"T must be finite temperatures > 0"):
        ising.onsager_energy(0.0)


# ----------------------------------------------------------------------------- exact results
def test_onsager_known_values():
    assert ising.onsager_energy(ising.T_CRITICAL) == pytest.approx(-math.sqrt(2), abs=1e-9)
    assert ising.onsager_energy(0.05) == pytest.approx(-2.0, abs=1e-12)
    assert ising.onsager_energy(1e4) == pytest.approx(-2e-4, rel=1e-3)  # high-T series: u ≈ −2β
    assert ising.onsager_magnetization(1.5) == pytest.approx(0.986500, abs=1e-6)
    assert ising.onsager_magnetization(1e-3) == pytest.approx(1.0)
    np.testing.assert_array_equal(ising.onsager_magnetization(np.array([2.27, 3.0, 50.0])), 0.0)
    # m ~ (T_c − T)^{1/8}: small but clearly non-zero just below T_c
    assert 0.3 < ising.onsager_magnetization(ising.T_CRITICAL - 1e-4) < 0.35


@pytest.mark.parametrize("T", [1.0, 2.0, 2.2, 2.35, 3.0, 5.0])
def test_onsager_energy_is_derivative_of_free_energy(T):
    """u = ∂(βf)/∂β with −βf = ln(2 cosh 2β) + (1/π)∫_0^{π/2} ln[(1 + √(1 − k² sin²θ))/2] dθ."""

    def beta_f(beta):
        k = 2 * math.sinh(2 * beta) / math.cosh(2 * beta) ** 2
        integrand = lambda th: math.log((1 + math.sqrt(1 - (k * math.sin(th)) ** 2)) / 2)  # noqa: E731
        return -(math.log(2 * math.cosh(2 * beta)) + integrate.quad(integrand, 0, math.pi / 2)[0] / math.pi)

    beta, h = 1 / T, 1e-5
    numeric = (beta_f(beta + h) - beta_f(beta - h)) / (2 * h)
    assert ising.onsager_energy(T) == pytest.approx(numeric, abs=1e-6)


@pytest.mark.parametrize("L", [2, 3])
def test_exact_observables_match_brute_force_loop(L):
    T = 2.1
    states = torch.tensor(list(itertools.product([-1, 1], repeat=L * L)), dtype=torch.int8).view(-1, L, L)
    e = ising.energy_per_spin(states).double()
    m = ising.magnetization(states).double().abs()
    w = torch.exp(-(e - e.min()) * L * L / T)
    w /= w.sum()
    avg = lambda x: float((w * x).sum())  # noqa: E731
    ex = ising.exact_observables(L, T)
    assert ex.energy == pytest.approx(avg(e))
    assert ex.abs_magnetization == pytest.approx(avg(m))
    assert ex.specific_heat == pytest.approx(L * L * (avg(e**2) - avg(e) ** 2) / T**2)
    assert ex.susceptibility == pytest.approx(L * L * (avg(m**2) - avg(m) ** 2) / T)
    assert ex.binder == pytest.approx(1 - avg(m**4) / (3 * avg(m**2) ** 2))


def test_exact_specific_heat_is_temperature_derivative_of_energy():
    """Fluctuation–dissipation: C = d⟨e⟩/dT."""
    T, h = 2.269, 1e-5
    dedt = (ising.exact_observables(4, T + h).energy - ising.exact_observables(4, T - h).energy) / (2 * h)
    assert ising.exact_observables(4, T).specific_heat == pytest.approx(dedt, rel=1e-6)


# --------------------------------------------------------------------------------- samplers
@pytest.mark.parametrize("algorithm", ["metropolis", "wolff"])
def test_sample_shape_dtype_and_seed(algorithm):
    kw = dict(algorithm=algorithm, burn_in=20, thin=2, chains=3)
    a = ising.sample(6, 2.3, 12, seed=7, **kw)
    assert a.shape == (12, 6, 6) and a.dtype == torch.int8
    assert bool(((a == 1) | (a == -1)).all())
    assert torch.equal(a, ising.sample(6, 2.3, 12, seed=7, **kw))
    assert not torch.equal(a, ising.sample(6, 2.3, 12, seed=8, **kw))


def test_thin_counts_sweeps_along_one_chain():
    """Sample j of a chain is the state after burn_in + j·thin sweeps."""
    series = ising.sample(8, 2.5, 3, burn_in=10, thin=4, seed=3, chains=1)
    for j in range(3):
        single = ising.sample(8, 2.5, 1, burn_in=10 + 4 * j, seed=3)
        assert torch.equal(series[j], single[0])


def test_metropolis_sweeps_keeps_its_float_contract():
    spins = torch.ones(5, 8, 8)
    out = ising.metropolis_sweeps(spins, 3.0, 10, torch.Generator().manual_seed(0))
    assert out is spins and out.dtype == torch.float32
    assert bool(((out == 1) | (out == -1)).all()) and out.mean() < 0.9


def _z_scores(est: ising.Observables, ex: ising.ExactObservables) -> dict[str, float]:
    return {f: (getattr(est, f).value - getattr(ex, f)) / getattr(est, f).stderr for f in FIELDS}


@pytest.mark.parametrize("algorithm", ["metropolis", "wolff"])
@pytest.mark.parametrize("T", [1.5, 2.269, 3.5])
def test_L4_matches_exact_enumeration(algorithm, T):
    """⟨e⟩ and ⟨|m|⟩ within 3 standard errors of enumeration; C, χ, U₄ within 4 (fixed seed)."""
    spins = ising.sample(4, T, 32 * 250, algorithm=algorithm, burn_in=100, seed=11, chains=32)
    z = _z_scores(ising.observables(spins, T, chains=32), ising.exact_observables(4, T))
    assert abs(z["energy"]) < 3 and abs(z["abs_magnetization"]) < 3, z
    assert all(abs(v) < 4 for v in z.values()), z


def test_odd_L_metropolis_matches_exact_enumeration():
    """L = 3 is not bipartite under periodic boundaries; the 3-colouring path must still be exact."""
    T = 2.0
    spins = ising.sample(3, T, 4000, burn_in=50, seed=5)
    z = _z_scores(ising.observables(spins, T, chains=4000), ising.exact_observables(3, T))
    assert all(abs(v) < 3 for v in z.values()), z


@pytest.mark.parametrize("T", [1.5, 2.0, 3.0])
def test_L32_matches_onsager(T):
    """L = 32 Metropolis: energy within 0.5 % of Onsager, ⟨|m|⟩ within 1 % of Yang for T ≤ 2."""
    spins = ising.sample(32, T, 32 * 40, burn_in=400, thin=10, seed=2, chains=32)
    obs = ising.observables(spins, T, chains=32)
    assert obs.energy.value == pytest.approx(ising.onsager_energy(T), rel=5e-3)
    if T <= 2.0:
        assert obs.abs_magnetization.value == pytest.approx(ising.onsager_magnetization(T), rel=1e-2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("algorithm", ["metropolis", "wolff"])
def test_cuda_sampler_matches_exact_enumeration(algorithm):
    T = 2.269
    spins = ising.sample(4, T, 64 * 200, algorithm=algorithm, burn_in=100, seed=1, device="cuda", chains=64)
    assert spins.device.type == "cuda"
    z = _z_scores(ising.observables(spins.cpu(), T, chains=64), ising.exact_observables(4, T))
    assert all(abs(v) < 4 for v in z.values()), z


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fused_metropolis_agrees_bitwise_with_eager():
    spins = ising.sample(16, 2.3, 8, burn_in=0, seed=0, device="cuda")
    runs = []
    for fused in (False, True):
        q = ising_sampler._split(spins)
        ising_sampler._quarter_sweeps(q, 1 / 2.3, 20, torch.Generator(device="cuda").manual_seed(1), fused=fused)
        runs.append(ising_sampler._merge(q, spins.clone()))
    assert torch.equal(*runs)


# ------------------------------------------------------------------------------- estimators
def test_integrated_autocorr_time_of_ar1():
    """AR(1) x_t = ρ x_{t−1} + ε_t has τ_int = (1 + ρ)/(1 − ρ) = 9 for ρ = 0.8."""
    x = signal.lfilter([1.0], [1.0, -0.8], np.random.default_rng(0).normal(size=(8, 50000)), axis=1)
    assert ising.integrated_autocorr_time(x) == pytest.approx(9.0, rel=0.05)  # ~2σ of the estimator
    assert ising.integrated_autocorr_time(x[0]) == pytest.approx(9.0, rel=0.15)
    assert ising.integrated_autocorr_time(np.ones(100)) == 1.0


@pytest.mark.parametrize(("chains", "steps", "rho"), [(1, 1000, 0.5), (300, 300, 0.9), (64, 257, 0.0), (5, 40, 0.95)])
def test_batched_autocorr_time_is_emcees(chains, steps, rho):
    """The one-FFT estimator equals emcee's per-chain loop to rounding, window choice included
    (short chains too, where emcee would raise and we warn)."""
    from emcee.autocorr import AutocorrError, integrated_time

    x = signal.lfilter([1.0], [1.0, -rho], np.random.default_rng(steps).normal(size=(chains, steps)), axis=1)
    try:
        expected = integrated_time(x.T, quiet=False)[0]
    except AutocorrError as err:
        expected = np.atleast_1d(err.tau)[0]
    assert ising.integrated_autocorr_time(x) == pytest.approx(expected, rel=1e-9)


def test_observables_as_dict_and_shape_checks():
    spins = ising.sample(4, 2.5, 40, burn_in=10, chains=4, seed=0)
    d = ising.observables(spins, 2.5, chains=4).as_dict()
    assert {"energy", "energy_err", "binder_err", "tau_energy", "chains"} <= d.keys()
    assert all(isinstance(v, float) for v in d.values())
    with pytest.raises(ValueError, match=r"configs must have shape \(n >= 2, L, L\)"):
        ising.observables(spins[0], 2.5)
    with pytest.raises(ValueError, match=r"n_samples must be a multiple of chains"):
        ising.observables(spins, 2.5, chains=3)


def test_binder_crossing_of_lines():
    t = np.array([2.0, 2.2, 2.4])
    assert ising.binder_crossing(t, 0.6 - 0.1 * (t - 2.3), 0.6 - 0.3 * (t - 2.3)) == pytest.approx(2.3)
    assert math.isnan(ising.binder_crossing(t, t, t + 1))


# ------------------------------------------------------------------------------------ cache
CACHE_ARGS = dict(L=6, T=2.4, n_samples=16)
CACHE_KW = dict(algorithm="metropolis", burn_in=30, thin=1, seed=4)


def _cached(cache_dir):
    a = CACHE_ARGS
    return ising.cached_sample_with_status(cache_dir, a["L"], a["T"], a["n_samples"], **CACHE_KW)


def test_cache_generates_once_then_loads(tmp_path):
    first, status1 = _cached(tmp_path / "new" / "dir")
    second, status2 = _cached(tmp_path / "new" / "dir")
    assert (status1, status2) == (ising.CacheStatus.generated, ising.CacheStatus.loaded)
    assert torch.equal(first, second)
    fresh = ising.sample(CACHE_ARGS["L"], CACHE_ARGS["T"], CACHE_ARGS["n_samples"], **CACHE_KW)
    assert torch.equal(first, fresh)
    plain = ising.cached_sample(tmp_path / "new" / "dir", 6, 2.4, 16, **CACHE_KW)
    assert torch.equal(plain, first)
    assert [p.suffix for p in (tmp_path / "new" / "dir").iterdir() if p.suffix != ".lock"] == [".pt"]


def _truncate(path):
    path.write_bytes(path.read_bytes()[:200])


def _flip_one_spin(path):
    blob = torch.load(path, weights_only=True)
    blob["spins"][0, 0, 0] *= -1
    torch.save(blob, path)


def _wrong_shape(path):
    blob = torch.load(path, weights_only=True)
    blob["spins"] = blob["spins"][:-1].clone()
    blob["sha256"] = ising_cache._checksum(blob["spins"])
    torch.save(blob, path)


@pytest.mark.parametrize(
    ("corrupt", "reason"),
    [(_truncate, "unreadable"), (_flip_one_spin, "checksum mismatch"), (_wrong_shape, "shape")],
)
def test_corrupt_cache_file_is_regenerated(tmp_path, corrupt, reason):
    original, _ = _cached(tmp_path)
    (path,) = tmp_path.glob("*.pt")
    corrupt(path)
    with pytest.warns(UserWarning, match=rf"corrupt \(.*{reason}.*\); regenerating"):
        again, status = _cached(tmp_path)
    assert status is ising.CacheStatus.regenerated and torch.equal(again, original)
    assert _cached(tmp_path)[1] is ising.CacheStatus.loaded


def test_unwritable_cache_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError, match=r"cache_dir .*a_file/sub.* cannot be created.*writable directory"):
        _cached(blocker / "sub")


def _concurrent_worker(cache_dir, barrier, results):
    torch.set_num_threads(1)
    barrier.wait()
    spins, status = _cached(cache_dir)
    results.put((status.value, spins.numpy().tobytes()))


def test_concurrent_writers_generate_once(tmp_path):
    ctx = mp.get_context("forkserver")  # fork is unsafe after torch threads started; spawn is slower
    ctx.set_forkserver_preload(["models.ising"])
    n = 3
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_concurrent_worker, args=(tmp_path, barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    out = [results.get(timeout=120) for _ in range(n)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    statuses = sorted(s for s, _ in out)
    assert statuses == ["generated"] + ["loaded"] * (n - 1)
    assert len({data for _, data in out}) == 1
    assert not list(tmp_path.glob("*.tmp"))


# ----------------------------------------------------------------------- slow physics tests
@pytest.mark.slow
def test_binder_cumulants_cross_near_T_c():
    """U₄(T) of L = 8, 16, 32 (Wolff) cross within ±0.02 of T_c for every pair of sizes.

    Small sizes get more samples: their U₄ curves are flatter, so the same error in U₄ moves
    their crossing further (the crossing error is ≈ 0.005 here; a long GPU run put the L = 8/16
    crossing at 2.2630 ± 0.0014, slightly below T_c from corrections to scaling).
    """
    temps = [2.24, 2.26, 2.28, 2.30]
    per_chain = {8: 400, 16: 360, 32: 160}
    curves = {}
    for L, k in per_chain.items():
        curves[L] = [
            ising.observables(
                ising.sample(L, T, 64 * k, algorithm="wolff", burn_in=40, seed=100 * L + i, chains=64),
                T,
                chains=64,
            ).binder.value
            for i, T in enumerate(temps)
        ]
    for a, b in itertools.combinations(curves, 2):
        crossing = ising.binder_crossing(temps, curves[a], curves[b])
        print(f"Binder crossing L={a}/L={b}: T = {crossing:.4f} (T_c = {ising.T_CRITICAL:.4f})")
        assert abs(crossing - ising.T_CRITICAL) < 0.02, (a, b, crossing, curves)


def _abs_m_series(step, spins, updates):
    series = []
    for _ in range(updates):
        step(spins)
        series.append(ising.magnetization(spins).abs())
    return torch.stack(series, 1).double().numpy()


@pytest.mark.slow
def test_wolff_beats_critical_slowing_down():
    """τ_int of |m| at T_c, L = 32, in sweeps: Wolff (clusters × ⟨|C|⟩/L²) ≥ 10× smaller than Metropolis."""
    L, T, chains = 32, ising.T_CRITICAL, 16
    gen = torch.Generator().manual_seed(0)
    spins = torch.ones(chains, L, L, dtype=torch.int8)
    ising.metropolis_sweeps(spins, T, 1000, gen)
    tau_metropolis = ising.integrated_autocorr_time(
        _abs_m_series(lambda s: ising.metropolis_sweeps(s, T, 1, gen), spins, 8000)
    )
    spins = torch.ones(chains, L, L, dtype=torch.int8)
    _, sizes = ising.wolff_updates(spins, T, 500, gen)
    tau_clusters = ising.integrated_autocorr_time(
        _abs_m_series(lambda s: ising.wolff_updates(s, T, 1, gen), spins, 1500)
    )
    tau_wolff = tau_clusters * sizes[100:].double().mean().item() / L**2
    print(f"τ_int(|m|) at T_c, L=32: Metropolis {tau_metropolis:.1f} sweeps, Wolff {tau_wolff:.2f} sweeps")
    assert tau_metropolis >= 10 * tau_wolff
