"""Deep energy-based models trained by contrastive maximum likelihood with Langevin samples.

Each step draws a batch from the replay buffer (restarting a `reinit_prob` fraction from
uniform noise), runs `sampler.steps` Langevin steps x ← x − (ε/2)∇E(x) + √(εT)ξ, and
minimises mean E(data) − mean E(samples) + α·mean(E²) (Du & Mordatch 2019), with gradient
clipping. Logged:

- `train/energy_gap` d_t = mean E(data) − mean E(samples), `train/grad_norm`, and
  `train/divergence_flag`, set once |d_t| has grown at `divergence_patience` consecutive logs;
- `obs/mmd`: MMD² between fresh short-run chains (from noise, `eval_steps`) and held-out data;
- `obs/mmd_short_long`: MMD² between those chains and the same chains run `long_run_factor`×
  longer, which exposes the non-convergent regime (Nijkamp et al. 2019, arXiv:1903.12370);
- `obs/mmd_buffer`: MMD² between replay-buffer samples and held-out data.

`population.py` trains a pack of these trials as one batched model; it shares a step's draws
(`draw_batch`), its update once the gradient is in (`apply_gradients`) and the scoring of the
observables (`scores`) with the lone family, whose `step` and `observe` are made of them.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from models import datasets
from models.ebm import EnergyMLP, contrastive_terms, mmd
from models.mcmc.langevin import ReplayBuffer, langevin
from workers.families.ebm.config import EBMTrainConfig, LangevinSamplerConfig


def _load_data(data, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    if data.kind == "ring":
        return datasets.ring_of_gaussians(data.n, generator=gen), datasets.ring_of_gaussians(
            data.n_heldout, generator=gen
        )
    if data.kind == "moons":
        return datasets.two_moons(data.n, generator=gen), datasets.two_moons(data.n_heldout, generator=gen)
    if data.kind == "digits":
        x_train, _ = datasets.digits("train", seed=data.split_seed, scale=datasets.DigitScale.SYMMETRIC)
        x_test, _ = datasets.digits("test", seed=data.split_seed, scale=datasets.DigitScale.SYMMETRIC)
        return x_train, x_test
    raise ValueError(f"the ebm family trains on data.kind=ring|moons|digits, got {data.kind!r}")


class EBMFamily:
    headline_metric = "obs/mmd"

    def __init__(self, spec, device: torch.device) -> None:
        self.cfg: EBMTrainConfig = spec.train
        self.sampler: LangevinSamplerConfig = spec.sampler or LangevinSamplerConfig()
        self.device = device
        self.generator = torch.Generator(device=device).manual_seed(spec.seed)
        x, heldout = _load_data(spec.data, spec.seed)
        self.data, self.heldout = x.to(device), heldout.to(device)
        self.dim = self.data.shape[1]
        self.bandwidth = getattr(spec.data, "mmd_bandwidth", None)
        box = self.sampler.clip if self.dim == 2 else 1.0
        self.box = box
        self.model = EnergyMLP(
            self.dim, spec.model.width, spec.model.depth, generator=torch.Generator().manual_seed(spec.seed)
        ).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.cfg.lr, betas=(self.cfg.beta1, 0.999))
        self.schedule = (
            torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, self.cfg.steps)
            if self.cfg.cosine_decay
            else None
        )
        self.buffer = ReplayBuffer(
            self.sampler.buffer_size,
            self.dim,
            reinit_prob=self.sampler.reinit_prob,
            low=-box,
            high=box,
            generator=self.generator,
            device=device,
        )
        self.gaps: list[float] = []
        self.flag = 0.0

    def _langevin(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        s = self.sampler
        return langevin(
            self.model,
            x,
            steps=steps,
            step_size=s.step_size,
            temperature=s.temperature,
            generator=self.generator,
            clip_x=self.box,
        )

    def step(self, step: int) -> dict[str, float]:
        x_data, x0, slots = self.draw_batch()
        x_samples = self._langevin(x0, self.sampler.steps)
        self.buffer.update(slots, x_samples)
        e_data, e_samples = self.model.energy(x_data), self.model.energy(x_samples)
        loss = contrastive_terms(e_data, e_samples, alpha=self.cfg.alpha)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return self.apply_gradients(loss, e_data, e_samples)

    def draw_batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A step's draws, in order: the data minibatch, and the replay-buffer starts of the chains with
        their slots (x_data, x0, slots)."""
        idx = torch.randint(0, len(self.data), (self.cfg.batch_size,), generator=self.generator, device=self.device)
        x0, slots = self.buffer.sample(self.cfg.batch_size, generator=self.generator)
        return self.data[idx], x0, slots

    def apply_gradients(self, loss: torch.Tensor, e_data: torch.Tensor, e_samples: torch.Tensor) -> dict[str, float]:
        """The rest of a step once the loss's gradient is in the parameters' `.grad`: clip, Adam, the
        schedule, the divergence flag, and the step's metrics."""
        max_norm = self.cfg.grad_clip if self.cfg.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        self.optimizer.step()
        if self.schedule is not None:
            self.schedule.step()
        gap = (e_data.mean() - e_samples.mean()).item()
        k = self.cfg.divergence_patience
        self.gaps = [*self.gaps[-k:], abs(gap)]  # the flag only ever reads the last k + 1
        if len(self.gaps) > k and all(self.gaps[-i] > self.gaps[-i - 1] for i in range(1, k + 1)) and abs(gap) > 1.0:
            self.flag = 1.0
        return {
            "train/loss": loss.item(),
            "train/energy_gap": gap,
            "train/grad_norm": float(grad_norm),
            "train/divergence_flag": self.flag,
        }

    def fresh_starts(self, n: int | None = None) -> torch.Tensor:
        """Starts of fresh chains: n (default `eval_chains`) points uniform in the buffer's box."""
        return self.buffer.uniform(n or self.cfg.eval_chains, generator=self.generator)

    def fresh_samples(self, steps: int, n: int | None = None) -> torch.Tensor:
        return self._langevin(self.fresh_starts(n), steps)

    def observe(self, step: int) -> dict[str, float]:
        short = self.fresh_samples(self.sampler.eval_steps)
        long = self._langevin(short, self.sampler.eval_steps * (self.sampler.long_run_factor - 1))
        return self.scores(short, long)

    def scores(self, short: torch.Tensor, long: torch.Tensor) -> dict[str, float]:
        """The observables of fresh short-run chains and the same chains run longer: their MMD² to the
        held-out data and to each other, and that of replay-buffer points drawn here."""
        ref = self.heldout[: len(short)]
        slots = torch.randint(len(self.buffer), (len(ref),), generator=self.generator, device=self.device)
        buffered = self.buffer.buffer[slots]
        return {
            "obs/mmd": mmd(short, ref, self.bandwidth),
            "obs/mmd_long": mmd(long, ref, self.bandwidth),
            "obs/mmd_short_long": mmd(short, long, self.bandwidth),
            "obs/mmd_buffer": mmd(buffered, ref, self.bandwidth),
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict() if self.schedule is not None else {},
            "buffer": self.buffer.state_dict(),
            "gaps": torch.tensor(self.gaps, dtype=torch.float64),
            "flag": self.flag,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.schedule is not None:
            self.schedule.load_state_dict(state["schedule"])
        self.buffer.load_state_dict(state["buffer"])
        self.gaps = state["gaps"].tolist()
        self.flag = float(state["flag"])
        self.generator.set_state(state["generator"])

    def figures(self, history) -> dict[str, Any]:
        """A scatter of samples over data for 2D data; image tiles for digits."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        samples = self.fresh_samples(self.sampler.eval_steps, 1000 if self.dim == 2 else 64).cpu()
        if self.dim == 2:
            fig, ax = plt.subplots(figsize=(4.5, 4.5))
            ref = self.heldout[:1000].cpu()
            ax.scatter(ref[:, 0], ref[:, 1], s=3, alpha=0.4, label="held-out data")
            ax.scatter(samples[:, 0], samples[:, 1], s=3, alpha=0.6, label="Langevin samples")
            ax.set_xlim(-self.box, self.box)
            ax.set_ylim(-self.box, self.box)
            ax.set_aspect("equal")
            ax.legend(fontsize="small", loc="upper right")
        else:
            side = round(math.sqrt(self.dim))
            fig, axes = plt.subplots(8, 8, figsize=(6, 6))
            for ax, img in zip(axes.flat, samples, strict=False):
                ax.imshow(img.reshape(side, side), cmap="gray", vmin=-1, vmax=1)
                ax.axis("off")
        s = self.sampler
        fig.suptitle(f"EBM samples: T={s.temperature:g}, ε={s.step_size:g}, {s.eval_steps} steps from noise")
        fig.tight_layout()
        return {"samples.png": fig}


FAMILY = EBMFamily
