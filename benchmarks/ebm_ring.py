"""Demo that the EBM recipe learns the 2D ring of Gaussians: MMD to the data before and after.

The recipe: EnergyMLP energy, Adam on `contrastive_loss`, negative samples from short-run
Langevin chains (`langevin`) started from a `ReplayBuffer` (uniform box init, reinit prob).
It reports the MMD² (unbiased, RBF kernel, bandwidth = median heuristic on the data, fixed
for the whole run) of (a) the replay buffer and (b) fresh chains run from the uniform box with
`eval_steps` Langevin steps, against held-out data, at initialisation and at the end.

Why T = 0.25 with ε = 0.01: a mode of curvature λ is sampled by the ULA chain with variance
T/[λ(1 − ελ/4)] (see `models.langevin`), which is at least εT (reached at λ = 2/ε). The ring's
modes have variance σ² = 0.01, so εT must sit well below 0.01: at T = 1, ε = 0.01 the chain can
only just represent them, and training stalls at a blurred ring for some seeds.

    OMP_NUM_THREADS=1 python benchmarks/ebm_ring.py            # ≈ 20 s on one core
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import torch

from models.datasets import ring_of_gaussians
from models.ebm import EnergyMLP, contrastive_loss, median_bandwidth, mmd
from models.langevin import ReplayBuffer, langevin


@dataclasses.dataclass
class RingRecipe:
    """Hyperparameters of the ring demo (see the module docstring)."""

    width: int = 128
    depth: int = 2
    lr: float = 3e-3
    betas: tuple[float, float] = (0.0, 0.999)
    train_steps: int = 2000
    cosine_decay: bool = True
    batch_size: int = 128
    langevin_steps: int = 20
    step_size: float = 0.01
    temperature: float = 0.25
    buffer_size: int = 10_000
    reinit_prob: float = 0.05
    box: float = 3.0
    alpha: float = 0.01
    n_data: int = 10_000
    n_eval: int = 2000
    eval_steps: int = 200
    fine_bandwidth: float = 0.2
    seed: int = 0


def evaluate(model: EnergyMLP, buffer: ReplayBuffer, data: torch.Tensor, r: RingRecipe,
             bandwidth: float, generator: torch.Generator) -> dict[str, float]:
    """MMD² of buffer points and of fresh uniform-started chains against `data`."""
    buffered = buffer.buffer[torch.randperm(len(buffer), generator=generator)[: r.n_eval]]
    fresh = langevin(model, buffer.uniform(r.n_eval, generator=generator), steps=r.eval_steps,
                     step_size=r.step_size, temperature=r.temperature, generator=generator,
                     clip_x=r.box)
    out = {}
    for name, h in (("median", bandwidth), ("fine", r.fine_bandwidth)):
        out[f"mmd_buffer_{name}"] = mmd(buffered, data, h)
        out[f"mmd_fresh_{name}"] = mmd(fresh, data, h)
    return out


def train_ring(r: RingRecipe, log_every: int = 250) -> dict[str, dict[str, float]]:
    """Train with recipe `r`; returns the MMDs at initialisation and at the end."""
    generator = torch.Generator().manual_seed(r.seed)
    data = ring_of_gaussians(r.n_data, generator=generator)
    held_out = ring_of_gaussians(r.n_eval, generator=generator)
    bandwidth = median_bandwidth(held_out)
    model = EnergyMLP(2, r.width, r.depth, generator=generator)
    optimiser = torch.optim.Adam(model.parameters(), lr=r.lr, betas=r.betas)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda t: 0.5 * (1 + math.cos(math.pi * t / r.train_steps)) if r.cosine_decay else 1.0
    )
    buffer = ReplayBuffer(r.buffer_size, 2, reinit_prob=r.reinit_prob, low=-r.box, high=r.box,
                          generator=generator)
    # The buffer at init holds K-step chains under the untrained model, as training would make them.
    buffer.buffer = langevin(model, buffer.buffer, steps=r.langevin_steps, step_size=r.step_size,
                             temperature=r.temperature, generator=generator, clip_x=r.box)
    eval_generator = torch.Generator().manual_seed(r.seed + 1)  # evaluation never perturbs training
    history = {"init": evaluate(model, buffer, held_out, r, bandwidth, eval_generator)}
    print(f"bandwidth={bandwidth:.3f}  init: {history['init']}")
    start = time.perf_counter()
    for step in range(1, r.train_steps + 1):
        x_data = data[torch.randint(r.n_data, (r.batch_size,), generator=generator)]
        x0, idx = buffer.sample(r.batch_size, generator=generator)
        x_samples = langevin(model, x0, steps=r.langevin_steps, step_size=r.step_size,
                             temperature=r.temperature, generator=generator, clip_x=r.box)
        buffer.update(idx, x_samples)
        loss = contrastive_loss(model, x_data, x_samples, r.alpha)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % log_every == 0 or step == r.train_steps:
            metrics = evaluate(model, buffer, held_out, r, bandwidth, eval_generator)
            energies = f"E_data {model.energy(x_data).mean():+.2f} E_samp {model.energy(x_samples).mean():+.2f}"
            print(f"step {step:5d}  loss {loss.item():+.4f}  {energies}  "
                  f"{ {k: round(v, 5) for k, v in metrics.items()} }  "
                  f"{(time.perf_counter() - start) / step * 1e3:.1f} ms/step")
    history["final"] = metrics
    return history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for field in dataclasses.fields(RingRecipe):
        if type(field.default) in (int, float):
            flag = f"--{field.name.replace('_', '-')}"
            parser.add_argument(flag, type=type(field.default), default=field.default)
    parser.add_argument("--no-cosine-decay", dest="cosine_decay", action="store_false")
    args = parser.parse_args()
    torch.set_num_threads(1)
    recipe = RingRecipe(**vars(args))
    print(recipe)
    history = train_ring(recipe)
    g = torch.Generator().manual_seed(recipe.seed + 2)
    a, b = (ring_of_gaussians(recipe.n_eval, generator=g) for _ in range(2))
    floor = {"median": mmd(a, b, median_bandwidth(b)), "fine": mmd(a, b, recipe.fine_bandwidth)}
    print(f"{'metric':<18} {'init':>9} {'final':>9} {'data-vs-data':>12} {'init/final':>10}")
    for key, initial in history["init"].items():
        final = history["final"][key]
        ratio = f"{initial / final:10.1f}" if final > 0 else "   (≤0: at noise floor)"
        print(f"{key:<18} {initial:9.5f} {final:9.5f} {floor[key.rsplit('_', 1)[1]]:12.5f} {ratio}")


if __name__ == "__main__":
    main()
