"""A pack of RBM trials as one batched model: W of shape (P, n_v, n_h), one CD-k / PCD-k step for all.

Members may differ in `data.temperature`, `seed`, `train.lr`, `train.weight_decay`, `train.momentum`
and `model.init_std` (the keys in `config.CHECKS.packable`): none of them changes a tensor's shape.
Everything else (width, L, steps, batch size, chains, rule, optimiser, schedule) is the pack's.

Each member draws every random number from its own `torch.Generator`, seeded by its trial seed, in the
order `RBMFamily` draws them (initial chains, then per step the batch rows and the Gibbs noise; at each
observation fresh chains and their noise, or the noise of the continued measurement chains). So a
member computes the same thing whichever members share its pack, and the same as its unpacked twin up
to the rounding of batched against single matrix products.

The update is `torch.optim`'s, written over the population axis with per-member tensors (P,):
SGD (PyTorch's form: b ← μ b + g + λ θ, θ ← θ − η b) and Adam (Kingma & Ba 2015, with PyTorch's L2
weight decay), and the learning-rate schedules in closed form (cosine: η_t = η (1 + cos(π t / T)) / 2;
exponential: η_t = η γᵗ). A member's state is saved in `RBMFamily`'s format, so a trial checkpointed in
a pack resumes alone and the other way round.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from models.mcmc import gibbs
from models.rbm import RBM, spins_to_visible
from models.rbm import cascade as rbm_cascade
from workers.families.base import OptimizerName
from workers.families.rbm.config import LearningRule, LRSchedule
from workers.families.rbm.family import (
    cascade_figure,
    errors,
    load_spins,
    make_optimizer,
    make_schedule,
    mode_observables,
    sample_model,
    samples_figure,
    spin_observables,
    tau_m1,
)

PARAMS = ("W", "visible_bias", "hidden_bias")
"""The RBM's parameters, in `RBM.parameters()` order (the optimiser state's indices)."""


class RBMPopulation:
    headline_metric = "obs/energy_error"

    def __init__(self, specs, device: torch.device) -> None:
        lead = specs[0]
        self.size = len(specs)
        self.specs = specs
        self.cfg = lead.train
        self.device = device
        self.gens = [torch.Generator(device=device).manual_seed(s.seed) for s in specs]
        data = lead.data
        if data.kind == "ising":
            self.L = data.L
            self.T = [s.data.temperature for s in specs]
            self.data = torch.stack([spins_to_visible(load_spins(s.data, s.seed)) for s in specs]).to(device)
        else:
            self.L, self.T = None, [None] * self.size
            self.data = torch.stack(
                [
                    rbm_cascade.clustered_data(
                        s.data.N, s.data.n_samples, n_modes=s.data.n_modes, flip_prob=s.data.flip_prob, seed=s.seed
                    )[0]
                    for s in specs
                ]
            ).to(device)
            self.headline_metric = "obs/sigma_1"
        n_v = self.data.shape[-1]
        rbms = [
            RBM(n_v, s.model.width, init_std=s.model.init_std, generator=torch.Generator().manual_seed(s.seed))
            for s in specs
        ]
        p = self.data.mean(1).clamp(1e-3, 1 - 1e-3)  # visible biases at the data log-odds
        self.params = {
            "W": torch.stack([r.W.detach() for r in rbms]).to(device),
            "visible_bias": torch.log(p / (1 - p)),
            "hidden_bias": torch.zeros(self.size, lead.model.width, device=device),
        }
        per = lambda f: torch.tensor([float(f(s)) for s in specs], device=device)  # noqa: E731
        self.lr = per(lambda s: s.train.lr)
        self.lr_exact = torch.tensor([float(s.train.lr) for s in specs], dtype=torch.float64)
        """The learning rates as configured, for `train/lr` (the float32 `lr` computes)."""
        self.weight_decay = per(lambda s: s.train.weight_decay)
        self.momentum = per(lambda s: s.train.momentum)
        self.buffers: dict[str, dict[str, torch.Tensor]] = {}
        """Optimiser state per parameter: SGD `momentum_buffer`; Adam `exp_avg`, `exp_avg_sq`."""
        self.updates = torch.zeros(self.size, dtype=torch.long)
        """Updates done per member (the schedule's and Adam's step count)."""
        chains = self.cfg.sample_chains if self.cfg.rule is LearningRule.pcd else self.cfg.batch_size
        self.chains = torch.stack(
            [torch.bernoulli(torch.full((chains, n_v), 0.5, device=device), generator=g) for g in self.gens]
        )
        self.measure: list[torch.Tensor | None] = [None] * self.size
        """Per member, as `RBMFamily.measure`: the last observe's chains when they are warm-started."""
        self.data_spin_obs = [spin_observables(self.data[i], self.L, self.T[i], "data") for i in range(self.size)]

    # -------------------------------------------------------------------------------- update
    def _lr_at(self, t: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        """The learning rate after t updates, in closed form."""
        t = t.to(lr)
        if self.cfg.lr_schedule is LRSchedule.cosine:
            return lr * (1 + torch.cos(math.pi * t / self.cfg.steps)) / 2
        if self.cfg.lr_schedule is LRSchedule.exponential:
            return lr * self.cfg.lr_decay**t
        return lr

    def step(self, step: int, members: list[int]) -> list[dict[str, float]]:
        m = torch.tensor(members, device=self.device)
        cfg = self.cfg
        rows = torch.stack(
            [torch.randint(0, self.data.shape[1], (cfg.batch_size,), generator=self.gens[i]) for i in members]
        ).to(self.device)
        batch = torch.gather(self.data[m], 1, rows.unsqueeze(-1).expand(-1, -1, self.data.shape[-1]))
        theta = {k: v[m].clone().requires_grad_(True) for k, v in self.params.items()}
        rbm = RBM.of(*(theta[k] for k in PARAMS))
        start = self.chains[m] if cfg.rule is LearningRule.pcd else batch
        negative, _ = gibbs(rbm, start, steps=cfg.k, generator=[self.gens[i] for i in members])
        if cfg.rule is LearningRule.pcd:
            self.chains[m] = negative
        gap = rbm.free_energy(batch).mean(-1) - rbm.free_energy(negative).mean(-1)
        gap.sum().backward()  # members are independent: each one's gradient is its own gap's
        t = self.updates[m]
        lr = self._lr_at(t, self.lr[m])
        with torch.no_grad():
            for key, value in theta.items():
                self.params[key][m] = self._update(key, m, value, value.grad, lr, t)
            self.updates[m] += 1
            updated = RBM.of(*(self.params[k][m] for k in PARAMS))  # the reconstruction is the updated model's
            recon = updated.visible_probs(updated.hidden_probs(batch))
            recon_error = (batch - recon).pow(2).mean((-1, -2))
            next_lr = self._lr_at((t + 1).cpu(), self.lr_exact[m.cpu()])
        return [
            {"train/free_energy_gap": float(g), "train/recon_error": float(r), "train/lr": float(e)}
            for g, r, e in zip(gap.detach(), recon_error, next_lr, strict=True)
        ]

    def _update(self, key, m, theta, grad, lr, t) -> torch.Tensor:
        shape = (-1,) + (1,) * (theta.ndim - 1)
        grad = grad + self.weight_decay[m].view(shape) * theta
        state = self.buffers.setdefault(key, {})
        if self.cfg.optimizer is OptimizerName.adam:
            beta1, beta2, eps = 0.9, 0.999, 1e-8
            m1 = state.setdefault("exp_avg", torch.zeros_like(self.params[key]))
            m2 = state.setdefault("exp_avg_sq", torch.zeros_like(self.params[key]))
            m1[m] = beta1 * m1[m] + (1 - beta1) * grad
            m2[m] = beta2 * m2[m] + (1 - beta2) * grad * grad
            n = (t + 1).to(theta).view(shape)
            denom = (m2[m] / (1 - beta2**n)).sqrt() + eps
            return theta - lr.view(shape) * (m1[m] / (1 - beta1**n)) / denom
        mu = self.momentum[m].view(shape)
        buf = state.setdefault("momentum_buffer", torch.zeros_like(self.params[key]))
        fresh = (t == 0).view(shape).to(theta)  # torch's first step: the buffer is the gradient itself
        buf[m] = fresh * grad + (1 - fresh) * (mu * buf[m] + grad)
        step = torch.where(mu != 0, buf[m], grad)
        return theta - lr.view(shape) * step

    # ------------------------------------------------------------------------- observables
    @torch.no_grad()
    def _model_samples(self, members: list[int], directions: torch.Tensor | None):
        """Each member's model configurations, its trace of v·u₁ given the directions u₁ (P, n_v), and its
        chain diagnostics: `sample_model` as `RBMFamily.model_samples` calls it.

        Members with warm measurement chains and members without (at their first observe, or resumed
        from a checkpoint without them) are sampled apart. On a CPU the members' chains are sampled a few
        members at a time, each slice about 1 MiB, so that a Gibbs step works in cache; sampling is bound
        by drawing random numbers there, which batching does not make cheaper. On a GPU all go at once."""
        cfg = self.cfg
        pcd = cfg.rule is LearningRule.pcd
        keep = bool(cfg.sample_warm_steps) and not pcd
        per = 1 << 20 if self.device.type == "cpu" else 1 << 62
        width = max(1, per // (4 * max(cfg.sample_chains, 1) * self.data.shape[-1]))
        samples: list[Any] = [None] * len(members)
        traces: list[Any] = [None] * len(members)
        infos: list[Any] = [None] * len(members)
        warm = [j for j, i in enumerate(members) if keep and self.measure[i] is not None]
        cold = [j for j, i in enumerate(members) if not (keep and self.measure[i] is not None)]
        for group, is_warm in ((warm, True), (cold, False)):
            for lo in range(0, len(group), width):
                js = group[lo : lo + width]
                ids = [members[j] for j in js]
                idx = torch.tensor(ids, device=self.device)
                v, trace, info = sample_model(
                    RBM.of(*(self.params[k][idx] for k in PARAMS)),
                    cfg,
                    [self.gens[i] for i in ids],
                    persistent=self.chains[idx] if pcd else None,
                    warm=torch.stack([self.measure[i] for i in ids]) if is_warm else None,
                    directions=directions[js] if directions is not None else None,
                )
                for n, (j, i) in enumerate(zip(js, ids, strict=True)):
                    samples[j], traces[j], infos[j] = v[n], trace[n], info[n]
                    if keep:
                        self.measure[i] = v[n]
        return torch.stack(samples), traces, infos

    @torch.no_grad()
    def observe(self, step: int, members: list[int]) -> list[dict[str, float]]:
        m = torch.tensor(members, device=self.device)
        W = self.params["W"][m]
        k = min(self.cfg.modes, *W.shape[1:])
        svd = [rbm_cascade.top_singular_directions(W[j], k) for j in range(len(members))]
        directions = torch.stack([u[:, 0] for u, _, _ in svd]).to(W.dtype)
        v, traces, chains = self._model_samples(members, directions)
        out = []
        for j, i in enumerate(members):
            U, sigmas, _ = svd[j]
            o = spin_observables(v[j], self.L, self.T[i], "model") | self.data_spin_obs[i]
            o |= mode_observables(v[j], "model", U) | mode_observables(self.data[i], "data", U)
            o |= {f"obs/sigma_{n + 1}": float(s) for n, s in enumerate(sigmas)}
            o["chain/tau_m1"] = tau_m1(traces[j])
            out.append(o | chains[j] | errors(o))
        return out

    # ------------------------------------------------------------------------------- state
    def _solo(self, i: int):
        """An RBM, optimiser and schedule as `RBMFamily` builds them for member i, to hold its state."""
        spec = self.specs[i]
        rbm = RBM(self.data.shape[-1], spec.model.width)
        optimizer = make_optimizer(rbm.parameters(), spec.train)
        return rbm, optimizer, make_schedule(optimizer, spec.train)

    def member_state(self, i: int) -> dict[str, Any]:
        """Member i's state in `RBMFamily.state_dict`'s format."""
        rbm, optimizer, schedule = self._solo(i)
        with torch.no_grad():
            for key, param in zip(PARAMS, rbm.parameters(), strict=True):
                param.copy_(self.params[key][i])
                if int(self.updates[i]):
                    optimizer.state[param] = {k: v[i].clone() for k, v in self.buffers.get(key, {}).items()}
                    if self.cfg.optimizer is OptimizerName.adam:
                        optimizer.state[param]["step"] = torch.tensor(float(self.updates[i]))
        t = int(self.updates[i])
        lr = float(self._lr_at(torch.tensor(t), self.lr[i : i + 1].cpu())[0])
        optimizer.param_groups[0]["lr"] = lr
        if schedule is not None:
            schedule.last_epoch, schedule._last_lr = t, [lr]
        return {
            "rbm": rbm.state_dict(),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict() if schedule is not None else {},
            "chains": self.chains[i].cpu(),
            "measure": self.measure[i].cpu() if self.measure[i] is not None else None,
            "generator": self.gens[i].get_state(),
            "updates": t,
        }

    def load_member_state(self, i: int, state: dict[str, Any]) -> None:
        with torch.no_grad():
            for key in PARAMS:
                self.params[key][i] = state["rbm"][key].to(self.device)
            saved = state["optimizer"]["state"]
            for n, key in enumerate(PARAMS):
                for name, value in saved.get(n, {}).items():
                    if name == "step":
                        continue
                    buf = self.buffers.setdefault(key, {}).setdefault(name, torch.zeros_like(self.params[key]))
                    buf[i] = value.to(self.device)
        self.updates[i] = _updates(state)
        self.chains[i] = state["chains"].to(self.device)
        measure = state.get("measure")
        self.measure[i] = measure.to(self.device) if measure is not None else None
        self.gens[i].set_state(state["generator"])

    def figures(self, i: int, history) -> dict[str, Any]:
        """Member i's figures, drawn as its unpacked twin draws them."""
        if self.L is None:
            return {"cascade.png": cascade_figure(history)}
        v = self.measure[i] if self.measure[i] is not None else self._model_samples([i], None)[0][0]
        return {"samples.png": samples_figure(self.data[i][:8], v[:8], self.L, self.T[i])}


def _updates(state: dict[str, Any]) -> int:
    """Updates behind a saved state. An unpacked trial's (`RBMFamily`) does not count them: its schedule's
    epoch or Adam's step does, else any momentum buffer means at least one (all SGD needs to know)."""
    if "updates" in state:
        return int(state["updates"])
    if state["schedule"]:
        return int(state["schedule"]["last_epoch"])
    saved = state["optimizer"]["state"].get(0, {})
    return int(saved["step"]) if "step" in saved else int(bool(saved))


POPULATION = RBMPopulation
