"""CD-1 training throughput of an RBM: steps per second, achieved TFLOP/s, float32 against float64.

One CD-1 step on a batch of B visible vectors, with the matrix products it runs (each 2·B·n_v·n_h
FLOPs; the element-wise sigmoid, sampling and update work is not counted):

* manual: p_h = σ(c + vW) on the data (1), `models.mcmc.gibbs` with steps=1: v → h → v' → p_h'
  (3), and the gradient ⟨v p_hᵀ⟩_data − ⟨v' p_h'ᵀ⟩_model (2). That is 6 products, applied by SGD.
* autograd: the update of `workers/families/rbm.py`. It runs gibbs (3), the free energies F(v) and
  F(v') (2), and the backward pass of their gap, ∂/∂W = vᵀσ(·) for each (2). That is 7 products,
  applied by torch.optim.SGD.

The achieved rate is compared with two references. One is this device's rate on a plain matmul of
the same shape (B×n_v)·(n_v×n_h), timed here, which says how close CD-1 gets to the GEMM it is made
of. The other is `--peak-tflops`, a nominal peak given by the user. On a CPU, that is cores × clock ×
FLOPs/cycle, e.g. 1 core × 3 GHz × 32 (AVX2, 2 FMA units, fp32) ≈ 0.1 TFLOP/s, half that in fp64.
On an H100 SXM it is ≈ 67 TFLOP/s fp32 without tensor cores. No default: the ratio prints n/a.

    OMP_NUM_THREADS=1 python benchmarks/rbm_cd_throughput.py              # CPU, < 1 minute
    python benchmarks/rbm_cd_throughput.py --device cuda --peak-tflops 67
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from models.mcmc import gibbs
from models.rbm import RBM


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def manual_cd1(rbm: RBM, v: torch.Tensor, lr: float, gen: torch.Generator) -> None:
    """One CD-1 step with the gradient written out: 6 matrix products."""
    with torch.no_grad():
        p_h = rbm.hidden_probs(v)
        v_neg, p_h_neg = gibbs(rbm, v, steps=1, generator=gen)
        rbm.W += lr * (v.T @ p_h - v_neg.T @ p_h_neg) / len(v)
        rbm.visible_bias += lr * (v - v_neg).mean(0)
        rbm.hidden_bias += lr * (p_h - p_h_neg).mean(0)


def autograd_cd1(rbm: RBM, v: torch.Tensor, opt: torch.optim.Optimizer, gen: torch.Generator) -> None:
    """One CD-1 step as `workers/families/rbm.py` takes it: ∇[F(v) − F(v')] by autograd, 7 products."""
    v_neg, _ = gibbs(rbm, v, steps=1, generator=gen)
    gap = rbm.free_energy(v).mean() - rbm.free_energy(v_neg).mean()
    opt.zero_grad(set_to_none=True)
    gap.backward()
    opt.step()


def seconds_per_call(fn: Callable[[], None], device: torch.device, seconds: float, repeats: int = 3) -> float:
    """Wall time of one fn() call: the best of `repeats` averages, each over calls filling seconds/repeats.

    The best of several averages is the least disturbed by other load on a shared machine.
    """
    fn()
    fn()
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / repeats or calls < 2:
            fn()
            calls += 1
            if calls % 4 == 0:
                _sync(device)
        _sync(device)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def measure(args, dtype: torch.dtype, device: torch.device) -> dict[str, float]:
    """Seconds per call of a bare GEMM, a manual CD-1 step and an autograd CD-1 step, in `dtype`."""
    gen = torch.Generator(device=device).manual_seed(0)
    rbm = RBM(args.n_visible, args.n_hidden, init_std=0.01).to(device=device, dtype=dtype)
    v = torch.bernoulli(torch.full((args.batch, args.n_visible), 0.5, device=device, dtype=dtype), generator=gen)
    W = rbm.W.detach().clone()
    opt = torch.optim.SGD(rbm.parameters(), lr=1e-3)
    return {
        "gemm": seconds_per_call(lambda: v @ W, device, args.seconds),
        "manual": seconds_per_call(lambda: manual_cd1(rbm, v, 1e-3, gen), device, args.seconds),
        "autograd": seconds_per_call(lambda: autograd_cd1(rbm, v, opt, gen), device, args.seconds),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, …")
    p.add_argument("--n-visible", type=int, default=1024)
    p.add_argument("--n-hidden", type=int, default=1024)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--seconds", type=float, default=4.0, help="target time per measurement")
    p.add_argument("--peak-tflops", type=float, default=None, help="nominal fp32 peak of the device, TFLOP/s")
    args = p.parse_args()
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    product = 2.0 * args.batch * args.n_visible * args.n_hidden
    print(f"RBM {args.n_visible}×{args.n_hidden}, batch {args.batch}; torch {torch.__version__} on {device} ({where})")
    print(f"one matrix product = {product / 1e9:.2f} GFLOP; manual CD-1 = 6, autograd CD-1 = 7 products")
    results = {dtype: measure(args, dtype, device) for dtype in (torch.float32, torch.float64)}
    n_products = {"gemm": 1, "manual": 6, "autograd": 7}
    for dtype, times in results.items():
        gemm_tflops = product / times["gemm"] / 1e12
        for name, sec in times.items():
            tflops = n_products[name] * product / sec / 1e12
            peak = args.peak_tflops * (0.5 if dtype == torch.float64 else 1.0) if args.peak_tflops else None
            vs_peak = f"{tflops / peak:6.1%}" if peak else "   n/a"
            print(f"{dtype!s:14s} {name:9s} {1 / sec:9.2f} calls/s  {tflops:8.4f} TFLOP/s  "
                  f"{tflops / gemm_tflops:6.1%} of GEMM  {vs_peak} of peak")
    for name in ("manual", "autograd"):
        ratio = results[torch.float64][name] / results[torch.float32][name]
        print(f"float64 / float32 time per {name} CD-1 step: {ratio:.2f}×")


if __name__ == "__main__":
    main()
