"""A pack of SGLD trials as one batched model: parameters of shape (P, …), one gradient for all members
through `torch.func.vmap` over `torch.func.grad_and_value` of the functional potential
(`models.bayes.blr_potential_functional`, `models.bayes.mlp_potential_functional`), and one SGLD update

    θ ← θ − (ε/2) N ∇L(θ) + √(ε T) ξ      (Welling & Teh 2011; T as in Wenzel et al. 2020)

with per-member tensors (P,) for the step ε_t, the temperature T and the prior's 2s² and log-normaliser.
pSGLD (Li et al. 2016) keeps its RMSprop average V per member the same way.

Members may differ in `seed`, `train.lr`, `train.temperature`, `train.gamma` and `model.prior_std` (the keys
in `config.CHECKS.packable`): none changes a tensor's shape. Everything else (the model kind, width, depth,
the data, batch size, steps, schedule kind, burn-in, thinning, pSGLD) is the pack's.

Each member draws every random number from its own `torch.Generator`, seeded by its trial seed, in the
order `SGLDFamily` draws them: the MLP's initial weights, then per step the minibatch rows and the noise
ξ of each parameter in `parameters()` order (none while the schedule explores or at T = 0). The update
is written as `torch.addcmul` with the float32 of the step the lone `SGLD.step` passes as a scalar, which
computes what `Tensor.add_(g, alpha=…)` does. What is left is the gradient: `vmap` turns the matrix
products of a member into batched ones, whose accumulation order may differ from the single products of
the lone family by float32 rounding, which the chain then carries (on the CPU the linear model's
matrix-vector products happened to round alike in the tests' sizes; the MLP's differ by ~1e-7). So a
member equals its unpacked twin to float rounding (the tests hold it to 1e-5 relative over their runs),
and is bit-identical whichever other members share its pack: a member left alone in a call is batched
with a copy of itself, because a batch of one is multiplied as a single product (`_batched`). pSGLD on
the MLP does not pack (`config.pack_refusal`): its first step divides by |g| + 1e-5, magnifying that
rounding of a near-zero gradient 1e5-fold. A member's state is saved in `SGLDFamily`'s format, so a
trial checkpointed in a pack resumes alone and the other way round.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn
from torch.func import grad_and_value, vmap

from models import bayes
from models.mcmc.sgld import SGLD, PosteriorCollector
from workers.families.sgld.config import BayesArch
from workers.families.sgld.family import (
    LinearWeights,
    _schedule,
    classifier_observables,
    linear_observables,
    regression_data,
)


class SGLDPopulation:
    headline_metric = "obs/test_accuracy"

    def __init__(self, specs, device: torch.device) -> None:
        lead = specs[0]
        self.size = len(specs)
        self.specs = specs
        self.cfg = lead.train
        self.device = device
        self.gens = [torch.Generator(device="cpu").manual_seed(s.seed) for s in specs]
        self.linear = lead.model.arch is BayesArch.linear
        if not self.linear:
            if lead.data.kind != "digits":
                raise ValueError(f"model.arch=mlp trains on data.kind=digits, got {lead.data.kind!r}")
            X, y, Xt, yt = bayes.digits_split(seed=lead.data.split_seed, test_size=lead.data.test_size)
            width, depth = lead.model.width, lead.model.depth
            models = [bayes.BayesMLP(X.shape[1], width, 10, depth, generator=g) for g in self.gens]
        else:
            if lead.data.kind != "regression":
                raise ValueError(f"model.arch=linear trains on data.kind=regression, got {lead.data.kind!r}")
            X, y, Xt, yt = regression_data(lead.data)
            models = [LinearWeights(X.shape[1]) for _ in specs]
            posteriors = [bayes.blr_posterior(X, y, lead.data.noise_std, s.model.prior_std) for s in specs]
            self.post_mean, self.post_cov = (list(t) for t in zip(*posteriors, strict=True))
            self.noise_std = lead.data.noise_std
            self.headline_metric = "obs/cov_rel_error"
        self.X, self.y, self.Xt, self.yt = (t.to(device) for t in (X, y, Xt, yt))
        self.template: nn.Module = copy.deepcopy(models[0]).to(device)
        """A member's module: `functional_call` runs it on each member's parameters."""
        self.names = [name for name, _ in models[0].named_parameters()]
        self.params = {
            k: torch.stack([dict(m.named_parameters())[k].detach() for m in models]).to(device) for k in self.names
        }
        n_params = sum(p.numel() for p in models[0].parameters())
        constants = [bayes.prior_constants(s.model.prior_std, n_params) for s in specs]
        self.two_prior_var = torch.tensor([c for c, _ in constants], device=device)
        self.log_norm = torch.tensor([k for _, k in constants], device=device)
        self.temperature = [float(s.train.temperature) for s in specs]
        self.schedules = [_schedule(s.train) for s in specs]
        for i in range(self.size):
            self._solo_optimizer(i)  # refuses what `SGLD` refuses (T < 0, ε ≤ 0), as the lone family does
        self.square_avg = {k: torch.zeros_like(v) for k, v in self.params.items()} if self.cfg.preconditioned else {}
        """pSGLD's V per parameter, (P, …); `self.started[i]` says whether member i's is initialised."""
        self.started = [False] * self.size
        self.group = [(float(s.train.lr), True) for s in specs]
        """Each member's last (ε_t, noise), as `apply_schedule` leaves the lone optimizer's param group."""
        self.collectors = [PosteriorCollector(self.cfg.burn_in, self.cfg.thin) for _ in specs]
        self.sample_loglik: list[list[float]] = [[] for _ in specs]
        self._grad = vmap(grad_and_value(self._potential), in_dims=(0, 0, 0, 0, 0))

    # -------------------------------------------------------------------------------- update
    def _potential(self, params, x, y, two_prior_var, log_norm) -> torch.Tensor:
        """One member's per-datum potential L(θ) on its minibatch, as `SGLDFamily._potential` computes it."""
        N = len(self.X)
        if self.linear:
            return bayes.blr_potential_functional(
                params["w"], x, y, noise_std=self.noise_std, two_prior_var=two_prior_var, num_data=N
            )
        return bayes.mlp_potential_functional(
            self.template, params, x, y, num_data=N, two_prior_var=two_prior_var, log_norm=log_norm
        )

    def step(self, step: int, members: list[int]) -> list[dict[str, float]]:
        m = torch.tensor(members, device=self.device)
        N, batch = len(self.X), min(self.cfg.batch_size, len(self.X))
        rows = torch.stack([torch.randint(0, N, (batch,), generator=self.gens[i]) for i in members]).to(self.device)
        theta = {k: v[m] for k, v in self.params.items()}
        grads, loss = self._batched(
            self._grad, theta, self.X[rows], self.y[rows], self.two_prior_var[m], self.log_norm[m]
        )
        lrs, noisy = [], []
        for i in members:
            lr = self.schedules[i](step)
            self.group[i] = (lr, self.schedules[i].is_sampling(step))
            lrs.append(lr)
            noisy.append(self.group[i][1] and self.temperature[i] > 0)
        with torch.no_grad():
            for k in self.names:
                self.params[k][m] = self._update(k, m, members, theta[k], grads[k], lrs, noisy)
            for i in members:
                self.started[i] = True
        self._collect(step, members)
        return [{"train/loss": float(v), "train/lr": lr} for v, lr in zip(loss.detach().cpu(), lrs, strict=True)]

    @staticmethod
    def _batched(fn, *args):
        """`fn` of a vmap over the leading axis of `args`, which never sees a batch of one: a lone member is
        paired with a copy of itself. MKL multiplies a batch of one as a single product, rounding apart from
        the same slice in a batch; so a member computes the same when the others have diverged or wait."""
        if next(iter(args[0].values())).shape[0] > 1:
            return fn(*args)
        twice = _tree_map(lambda t: torch.cat([t, t]), args)
        return _tree_map(lambda t: t[:1], fn(*twice))

    def _update(self, key, m, members, theta, grad, lrs, noisy) -> torch.Tensor:
        """`SGLD.step` for parameter `key` of the members: the drift −(ε/2)N g as `addcmul` with each member's
        float32 step (the scalar the lone `add_` casts), then the noise. Noise is drawn member by member from
        each one's generator, as the lone optimizer draws it, and is zero where the member draws none."""
        shape = (-1,) + (1,) * (theta.ndim - 1)
        N = len(self.X)
        per = lambda values: torch.tensor(values, dtype=torch.float64).to(theta).view(shape)  # noqa: E731
        xi = torch.stack(
            [
                torch.randn(theta.shape[1:], generator=self.gens[i], dtype=theta.dtype)
                if draw
                else torch.zeros(theta.shape[1:], dtype=theta.dtype)
                for i, draw in zip(members, noisy, strict=True)
            ]
        ).to(theta.device)
        drift = per([-0.5 * lr * N for lr in lrs])
        if not self.cfg.preconditioned:
            scale = per([math.sqrt(lr * T) if draw else 0.0 for lr, T, draw in self._each(members, lrs, noisy)])
            return torch.addcmul(torch.addcmul(theta, drift, grad), scale, xi)
        decay, eps = 0.99, 1e-5  # `SGLD`'s precond_decay and precond_eps, which `SGLDFamily` keeps
        fresh = torch.tensor([not self.started[i] for i in members], device=theta.device).view(shape)
        v = torch.where(fresh, grad * grad, self.square_avg[key][m])
        v = (v * decay).addcmul_(grad, grad, value=1 - decay)
        self.square_avg[key][m] = v
        precond = 1.0 / (eps + v.sqrt())
        out = torch.addcmul(theta, drift * precond, grad)
        scale = per([lr * T if draw else 0.0 for lr, T, draw in self._each(members, lrs, noisy)])
        return out.add_(xi * (scale * precond).sqrt())

    def _each(self, members, lrs, noisy):
        return [(lr, self.temperature[i], draw) for i, lr, draw in zip(members, lrs, noisy, strict=True)]

    @torch.no_grad()
    def _probs(self, members: list[int]) -> torch.Tensor:
        """softmax(f_θ(X_test)) of each member, (P', n_test, 10), on the CPU."""
        m = torch.tensor(members, device=self.device)
        params = {k: v[m] for k, v in self.params.items()}
        logits = self._batched(vmap(lambda p: torch.func.functional_call(self.template, p, (self.Xt,))), params)
        return torch.softmax(logits, -1).cpu()

    def _collect(self, step: int, members: list[int]) -> None:
        """Each member's posterior sample after its update, where its schedule samples and its thinning is due."""
        due = [i for i in members if self.schedules[i].is_sampling(step) and self.collectors[i].due(step)]
        if not due:
            return
        if self.linear:
            for i in due:
                self.collectors[i].collect(step, self.params["w"][i].detach().double().cpu())
            return
        labels = self.yt.cpu()
        for i, probs in zip(due, self._probs(due), strict=True):
            self.collectors[i].collect(step, probs)
            self.sample_loglik[i].append(-bayes.nll(probs, labels))

    # ------------------------------------------------------------------------- observables
    @torch.no_grad()
    def observe(self, step: int, members: list[int]) -> list[dict[str, float]]:
        if self.linear:
            return [
                linear_observables(self.collectors[i], self.post_mean[i], self.post_cov[i], self.temperature[i])
                for i in members
            ]
        empty = [i for i in members if not len(self.collectors[i])]
        current = dict(zip(empty, self._probs(empty), strict=True)) if empty else {}
        labels = self.yt.cpu()
        return [
            classifier_observables(
                self.collectors[i],
                self.collectors[i].mean() if len(self.collectors[i]) else current[i],
                labels,
                self.sample_loglik[i],
            )
            for i in members
        ]

    # ------------------------------------------------------------------------------- state
    def _solo_optimizer(self, i: int) -> SGLD:
        """An `SGLD` as `SGLDFamily` builds it for member i, over a copy of the module, to hold its state."""
        spec = self.specs[i]
        return SGLD(
            copy.deepcopy(self.template).parameters(),
            lr=spec.train.lr,
            num_data=len(self.X),
            temperature=spec.train.temperature,
            generator=self.gens[i],
            preconditioned=self.cfg.preconditioned,
        )

    def member_state(self, i: int) -> dict[str, Any]:
        """Member i's state in `SGLDFamily.state_dict`'s format."""
        optimizer = self._solo_optimizer(i)
        group = optimizer.param_groups[0]
        group["lr"], group["noise"] = self.group[i]
        if self.cfg.preconditioned and self.started[i]:
            for k, param in zip(self.names, group["params"], strict=True):
                optimizer.state[param] = {"square_avg": self.square_avg[k][i].clone()}
        return {
            "model": {k: self.params[k][i].clone() for k in self.names},
            "optimizer": optimizer.state_dict(),
            "collector": self.collectors[i].state_dict(),
            "sample_loglik": torch.tensor(self.sample_loglik[i], dtype=torch.float64),
            "generator": self.gens[i].get_state(),
        }

    def load_member_state(self, i: int, state: dict[str, Any]) -> None:
        saved = state["optimizer"]
        group = saved["param_groups"][0]
        if bool(group["preconditioned"]) != bool(self.cfg.preconditioned):
            raise ValueError(f"this checkpoint has train.preconditioned={group['preconditioned']}; the pack does not")
        with torch.no_grad():
            for n, k in enumerate(self.names):
                self.params[k][i] = state["model"][k].to(self.device)
                if self.cfg.preconditioned and n in saved["state"]:
                    self.square_avg[k][i] = saved["state"][n]["square_avg"].to(self.device)
        self.started[i] = bool(saved["state"])
        self.group[i] = (float(group["lr"]), bool(group["noise"]))
        self.collectors[i].load_state_dict(state["collector"])
        self.sample_loglik[i] = state["sample_loglik"].tolist()
        self.gens[i].set_state(state["generator"])

    def figures(self, i: int, history) -> dict[str, Any]:
        """Member i's figures, as its unpacked twin draws them (`SGLDFamily.figures`: none of its own)."""
        return {}


def _tree_map(fn, tree):
    """`fn` on every tensor of a nest of dicts, tuples and lists."""
    if isinstance(tree, dict):
        return {k: _tree_map(fn, v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(_tree_map(fn, v) for v in tree)
    return fn(tree)


POPULATION = SGLDPopulation
