"""The first transitions of the training cascade: σ_k(W) crossing σ_c = 4 against the χ_k peak.

This trains an RBM by PCD-k with plain SGD on `models.rbm_cascade.clustered_data`: clusters ±ξ_a
with weights w_a, bit-flip noise p, and N visible units. The learning rate is given per 100 visible
units, and the step uses lr·100/N. The data term of the gradient along ξ/√N grows ∝ N, so this keeps
the growth of σ_1 per step about the same for every N. Every `--log-every` steps it logs, for the
top `--modes` modes of W = Σ σ_k u_k v_kᵀ, the singular values σ_k and, on the persistent chains,
the projections m_k = u_k·(2v − 1)/√N: the order parameter ⟨|m_k|⟩ and the susceptibility
χ_k = N(⟨m_k²⟩ − ⟨|m_k|⟩²) (Bachtis, Biroli, Decelle & Seoane, NeurIPS 2024, arXiv:2405.14689).

For each N it prints:

* the step where σ_k first reaches `condensation_threshold()` = 4 (interpolated between logs), with
  the effective threshold 1/√(⟨v(1−v)⟩⟨h(1−h)⟩) of the chains at that step. It is 4 when the
  mean unit activations are 1/2;
* the step of the χ_k peak, from a parabola through the smoothed curve (`models.transitions.
  peak_location`), with σ_k at that step, the peak height and the full width at half maximum (steps);
* ⟨|m_k|⟩ one width before and after the peak.

The defaults (one mode: two clusters ±ξ, p = 0.1) isolate the first transition. With --modes 2 the
second mode condenses later. Once σ_1 ≈ σ_2, u_1 and u_2 rotate within their common plane and χ_1
rises again. So the peak of mode k is searched only before σ_{k+1} crosses the threshold.

The χ's are measured on PCD chains. Near a transition their relaxation time grows (see
`mode_autocorr_times`), so they lag behind the model. This is the same lag that training sees.

    OMP_NUM_THREADS=1 python benchmarks/rbm_cascade.py                 # N = 100 and 400, < 1 min each
    python benchmarks/rbm_cascade.py --N 100 200 400 800 --modes 2 --weights 0.7 0.3 --steps 1500
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from models.rbm import RBM
from models.rbm_cascade import (
    clustered_data,
    condensation_threshold,
    mode_order_parameters,
    mode_projections,
    mode_susceptibilities,
    top_singular_directions,
)
from models.samplers import gibbs
from models.transitions import peak_location


def train(n: int, args) -> dict[str, np.ndarray]:
    """PCD training on clustered data with N = n visible units; returns the logged series."""
    gen = torch.Generator().manual_seed(args.seed)
    data, _ = clustered_data(n, args.samples, n_modes=args.modes, flip_prob=args.flip_prob,
                             weights=args.weights, seed=args.seed)
    rbm = RBM(n, args.hidden or n, init_std=args.init_std, generator=gen)
    with torch.no_grad():  # visible biases at the data log-odds, ≈ 0 for this symmetric mixture
        p = data.mean(0).clamp(1e-3, 1 - 1e-3)
        rbm.visible_bias.copy_(torch.log(p / (1 - p)))
    chains = torch.bernoulli(torch.full((args.chains, n), 0.5), generator=gen)
    log: dict[str, list] = {"step": [], "sigma": [], "chi": [], "abs_m": [], "threshold": []}
    lr = args.lr * 100 / n
    for step in range(args.steps + 1):
        if step % args.log_every == 0:
            with torch.no_grad():
                U, S, _ = top_singular_directions(rbm.W, args.modes)
                m = mode_projections(chains, U)
                var_v = (chains.mean(0) * (1 - chains.mean(0))).mean()
                mu_h = rbm.hidden_probs(chains).mean(0)
                var_h = (mu_h * (1 - mu_h)).mean()
            log["step"].append(step)
            log["sigma"].append(S.numpy())
            log["chi"].append(mode_susceptibilities(m, n).numpy())
            log["abs_m"].append(mode_order_parameters(m).numpy())
            log["threshold"].append(1.0 / math.sqrt(float(var_v * var_h)))
        batch = data[torch.randint(0, len(data), (args.batch,), generator=gen)]
        chains, p_h_neg = gibbs(rbm, chains, steps=args.k, generator=gen)
        with torch.no_grad():
            p_h = rbm.hidden_probs(batch)
            rbm.W += lr * (batch.T @ p_h / len(batch) - chains.T @ p_h_neg / len(chains))
            rbm.visible_bias += lr * (batch.mean(0) - chains.mean(0))
            rbm.hidden_bias += lr * (p_h.mean(0) - p_h_neg.mean(0))
    return {key: np.asarray(val) for key, val in log.items()}


def crossing_step(steps: np.ndarray, series: np.ndarray, level: float) -> float:
    """First step where series reaches level, linearly interpolated between logs; NaN if it never does."""
    above = np.nonzero(series >= level)[0]
    if len(above) == 0:
        return math.nan
    i = above[0]
    if i == 0:
        return float(steps[0])
    frac = (level - series[i - 1]) / (series[i] - series[i - 1])
    return float(steps[i - 1] + frac * (steps[i] - steps[i - 1]))


def peak_summary(steps: np.ndarray, chi: np.ndarray, smooth: int) -> tuple[float, float, float, bool]:
    """(step, height, FWHM in steps, at_edge) of the peak of a moving average of χ over `smooth` logs."""
    kernel = np.ones(smooth) / smooth
    padded = np.pad(chi, (smooth // 2, smooth - 1 - smooth // 2), mode="edge")
    smoothed = np.convolve(padded, kernel, mode="valid")
    i = int(np.argmax(smoothed))
    estimate = peak_location(steps, smoothed, n_boot=0, half_window=max(2, smooth // 2))
    half = smoothed[i] / 2
    left, right = i, i
    while left > 0 and smoothed[left - 1] >= half:
        left -= 1
    while right < len(smoothed) - 1 and smoothed[right + 1] >= half:
        right += 1
    return float(estimate.location), float(smoothed[i]), float(steps[right] - steps[left]), estimate.details["at_edge"]


def report(n: int, log: dict[str, np.ndarray], seconds: float, smooth: int) -> None:
    steps, sigma_c = log["step"], condensation_threshold()
    n_modes = log["sigma"].shape[1]
    crossings = [crossing_step(steps, log["sigma"][:, k], sigma_c) for k in range(n_modes)]
    print(f"\nN = {n}: {len(steps)} logs in {seconds:.0f} s; final σ = {np.round(log['sigma'][-1], 2).tolist()}")
    for k, cross in enumerate(crossings):
        eff = np.interp(cross, steps, log["threshold"]) if math.isfinite(cross) else math.nan
        end = crossings[k + 1] if k + 1 < n_modes and math.isfinite(crossings[k + 1]) else math.inf
        window = steps < end
        peak, height, width, at_edge = peak_summary(steps[window], log["chi"][window, k], smooth)
        sigma_at_peak = np.interp(peak, steps, log["sigma"][:, k])
        before = np.interp(peak - width, steps, log["abs_m"][:, k])
        after = np.interp(peak + width, steps, log["abs_m"][:, k])
        print(f"  mode {k + 1}: σ_{k + 1} crosses {sigma_c:g} at step {cross:6.0f} (effective threshold there "
              f"{eff:.2f}); χ_{k + 1} peaks at step {peak:6.0f} where σ_{k + 1} = {sigma_at_peak:.2f}, height "
              f"{height:5.2f}, FWHM {width:4.0f} steps; ⟨|m_{k + 1}|⟩ {before:.2f} → {after:.2f}"
              + ("  [peak at the edge of its window: unresolved, train longer]" if at_edge else ""))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--N", type=int, nargs="+", default=[100, 400], help="visible units")
    p.add_argument("--hidden", type=int, default=100, help="hidden units (0: as many as visible)")
    p.add_argument("--modes", type=int, default=1, help="data modes ±ξ_a, and SVD modes tracked")
    p.add_argument("--weights", type=float, nargs="+", default=None, help="mode weights w_a (default: equal)")
    p.add_argument("--flip-prob", type=float, default=0.1)
    p.add_argument("--samples", type=int, default=4096)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--chains", type=int, default=1024, help="persistent chains, also the χ sample")
    p.add_argument("--k", type=int, default=5, help="Gibbs steps per update (PCD-k)")
    p.add_argument("--lr", type=float, default=0.005, help="per 100 visible units")
    p.add_argument("--init-std", type=float, default=0.01)
    p.add_argument("--log-every", type=int, default=2)
    p.add_argument("--smooth", type=int, default=5, help="moving-average window of χ, in logs")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.weights is not None and len(args.weights) != args.modes:
        p.error(f"--weights needs {args.modes} values (one per mode), got {len(args.weights)}")
    print(f"PCD-{args.k}, lr {args.lr}, batch {args.batch}, {args.chains} chains, hidden {args.hidden or 'N'}, "
          f"modes {args.modes} with weights {args.weights}, flip p = {args.flip_prob}; torch threads "
          f"{torch.get_num_threads()}")
    for n in args.N:
        start = time.perf_counter()
        log = train(n, args)
        report(n, log, time.perf_counter() - start, args.smooth)


if __name__ == "__main__":
    main()
