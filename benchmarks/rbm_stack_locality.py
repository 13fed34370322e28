"""Do stacked RBMs trained on critical Ising configurations learn local receptive fields? (Mehta & Schwab 2014)

Mehta & Schwab, arXiv:1410.3831, train a deep belief network 1600 → 400 → 100 → 25 greedily, layer by layer,
on 40×40 Ising configurations at T = 2.269 ≈ T_c with an L1 penalty on the weights, and show that the
first layer's receptive fields are local blobs. This script repeats that and measures it
(`models.rbm.stack`):

1. `--samples` configurations from Swendsen–Wang chains at T (`sample_sw`, seeded);
2. each layer an RBM trained by CD-k (PCD-k with `--persistent`), SGD with momentum, L1 strength `--l1`;
   the next layer's data is the previous layer's hidden probabilities (mean field; `--sample-up` draws them);
3. for layer 1, per window size b, the mean over units of `locality` (the largest share of Σ_i W_ij² inside
   one b×b periodic window) against the mean of `shuffled_locality` (every unit's weights permuted over the
   sites, averaged over `--shuffles` permutations), and their ratio. The acceptance check asks for a
   ratio ≥ 5 at `--accept-window`; the window of the largest ratio is printed too. For the deeper layers the
   same numbers are printed for their linear fields on the lattice, W₁W₂ and W₁W₂W₃ (`composite_weights`),
   which drop the sigmoids between layers.

The layer-1 fields are saved as an image grid (`--out`). Progress is printed every epoch.

Reading the ratio. The shuffled baseline keeps each unit's weight values, so it grows as the fields get
sparser: a field of m equal weights has a baseline ≥ 1/m and a ratio ≤ m at any window. With L1 the fields
first condense into blobs (the ratio rises, to ≈ 7 after ~500 updates) and then keep shrinking toward a few
sites while their locality → 1, so the ratio falls again (≈ 6 after 1000 updates, ≈ 4–5 after 2000 at
20000 samples). The default acceptance window b = 5 is where the default fields hold ≈ 90 % of Σ W² (their
support) and where the ratio peaks; b = 4 and 6 give ratios within ±0.3 of it.

    python benchmarks/rbm_stack_locality.py                    # defaults: ~1.5 min on an idle core
    python benchmarks/rbm_stack_locality.py --l1 0             # no L1: blobs on a noisy background
    python benchmarks/rbm_stack_locality.py --deep-out fields  # also fields_layer2.png, fields_layer3.png
"""

from __future__ import annotations

import argparse
import time

import torch

from models.ising import T_CRITICAL, sample_sw
from models.rbm.model import RBM, spins_to_visible
from models.rbm.stack import (
    composite_weights,
    locality,
    propagate_up,
    receptive_field_figure,
    reconstruct,
    shuffled_locality,
    train_layer,
    visible_bias_from_data,
)


def int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 400,100,25, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def locality_rows(W: torch.Tensor, L: int, windows: list[int], shuffles: int, seed: int) -> list[tuple]:
    """Per window b: (b, b²/L², mean locality, mean shuffled baseline, ratio of the means, share of units whose
    own locality is ≥ 5× their own baseline). Units with W = 0 (NaN) are skipped."""
    rows = []
    for b in windows:
        local = locality(W, L, b)
        baseline = torch.stack(
            [shuffled_locality(W, L, b, torch.Generator().manual_seed(seed + s)) for s in range(shuffles)]
        ).mean(0)
        mean_local, mean_base = local.nanmean().item(), baseline.nanmean().item()
        share = (local >= 5 * baseline).double().mean().item()
        rows.append((b, b * b / (L * L), mean_local, mean_base, mean_local / mean_base, share))
    return rows


def print_rows(title: str, rows: list[tuple], accept: int | None = None) -> None:
    best = max(rows, key=lambda r: r[4])[0]
    print(f"\n{title}")
    print(f"  {'b':>3s} {'b²/L²':>7s} {'locality':>9s} {'shuffled':>9s} {'ratio':>6s} {'units ≥5×':>10s}")
    for b, uniform, local, base, ratio, share in rows:
        mark = ("  ← best" if b == best else "") + ("  (acceptance window)" if b == accept else "")
        print(f"  {b:3d} {uniform:7.4f} {local:9.3f} {base:9.3f} {ratio:6.2f} {share:10.2f}{mark}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--L", type=int, default=40)
    p.add_argument("--T", type=float, default=round(T_CRITICAL, 3))
    p.add_argument("--samples", type=int, default=20000)
    p.add_argument("--chains", type=int, default=1000, help="independent SW chains (samples / chains each)")
    p.add_argument("--burn-in", type=int, default=100)
    p.add_argument("--thin", type=int, default=3, help="SW sweeps between recorded samples of a chain")
    p.add_argument("--hidden", type=int_list, default=[400, 100, 25], help="hidden units per layer")
    p.add_argument("--epochs", type=int, default=5, help="epochs of layer 1")
    p.add_argument("--deep-epochs", type=int, default=5, help="epochs of every deeper layer")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.5)
    p.add_argument("--l1", type=float, default=1e-2, help="L1 strength λ (penalty λ Σ|W| per minibatch mean)")
    p.add_argument("--k", type=int, default=1, help="Gibbs steps per update (CD-k / PCD-k)")
    p.add_argument("--persistent", action="store_true", help="PCD instead of CD")
    p.add_argument("--sample-up", action="store_true", help="train deeper layers on sampled, not mean-field, h")
    p.add_argument("--windows", type=int_list, default=[2, 3, 4, 5, 6, 8])
    p.add_argument("--accept-window", type=int, default=5, help="window of the acceptance check (ratio ≥ 5)")
    p.add_argument("--deep-windows", type=int_list, default=[4, 6, 8, 12, 16])
    p.add_argument("--shuffles", type=int, default=5, help="permutations averaged for the baseline")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="rbm_stack_fields.png", help="image grid of the layer-1 receptive fields")
    p.add_argument("--deep-out", default="", help="if given, PREFIX: save W₁⋯W_ℓ of layer ℓ ≥ 2 to PREFIX_layerℓ.png")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    L = args.L

    spins = sample_sw(L, args.T, args.samples, chains=args.chains, burn_in=args.burn_in, thin=args.thin, seed=args.seed)
    data = spins_to_visible(spins)
    print(
        f"{args.samples} SW configurations, L = {L}, T = {args.T} ({args.chains} chains, burn-in {args.burn_in}, "
        f"thin {args.thin}), <|m|> = {spins.float().mean((1, 2)).abs().mean():.3f}: {time.perf_counter() - start:.0f} s"
    )
    rule = f"{'PCD' if args.persistent else 'CD'}-{args.k}"
    print(
        f"stack {L * L} → {' → '.join(map(str, args.hidden))}, {rule}, lr {args.lr}, momentum {args.momentum}, "
        f"L1 {args.l1}, batch {args.batch_size}, epochs {args.epochs} (deeper {args.deep_epochs}), "
        f"{'sampled' if args.sample_up else 'mean-field'} propagation"
    )

    gen = torch.Generator().manual_seed(args.seed + 1)
    stack: list[RBM] = []
    layer_data = data
    for depth, n_hidden in enumerate(args.hidden, start=1):
        rbm = visible_bias_from_data(RBM(layer_data.shape[1], n_hidden, generator=gen), layer_data)
        t0 = time.perf_counter()

        def progress(epoch: int, error: float, rbm: RBM = rbm, depth: int = depth, t0: float = t0) -> None:
            line = f"  layer {depth} epoch {epoch:3d}: recon error {error:.4f}, {time.perf_counter() - t0:5.0f} s"
            if depth == 1:
                b = args.accept_window
                local = locality(rbm.W, L, b).nanmean().item()
                base = shuffled_locality(rbm.W, L, b, torch.Generator().manual_seed(args.seed)).nanmean().item()
                line += f", locality(b={b}) {local:.3f} / shuffled {base:.3f} = {local / base:.2f}"
            print(line, flush=True)

        train_layer(
            rbm,
            layer_data,
            epochs=args.epochs if depth == 1 else args.deep_epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            momentum=args.momentum,
            l1=args.l1,
            k=args.k,
            generator=gen,
            persistent=args.persistent,
            on_epoch=progress,
        )
        stack.append(rbm)
        layer_data = propagate_up(rbm, layer_data, sample=args.sample_up, generator=gen)
    t_train = time.perf_counter() - start

    rows = locality_rows(stack[0].W.detach(), L, args.windows, args.shuffles, args.seed + 100)
    print_rows(
        f"layer 1 ({args.hidden[0]} units): mean over units, baseline over {args.shuffles} shuffles",
        rows,
        args.accept_window,
    )
    for depth in range(2, len(stack) + 1):
        deep = locality_rows(composite_weights(stack, depth), L, args.deep_windows, args.shuffles, args.seed + 100)
        print_rows(f"layer {depth} ({args.hidden[depth - 1]} units), linear fields W₁⋯W{depth} on the lattice", deep)
        if args.deep_out:
            title = f"layer {depth}: W1…W{depth} on the lattice"
            receptive_field_figure(composite_weights(stack, depth), L, 64, title=title).savefig(
                f"{args.deep_out}_layer{depth}.png", dpi=80
            )

    probe = data[: min(2000, len(data))]
    errors = [(reconstruct(stack, probe, d) - probe).pow(2).mean().item() for d in range(len(stack) + 1)]
    print("\nmean-field reconstruction error per unit (2000 training configurations) by depth:")
    print("  " + "  ".join(f"depth {d}: {e:.4f}" for d, e in enumerate(errors)))

    fig = receptive_field_figure(stack[0].W, L, 64, title=f"layer 1, L1 = {args.l1}, {rule}, {args.epochs} epochs")
    fig.savefig(args.out, dpi=80)
    accepted = {r[0]: r[4] for r in rows}.get(args.accept_window)
    verdict = "not measured" if accepted is None else f"{accepted:.2f} → {'MET' if accepted >= 5 else 'NOT met'}"
    print(f"\nacceptance: layer-1 locality / shuffled at b = {args.accept_window} ≥ 5: {verdict}")
    print(f"fields saved to {args.out}; training {t_train:.0f} s, total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
