"""The RBM flow of Iso, Shiba & Yokoo, PRE 97, 053304 (2018): does it approach T_c from both phases?

One RBM (n_hidden = 64 by default) is trained with CD-k (or PCD-k) on L×L Ising configurations
pooled from an even grid of temperatures in a training range (`models.rbm.flow.train_rbm_on_temperatures`).
Flows v⁽⁰⁾ → v⁽¹⁾ → … (`rbm_flow`, sampled Bernoulli units) start from Swendsen–Wang configurations
at several T₀, and the temperature of every step is read by energy matching against the MC curve
e(T) at the same L (`EnergyThermometer`, not a neural thermometer: see arXiv:2006.10176). Target:
T₀ = 1.5 and T₀ = 4.0 both end within ±15 % of T_c = 2.269 after `--steps` steps.

The whole protocol is repeated for every training range in `--ranges`, to show whether the end point
depends on what the RBM was trained on. Two reference temperatures are printed with each table: that
of the pooled training set itself, and that of the RBM's own stationary distribution, read after
`--long-steps` flow steps from random configurations. A sampled flow is a Markov chain of the RBM, so
with enough steps it ends at that stationary distribution whatever T₀ was.

    python benchmarks/rbm_flow.py                       # L = 8, four training ranges: ~3 min on one core
    python benchmarks/rbm_flow.py --ranges 0.25:6.0 --train-temperatures 24   # Iso et al.'s range
    python benchmarks/rbm_flow.py --ranges 1.0:3.5 --persistent --k 5         # PCD-5
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from models.ising import T_CRITICAL, sample_sw
from models.rbm import EnergyThermometer, ising_training_set, rbm_flow, spins_to_visible, train_rbm_on_temperatures


def parse_range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a training range is T_MIN:T_MAX, e.g. 1.0:3.5, got {text!r}") from None
    if not 0 < lo < hi:
        raise argparse.ArgumentTypeError(f"a training range needs 0 < T_MIN < T_MAX, got {text!r}")
    return lo, hi


def fmt(reading: tuple[float, float]) -> str:
    T, err = reading
    return f"{T:5.2f}±{err:4.2f}" if np.isfinite(err) else f"{T:5.2f}(edge)"


def run_range(args, lo: float, hi: float, thermometer: EnergyThermometer, starts: dict[float, torch.Tensor]):
    """Train on [lo, hi], flow from every start, print the table; returns {T₀: final (T, σ)}."""
    temperatures = np.linspace(lo, hi, args.train_temperatures)
    t0 = time.perf_counter()
    data = ising_training_set(args.L, temperatures, args.samples_per_T, seed=args.seed)
    rbm = train_rbm_on_temperatures(
        args.L,
        temperatures,
        args.n_hidden,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        k=args.k,
        persistent=args.persistent,
        seed=args.seed,
        data=data,
    )
    t_train = time.perf_counter() - t0
    gen = torch.Generator().manual_seed(args.seed + 1)
    flows = {T0: rbm_flow(rbm, v0, args.steps, generator=gen) for T0, v0 in starts.items()}
    noise = torch.bernoulli(torch.full((args.flows, args.L**2), 0.5), generator=gen)
    stationary = thermometer.temperature(rbm_flow(rbm, noise, args.long_steps, generator=gen)[-1])
    rule = f"{'PCD' if args.persistent else 'CD'}-{args.k}"
    print(
        f"\ntraining range T ∈ [{lo}, {hi}] ({args.train_temperatures} temperatures × {args.samples_per_T}), "
        f"{rule}, {args.epochs} epochs, lr {args.lr}: trained in {t_train:.0f} s; "
        f"top singular values of W: {', '.join(f'{s:.2f}' for s in torch.linalg.svdvals(rbm.W)[:3].tolist())}"
    )
    print(
        f"  T of the pooled training set: {fmt(thermometer.temperature(data))};  "
        f"T of the RBM's stationary distribution ({args.long_steps} steps from noise): {fmt(stationary)}"
    )
    print("  step " + "".join(f"{'T0 = ' + str(T0):>13s}" for T0 in starts))
    for n in range(args.steps + 1):
        print(f"  {n:4d} " + "".join(f"{fmt(thermometer.temperature(flows[T0][n])):>13s}" for T0 in starts))
    return {T0: thermometer.temperature(flow[-1]) for T0, flow in flows.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--L", type=int, default=8)
    p.add_argument("--n-hidden", type=int, default=64)
    p.add_argument("--ranges", type=parse_range, nargs="+", default=[(1.0, 3.5), (2.0, 2.6), (1.0, 2.0), (2.6, 4.0)])
    p.add_argument("--train-temperatures", type=int, default=11, help="evenly spaced in each range")
    p.add_argument("--samples-per-T", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--k", type=int, default=1, help="Gibbs steps per update (CD-k / PCD-k)")
    p.add_argument("--persistent", action="store_true", help="PCD instead of CD")
    p.add_argument("--starts", type=float, nargs="+", default=[1.5, 2.0, 2.5, 3.0, 4.0], help="T₀ of the flows")
    p.add_argument("--flows", type=int, default=500, help="independent flows (MC configurations) per T₀")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--long-steps", type=int, default=500)
    p.add_argument("--thermometer-samples", type=int, default=1000, help="SW samples per grid temperature")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()

    grid = np.round(np.arange(0.5, 6.5 + 1e-9, 0.1), 3)
    thermometer = EnergyThermometer.fit(args.L, grid, n_samples=args.thermometer_samples, seed=args.seed + 100)
    starts = {
        T0: spins_to_visible(sample_sw(args.L, T0, args.flows, seed=args.seed + 200 + i))
        for i, T0 in enumerate(args.starts)
    }
    print(
        f"L = {args.L}, n_hidden = {args.n_hidden}, {args.flows} flows per T₀, {args.steps} steps; energy "
        f"thermometer on T ∈ [{grid[0]}, {grid[-1]}] step 0.1 ({args.thermometer_samples} SW samples each, "
        f"{time.perf_counter() - start:.0f} s); T_c = {T_CRITICAL:.3f}, ±15 % = "
        f"[{0.85 * T_CRITICAL:.3f}, {1.15 * T_CRITICAL:.3f}]"
    )
    ends = {(lo, hi): run_range(args, lo, hi, thermometer, starts) for lo, hi in args.ranges}

    print(f"\nafter {args.steps} steps, T / T_c (target: T₀ = 1.5 and 4.0 within 0.85 … 1.15):")
    for (lo, hi), end in ends.items():
        cells = "  ".join(f"T0={T0}: {T / T_CRITICAL:.3f}" for T0, (T, _) in end.items())
        met = all(abs(end[T0][0] / T_CRITICAL - 1) <= 0.15 for T0 in (1.5, 4.0) if T0 in end)
        print(f"  [{lo}, {hi}]  {cells}  target {'met' if met else 'NOT met'}")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
