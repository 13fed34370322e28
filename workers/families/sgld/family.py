"""SGLD-sampled Bayesian models with a posterior temperature T.

The chain samples p_T(θ | D) ∝ exp(−U(θ)/T) with U(θ) = −log p(θ) − (N/n) Σ_batch log p(y|x,θ)
(Welling & Teh 2011; T as in Wenzel et al. 2020, arXiv:2002.02405). After `train.burn_in`
steps a sample is collected every `train.thin` steps; predictions average the posterior
predictive over the samples collected so far.

- `model.arch=mlp` on digits: test accuracy, NLL and expected calibration error of the
  posterior predictive, and the effective sample size of its per-sample log-likelihood.
- `model.arch=linear` on synthetic regression: the sample mean and covariance against the
  analytic posterior N(μ, TΣ).

A step size that makes the chain blow up ends the trial as *diverged* at that step (the loop
sees the non-finite loss): an outcome a sweep can map, not a crash.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from models import bayes
from models.mcmc.sgld import SGLD, ConstantStep, CyclicalCosine, PolynomialDecay, PosteriorCollector, apply_schedule
from workers.families.sgld.config import BayesArch, BayesModelConfig, SGLDTrainConfig, StepScheduleName


def _schedule(cfg: SGLDTrainConfig):
    if cfg.schedule is StepScheduleName.polynomial:
        return PolynomialDecay(cfg.lr, 1.0, cfg.gamma)
    if cfg.schedule is StepScheduleName.cyclical:
        return CyclicalCosine(cfg.lr, cfg.steps, n_cycles=cfg.n_cycles, exploration=0.7)
    return ConstantStep(cfg.lr)


def regression_data(data) -> tuple[torch.Tensor, ...]:
    """(X, y, X_test, y_test) of `RegressionDataConfig` `data`: X ~ N(0, I), y = X w* + σ η, drawn in float64
    from `data.split_seed` and stored as float32; no test set (the posterior is checked exactly instead)."""
    g = torch.Generator().manual_seed(data.split_seed)
    X = torch.randn(data.n, data.dim, generator=g, dtype=torch.float64)
    w_true = torch.randn(data.dim, generator=g, dtype=torch.float64)
    y = X @ w_true + data.noise_std * torch.randn(data.n, generator=g, dtype=torch.float64)
    return X.float(), y.float(), X[:0].float(), y[:0].float()


def linear_observables(
    collector: PosteriorCollector, post_mean: torch.Tensor, post_cov: torch.Tensor, temperature: float
) -> dict[str, float]:
    """The linear model's observables from its collected weight samples: the largest error of the sample
    mean in posterior standard deviations, max_j |w̄_j − μ_j|/√Σ_jj, and the relative Frobenius error of the
    sample covariance against the tempered posterior's T Σ (Bishop 2006, §3.3; Wenzel et al. 2020)."""
    out: dict[str, float] = {"obs/n_samples": float(len(collector))}
    if len(collector) >= 2:
        w = torch.stack(collector.samples)
        std = post_cov.diag().sqrt()
        target = temperature * post_cov
        cov = torch.cov(w.T)
        out["obs/mean_error_std"] = ((w.mean(0) - post_mean).abs() / std).max().item()
        out["obs/cov_rel_error"] = (torch.linalg.norm(cov - target) / torch.linalg.norm(target)).item()
    return out


def classifier_observables(
    collector: PosteriorCollector, probs: torch.Tensor, labels: torch.Tensor, sample_loglik: list[float]
) -> dict[str, float]:
    """The classifier's observables from its posterior predictive `probs` (CPU): test accuracy, NLL and
    expected calibration error, and once 8 samples are in, the effective sample size of the per-sample
    test log-likelihood (`models.bayes`)."""
    out: dict[str, float] = {"obs/n_samples": float(len(collector))}
    out["obs/test_accuracy"] = bayes.accuracy(probs, labels)
    out["obs/test_nll"] = bayes.nll(probs, labels)
    out["obs/test_ece"] = bayes.expected_calibration_error(probs, labels)
    if len(sample_loglik) >= 8:
        out["chain/ess"] = float(bayes.effective_sample_size(np.asarray(sample_loglik))[0])
    return out


class LinearWeights(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(dim))


class SGLDFamily:
    headline_metric = "obs/test_accuracy"

    def __init__(self, spec, device: torch.device) -> None:
        self.model_cfg: BayesModelConfig = spec.model
        self.cfg: SGLDTrainConfig = spec.train
        self.device = device
        self.generator = torch.Generator(device="cpu").manual_seed(spec.seed)
        arch = self.model_cfg.arch
        if arch is BayesArch.mlp:
            if spec.data.kind != "digits":
                raise ValueError(f"model.arch=mlp trains on data.kind=digits, got {spec.data.kind!r}")
            X, y, Xt, yt = bayes.digits_split(seed=spec.data.split_seed, test_size=spec.data.test_size)
            self.model: nn.Module = bayes.BayesMLP(
                X.shape[1], self.model_cfg.width, 10, self.model_cfg.depth, generator=self.generator
            )
            self.headline_metric = "obs/test_accuracy"
        else:
            if spec.data.kind != "regression":
                raise ValueError(f"model.arch=linear trains on data.kind=regression, got {spec.data.kind!r}")
            X, y, Xt, yt = regression_data(spec.data)
            self.model = LinearWeights(X.shape[1])
            self.post_mean, self.post_cov = bayes.blr_posterior(X, y, spec.data.noise_std, self.model_cfg.prior_std)
            self.noise_std = spec.data.noise_std
            self.headline_metric = "obs/cov_rel_error"
        self.X, self.y, self.Xt, self.yt = (t.to(device) for t in (X, y, Xt, yt))
        self.model.to(device)
        self.optimizer = SGLD(
            self.model.parameters(),
            lr=self.cfg.lr,
            num_data=len(self.X),
            temperature=self.cfg.temperature,
            generator=self.generator,
            preconditioned=self.cfg.preconditioned,
        )
        self.schedule = _schedule(self.cfg)
        self.collector = PosteriorCollector(self.cfg.burn_in, self.cfg.thin)
        self.sample_loglik: list[float] = []

    def _potential(self, idx: torch.Tensor) -> torch.Tensor:
        if isinstance(self.model, LinearWeights):
            return bayes.blr_potential(
                self.model.w,
                self.X[idx],
                self.y[idx],
                noise_std=self.noise_std,
                prior_std=self.model_cfg.prior_std,
                num_data=len(self.X),
            )
        return self.model.potential(self.X[idx], self.y[idx], num_data=len(self.X), prior_std=self.model_cfg.prior_std)

    def step(self, step: int) -> dict[str, float]:
        lr = apply_schedule(self.optimizer, self.schedule, step)
        idx = torch.randint(0, len(self.X), (min(self.cfg.batch_size, len(self.X)),), generator=self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._potential(idx.to(self.device))
        loss.backward()
        self.optimizer.step()
        if self.schedule.is_sampling(step) and self.collector.due(step):
            self._collect(step)
        return {"train/loss": loss.item(), "train/lr": lr}

    @torch.no_grad()
    def _collect(self, step: int) -> None:
        if isinstance(self.model, LinearWeights):
            self.collector.collect(step, self.model.w.detach().double().cpu())
            return
        probs = torch.softmax(self.model(self.Xt), -1).cpu()
        self.collector.collect(step, probs)
        self.sample_loglik.append(-bayes.nll(probs, self.yt.cpu()))

    @torch.no_grad()
    def observe(self, step: int) -> dict[str, float]:
        if isinstance(self.model, LinearWeights):
            return linear_observables(self.collector, self.post_mean, self.post_cov, self.cfg.temperature)
        probs = self.collector.mean() if len(self.collector) else torch.softmax(self.model(self.Xt), -1).cpu()
        return classifier_observables(self.collector, probs, self.yt.cpu(), self.sample_loglik)

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "collector": self.collector.state_dict(),
            "sample_loglik": torch.tensor(self.sample_loglik, dtype=torch.float64),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.collector.load_state_dict(state["collector"])
        self.sample_loglik = state["sample_loglik"].tolist()
        self.generator.set_state(state["generator"])

    def figures(self, history) -> dict[str, Any]:
        return {}


FAMILY = SGLDFamily
