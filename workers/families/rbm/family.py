"""RBMs trained by CD-k / PCD-k, on Ising configurations or clustered binary data.

Data: Ising spins s ∈ {−1, +1}^{L×L} at `data.temperature` mapped to v = (s + 1)/2, or
`models.rbm.cascade.clustered_data`. Update: the CD gradient is the gradient of
F(v_data) − F(v_model), where v_model comes from k block-Gibbs steps started at the data
batch (CD) or at persistent chains (PCD, Tieleman 2008), with weight decay and an LR schedule.

Observables (every `train.observe_every` steps), on model samples (the persistent chains
under PCD; under CD fresh chains from noise, or with `train.sample_warm_steps` the previous
observe's chains continued until a drift check passes, `sample_model`) and on the data:
- Ising data: energy per spin, |m|, specific heat, susceptibility and Binder U₄ with errors
  (`models.ising.observables`), as Torlai & Melko (PRB 94, 165134, 2016) compare them;
- the training cascade (Bachtis, Biroli, Decelle & Seoane, arXiv:2405.14689): the top
  singular values σ_k of W, the projections m_k = u_k·s/√N and susceptibilities χ_k, and the
  integrated autocorrelation time of m_1 along the model chains (their mixing time);
- every `train.loglik_every` steps the log-likelihood of the data, exact or by AIS.
"""

from __future__ import annotations

from typing import Any

import torch

from models import ising
from models.mcmc import gibbs, gibbs_until_stationary
from models.rbm import RBM, spins_to_visible, visible_to_spins
from models.rbm import cascade as rbm_cascade
from models.rbm import likelihood as rbm_likelihood
from workers.families.base import OptimizerName
from workers.families.rbm.config import LearningRule, LRSchedule, RBMTrainConfig

SPIN_OBSERVABLES = ("energy", "abs_magnetization", "specific_heat", "susceptibility", "binder")


def make_optimizer(params, train) -> torch.optim.Optimizer:
    if train.optimizer is OptimizerName.adam:
        return torch.optim.Adam(params, lr=train.lr, weight_decay=train.weight_decay)
    return torch.optim.SGD(params, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay)


def make_schedule(optimizer, train):
    if train.lr_schedule is LRSchedule.cosine:
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, train.steps)
    if train.lr_schedule is LRSchedule.exponential:
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, train.lr_decay)
    return None


def load_spins(data, seed: int) -> torch.Tensor:
    """The trial's Ising training configurations (from the shared cache when `data.cache_dir` is set)."""
    kwargs = dict(algorithm=data.algorithm, burn_in=data.burn_in, seed=seed)
    if data.cache_dir:
        return ising.cached_sample(data.cache_dir, data.L, data.temperature, data.n_samples, **kwargs)
    return ising.sample(data.L, data.temperature, data.n_samples, **kwargs)


def spin_observables(v: torch.Tensor, L: int | None, T: float | None, who: str) -> dict[str, float]:
    """Ising observables with errors of visible configurations v (only for Ising data: L set)."""
    out: dict[str, float] = {}
    if L is not None:
        spins = visible_to_spins(v, L)
        est = ising.observables(spins.cpu(), T, chains=len(spins))
        for name in SPIN_OBSERVABLES:
            e = getattr(est, name)
            out[f"obs/{who}_{name}"], out[f"obs/{who}_{name}_err"] = e.value, e.stderr
    return out


def mode_observables(v: torch.Tensor, who: str, U: torch.Tensor) -> dict[str, float]:
    """⟨|m_k|⟩ and χ_k along the top singular directions U (n_v, k) of W."""
    proj = rbm_cascade.mode_projections(v, U)
    m = rbm_cascade.mode_order_parameters(proj)
    chi = rbm_cascade.mode_susceptibilities(proj, U.shape[0])
    out: dict[str, float] = {}
    for i in range(U.shape[1]):
        out[f"obs/{who}_m_{i + 1}"], out[f"obs/{who}_chi_{i + 1}"] = float(m[i]), float(chi[i])
    return out


def errors(out: dict[str, float]) -> dict[str, float]:
    """|model − data| of the energy and the specific heat, where both are measured, and the same relative
    to the data's value (`…_rel_error`), the figures Torlai & Melko's agreement is stated in."""
    if "obs/model_energy" not in out:
        return {}
    found: dict[str, float] = {}
    for name in ("energy", "specific_heat"):
        model, data = out[f"obs/model_{name}"], out[f"obs/data_{name}"]
        found[f"obs/{name}_error"] = abs(model - data)
        if data:  # a frozen data set (C = 0) has no relative error; a NaN would end the run as diverged
            found[f"obs/{name}_rel_error"] = abs(model - data) / abs(data)
    return found


@torch.no_grad()
def sample_model(
    rbm: RBM,
    cfg: RBMTrainConfig,
    generators: list[torch.Generator],
    *,
    persistent: torch.Tensor | None = None,
    warm: torch.Tensor | None = None,
    directions: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor | None], list[dict[str, float]]]:
    """An observation's model configurations of P RBMs (W (P, n_v, n_h); P = 1 for a lone trial).

    - PCD (`persistent` given, (P, chains, n_v)): the persistent chains themselves; a copy is advanced
      `sample_steps` more steps only to time v·u₁.
    - CD, `warm` given (the previous observe's chains) and `sample_warm_steps` > 0: those chains,
      continued until a block passes the drift check (`models.mcmc.gibbs_until_stationary`).
    - CD otherwise: `sample_chains` fresh chains from uniform noise after `sample_steps` Gibbs steps.

    Model j draws only from `generators[j]`. Returns the configurations (P, chains, n_v), per model the
    (chains, steps) trace of v·u₁ along its chains given `directions` (P, n_v) (else None), and per model
    the chain diagnostics to log (`chain/steps`, `chain/drift_z`; none for fresh chains without warm
    starts configured).
    """
    P, n_v = len(generators), rbm.n_visible
    if warm is not None and cfg.sample_warm_steps and cfg.rule is LearningRule.cd:
        block = min(cfg.sample_warm_steps, cfg.sample_steps)
        v, steps, z, traces = gibbs_until_stationary(
            rbm, warm, block=block, max_steps=cfg.sample_steps, generator=generators, direction=directions
        )
        return v, traces, [{"chain/steps": float(n), "chain/drift_z": float(q)} for n, q in zip(steps, z, strict=True)]
    if persistent is not None:
        v = persistent.clone()
    else:
        shape = (cfg.sample_chains, n_v)
        v = torch.stack([torch.bernoulli(torch.full(shape, 0.5, device=rbm.W.device), generator=g) for g in generators])
    trace: list[torch.Tensor] = []
    record = None
    if directions is not None:
        u = directions.unsqueeze(-1).to(v.dtype)
        # v·u₁ along the chains: m₁ = (2v − 1)·u₁/√N is an affine map of it, and τ_int is invariant
        # under affine maps, so the per-step trace skips `mode_projections`' checks and conversions
        record = lambda s: trace.append((s @ u)[..., 0])  # noqa: E731
    v, _ = gibbs(rbm, v, steps=cfg.sample_steps, generator=generators, on_step=record)
    traces = [torch.stack([t[j] for t in trace], -1) if trace else None for j in range(P)]
    info = {"chain/steps": float(cfg.sample_steps)} if cfg.sample_warm_steps and persistent is None else {}
    return (persistent if persistent is not None else v), traces, [dict(info) for _ in range(P)]


def tau_m1(trace: torch.Tensor | None) -> float:
    """τ_int of v·u₁ along the chains (0 when the trace is too short to tell). A diagnostic of mixing, not
    an error bar: a warning only when the trace is shorter than Sokal's window c·τ (c = 5) itself, not at
    the 50 τ that an error bar from the series would want (a warm observe's trace is one block long)."""
    if trace is None or trace.shape[-1] <= 8:
        return 0.0
    return float(ising.integrated_autocorr_time(trace.cpu().numpy(), tol=5.0))


class RBMFamily:
    headline_metric = "obs/energy_error"

    def __init__(self, spec, device: torch.device) -> None:
        data = spec.data
        self.cfg: RBMTrainConfig = spec.train
        self.device = device
        self.generator = torch.Generator(device=device).manual_seed(spec.seed)
        if data.kind == "ising":
            self.L, self.T = data.L, data.temperature
            self.data = spins_to_visible(load_spins(data, spec.seed)).to(device)
        elif data.kind == "clustered":
            self.L, self.T = None, None
            self.data, _ = rbm_cascade.clustered_data(
                data.N, data.n_samples, n_modes=data.n_modes, flip_prob=data.flip_prob, seed=spec.seed
            )
            self.data = self.data.to(device)
            self.headline_metric = "obs/sigma_1"
        else:
            raise ValueError(f"the rbm family trains on data.kind=ising|clustered, got {data.kind!r}")
        n_visible = self.data.shape[1]
        init_gen = torch.Generator().manual_seed(spec.seed)
        self.rbm = RBM(n_visible, spec.model.width, init_std=spec.model.init_std, generator=init_gen).to(device)
        with torch.no_grad():  # visible biases at the data log-odds (Hinton's practical guide, §8.1)
            p = self.data.mean(0).clamp(1e-3, 1 - 1e-3)
            self.rbm.visible_bias.copy_(torch.log(p / (1 - p)))
        self.optimizer = make_optimizer(self.rbm.parameters(), self.cfg)
        self.schedule = make_schedule(self.optimizer, self.cfg)
        chains = self.cfg.sample_chains if self.cfg.rule is LearningRule.pcd else self.cfg.batch_size
        self.chains = torch.bernoulli(torch.full((chains, n_visible), 0.5, device=device), generator=self.generator)
        self.measure: torch.Tensor | None = None
        """CD with `sample_warm_steps`: the last observe's measurement chains, continued by the next."""
        # The data's Ising observables never change: measured once, logged at every observe.
        self.data_spin_obs = self._spin_observables(self.data, "data")

    def step(self, step: int) -> dict[str, float]:
        idx = torch.randint(0, len(self.data), (self.cfg.batch_size,), generator=self.generator, device=self.device)
        batch = self.data[idx]
        start = self.chains if self.cfg.rule is LearningRule.pcd else batch
        negative, _ = gibbs(self.rbm, start, steps=self.cfg.k, generator=self.generator)
        if self.cfg.rule is LearningRule.pcd:
            self.chains = negative
        gap = self.rbm.free_energy(batch).mean() - self.rbm.free_energy(negative).mean()
        self.optimizer.zero_grad(set_to_none=True)
        gap.backward()
        self.optimizer.step()
        if self.schedule is not None:
            self.schedule.step()
        with torch.no_grad():
            recon = self.rbm.visible_probs(self.rbm.hidden_probs(batch))
            recon_error = (batch - recon).pow(2).mean()
        return {
            "train/free_energy_gap": gap.item(),
            "train/recon_error": recon_error.item(),
            "train/lr": self.optimizer.param_groups[0]["lr"],
        }

    @torch.no_grad()
    def model_samples(self, u1: torch.Tensor | None = None) -> tuple[torch.Tensor, float, dict[str, float]]:
        """Model configurations (`sample_model`, as a population of one), the integrated autocorrelation
        time of m_1 along their chains, and the chains' diagnostics. Warm-started measurement chains
        (`train.sample_warm_steps`) are kept for the next observe."""
        if u1 is None:
            u1 = rbm_cascade.top_singular_directions(self.rbm.W.detach(), 1)[0]
        rbm = RBM.of(*(p.detach().unsqueeze(0) for p in (self.rbm.W, self.rbm.visible_bias, self.rbm.hidden_bias)))
        pcd = self.cfg.rule is LearningRule.pcd
        v, traces, info = sample_model(
            rbm,
            self.cfg,
            [self.generator],
            persistent=self.chains.unsqueeze(0) if pcd else None,
            warm=self.measure.unsqueeze(0) if self.measure is not None else None,
            directions=u1.reshape(1, -1),
        )
        if self.cfg.sample_warm_steps and not pcd:
            self.measure = v[0]
        return v[0], tau_m1(traces[0]), info[0]

    def _spin_observables(self, v: torch.Tensor, who: str) -> dict[str, float]:
        return spin_observables(v, self.L, self.T, who)

    def observe(self, step: int) -> dict[str, float]:
        U, sigmas, _ = rbm_cascade.top_singular_directions(self.rbm.W.detach(), min(self.cfg.modes, *self.rbm.W.shape))
        samples, tau, chain = self.model_samples(U[:, :1])
        out = self._spin_observables(samples, "model") | self.data_spin_obs
        out |= mode_observables(samples, "model", U) | mode_observables(self.data, "data", U)
        out |= {f"obs/sigma_{i + 1}": float(s) for i, s in enumerate(sigmas)}
        out["chain/tau_m1"] = tau
        out |= chain | errors(out)
        if self.cfg.loglik_every and step % self.cfg.loglik_every == 0:
            out |= self.log_likelihood()
        return out

    def log_likelihood(self) -> dict[str, float]:
        """Mean log p(v) of the data: exact log Z for a small layer ≤ 20 units, else AIS."""
        rbm = self.rbm
        if min(rbm.n_visible, rbm.n_hidden) <= 20:
            log_z, err = rbm_likelihood.log_partition_exact(rbm), 0.0
        else:
            log_z, err = rbm_likelihood.ais_log_partition(
                rbm, n_chains=self.cfg.ais_chains, n_betas=self.cfg.ais_betas, seed=0, data=self.data
            )
        n = rbm.n_visible
        return {
            "obs/log_likelihood": rbm_likelihood.log_likelihood(rbm, self.data, log_z) / n,
            "obs/log_likelihood_err": err / n,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "rbm": self.rbm.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict() if self.schedule is not None else {},
            "chains": self.chains.cpu(),
            "measure": self.measure.cpu() if self.measure is not None else None,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rbm.load_state_dict(state["rbm"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.schedule is not None:
            self.schedule.load_state_dict(state["schedule"])
        self.chains = state["chains"].to(self.device)
        measure = state.get("measure")  # absent from checkpoints written before warm-started chains
        self.measure = measure.to(self.device) if measure is not None else None
        self.generator.set_state(state["generator"])

    def figures(self, history) -> dict[str, Any]:
        """Ising: eight training configurations beside eight RBM samples. Clustered: σ_k and χ_k."""
        if self.L is None:
            return {"cascade.png": cascade_figure(history)}
        v = self.measure if self.measure is not None else self.model_samples()[0]
        return {"samples.png": samples_figure(self.data[:8], v[:8], self.L, self.T)}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def cascade_figure(history):
    """σ_k of W and the modes' susceptibilities χ_k along training."""
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    for key in sorted(history):
        steps, values = zip(*sorted(history[key]), strict=True)
        if key.startswith("obs/sigma_"):
            a.plot(steps, values, label=key.split("/")[-1])
        elif key.startswith("obs/model_chi_"):
            b.plot(steps, values, label=key.split("/")[-1])
    a.axhline(rbm_cascade.condensation_threshold(), color="k", ls="--", lw=0.8, label="σ_c = 4")
    a.set_xlabel("step")
    b.set_xlabel("step")
    a.legend(fontsize="small")
    b.legend(fontsize="small")
    fig.suptitle("training cascade: singular values of W and mode susceptibilities")
    fig.tight_layout()
    return fig


def samples_figure(data: torch.Tensor, model: torch.Tensor, L: int, T: float):
    """Eight training configurations (top row) above eight RBM samples (bottom row), as one image: a
    montage with grey gutters, which draws in a tenth of the time of sixteen subplots."""
    plt = _pyplot()
    data, model = visible_to_spins(data, L).cpu(), visible_to_spins(model, L).cpu()
    n = min(len(data), len(model), 8)
    grid = torch.zeros(2 * L + 3, n * (L + 1) + 1)  # 0 = grey gutter between spins of ±1
    for j in range(n):
        for i, row in enumerate((data, model)):
            grid[1 + i * (L + 1) : 1 + i * (L + 1) + L, 1 + j * (L + 1) : 1 + j * (L + 1) + L] = row[j]
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.imshow(grid, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([1 + L / 2 - 0.5, 2 + L + L / 2 - 0.5], ["MC data", "RBM"])
    ax.set_title(f"L={L}, T={T:g}")
    return fig


FAMILY = RBMFamily
