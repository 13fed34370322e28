"""RBM trained by CD-k / PCD-k on Monte Carlo samples of the 2D Ising model.

Data: spins s ∈ {−1, +1}^{L×L} at `data.temperature`, mapped to visible units v = (s + 1)/2.
Update: the CD gradient is the gradient of F(v_data) − F(v_model), where v_model comes from
k block-Gibbs steps started at the data batch (CD) or at persistent chains (PCD).
Observables: energy per spin and |m| of configurations sampled from the RBM, beside the
same observables of the training data (Torlai & Melko, PRB 94, 165134 (2016)).
"""

from __future__ import annotations

from typing import Any

import torch

from models import ising
from models.rbm import RBM, spins_to_visible, visible_to_spins
from models.samplers import gibbs
from workers.config import IsingDataConfig, LearningRule, OptimizerName, RBMConfig, RBMTrainConfig


def make_optimizer(params, train) -> torch.optim.Optimizer:
    if train.optimizer is OptimizerName.adam:
        return torch.optim.Adam(params, lr=train.lr, weight_decay=train.weight_decay)
    return torch.optim.SGD(params, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay)


class RBMFamily:
    headline_metric = "obs/energy_error"

    def __init__(self, spec, device: torch.device) -> None:
        data: IsingDataConfig = spec.data
        model: RBMConfig = spec.model
        self.train_cfg: RBMTrainConfig = spec.train
        if data.kind != "ising":
            raise ValueError(f"the rbm family trains on data.kind=ising, got {data.kind!r}")
        self.L = data.L
        self.T = data.temperature
        self.device = device
        self.generator = torch.Generator(device=device).manual_seed(spec.seed)
        spins = self._load_spins(data, spec.seed)
        self.data = spins_to_visible(spins).to(device)
        self.data_obs = self._spin_observables(spins.to(torch.float32))
        init_gen = torch.Generator().manual_seed(spec.seed)
        self.rbm = RBM(self.L * self.L, model.width, init_std=model.init_std, generator=init_gen).to(device)
        with torch.no_grad():  # visible biases at the data log-odds (Hinton's practical guide, §8.1)
            p = self.data.mean(0).clamp(1e-3, 1 - 1e-3)
            self.rbm.visible_bias.copy_(torch.log(p / (1 - p)))
        self.optimizer = make_optimizer(self.rbm.parameters(), self.train_cfg)
        self.chains = torch.bernoulli(
            torch.full((self.train_cfg.batch_size, self.L * self.L), 0.5, device=device),
            generator=self.generator,
        )

    @staticmethod
    def _load_spins(data: IsingDataConfig, seed: int) -> torch.Tensor:
        kwargs = dict(algorithm=data.algorithm, burn_in=data.burn_in, seed=seed)
        cached = getattr(ising, "cached_sample", None)
        if data.cache_dir and cached is not None:
            out = cached(data.cache_dir, data.L, data.temperature, data.n_samples, **kwargs)
            return out[0] if isinstance(out, tuple) else out
        return ising.sample(data.L, data.temperature, data.n_samples, **kwargs)

    def _spin_observables(self, spins: torch.Tensor) -> dict[str, float]:
        """Energy per spin, |m|, specific heat, susceptibility and Binder U₄ of independent
        configurations (`models.ising.observables`), each with its standard error."""
        est = ising.observables(spins.cpu(), self.T, chains=len(spins))
        out: dict[str, float] = {}
        for name in ("energy", "abs_magnetization", "specific_heat", "susceptibility", "binder"):
            e = getattr(est, name)
            out[name], out[f"{name}_err"] = e.value, e.stderr
        return out

    def step(self, step: int) -> dict[str, float]:
        cfg = self.train_cfg
        idx = torch.randint(0, self.data.shape[0], (cfg.batch_size,), generator=self.generator, device=self.device)
        batch = self.data[idx]
        start = self.chains if cfg.rule is LearningRule.pcd else batch
        negative, _ = gibbs(self.rbm, start, steps=cfg.k, generator=self.generator)
        if cfg.rule is LearningRule.pcd:
            self.chains = negative
        gap = self.rbm.free_energy(batch).mean() - self.rbm.free_energy(negative).mean()
        self.optimizer.zero_grad(set_to_none=True)
        gap.backward()
        self.optimizer.step()
        with torch.no_grad():
            recon = self.rbm.visible_probs(self.rbm.hidden_probs(batch))
            recon_error = (batch - recon).pow(2).mean()
        return {"train/free_energy_gap": gap.item(), "train/recon_error": recon_error.item()}

    @torch.no_grad()
    def model_samples(self) -> torch.Tensor:
        """Spins sampled from the RBM: `sample_chains` chains from uniform noise, `sample_steps` sweeps."""
        cfg = self.train_cfg
        v0 = torch.bernoulli(
            torch.full((cfg.sample_chains, self.L * self.L), 0.5, device=self.device),
            generator=self.generator,
        )
        v, _ = gibbs(self.rbm, v0, steps=cfg.sample_steps, generator=self.generator)
        return visible_to_spins(v, self.L)

    def observe(self, step: int) -> dict[str, float]:
        model = self._spin_observables(self.model_samples())
        out = {f"obs/model_{k}": v for k, v in model.items()}
        out.update({f"obs/data_{k}": v for k, v in self.data_obs.items()})
        out["obs/energy_error"] = abs(model["energy"] - self.data_obs["energy"])
        out["obs/specific_heat_error"] = abs(model["specific_heat"] - self.data_obs["specific_heat"])
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "rbm": self.rbm.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "chains": self.chains.cpu(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rbm.load_state_dict(state["rbm"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.chains = state["chains"].to(self.device)
        self.generator.set_state(state["generator"])

    def figures(self, history) -> dict[str, Any]:
        """Eight training configurations beside eight RBM samples, as spin images."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        model = self.model_samples()[:8].cpu()
        data = visible_to_spins(self.data[:8], self.L).cpu()
        fig, axes = plt.subplots(2, 8, figsize=(10, 3))
        for j in range(8):
            for i, (row, _name) in enumerate(((data, "MC data"), (model, "RBM"))):
                axes[i, j].imshow(row[j], cmap="gray", vmin=-1, vmax=1)
                axes[i, j].set_xticks([])
                axes[i, j].set_yticks([])
            axes[0, 0].set_ylabel("MC data")
            axes[1, 0].set_ylabel("RBM")
        fig.suptitle(f"L={self.L}, T={self.T:g}")
        return {"samples.png": fig}
