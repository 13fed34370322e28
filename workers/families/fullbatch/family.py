"""Full-batch gradient descent on MSE, with the curvature it meets measured along the way.

The net f(x; θ) (`config.MLPModelConfig`) is trained by θ ← θ − η∇L on all n training points,
L = (1/2n) Σᵢ ‖f(xᵢ) − yᵢ‖². At initialisation the NTK's top eigenvalue λ₀ is measured
(`models.landscape.ntk_top_eigenvalue`); with `train.lr_scaled` set, η = lr_scaled/λ₀, so that the
thresholds of Lewkowycz et al. (arXiv:2003.02218) are fixed numbers on the swept axis:

* lazy (η·λ₀ < 2): the loss falls, the kernel barely moves (less as the width grows);
* catapult (2 < η·λ₀ < η_max·λ₀, about 4 for a two-layer linear net, more for ReLU): the loss first grows,
  until the curvature has fallen below 2/η, then falls; the net ends in a flatter region;
* divergent beyond: the loss grows without bound. Training stops once it passes `train.divergence_factor`
  times the initial loss, and the trial ends with that outcome (not as a failed trial).

Every `train.sharpness_every` steps the Hessian's top eigenvalue λ_t is measured by warm-started power
iteration on Hessian-vector products, and logged with λ_t·η/2: the ratio that Cohen et al.
(arXiv:2103.00065) find rising to 1 and hovering there (the edge of stability).

Per trial (`obs/…`): at every observe λ₀, the loss and the test loss, and log₁₀ of the peak loss so far
over the initial one. At the last step also:

* λ_end/λ₀, with λ_end the NTK's top eigenvalue now (the same operator as λ₀);
* the edge ratio η·λ_end/2, which peaks at the lazy → catapult boundary: below it, it is η·λ₀/2 < 1;
  above it, the catapult has pushed λ below 2/η;
* the outcome (0 lazy, 1 catapult, 2 divergent);
* the median of λ_t·η/2 over the second half of training, and `obs/plateau_step`, the first step at
  which λ_t·η/2 reached 0.95 (the start of the edge-of-stability plateau).

`theory/train.lr_scaled` = 2 marks the lazy → catapult threshold on the sweep's plots.
"""

from __future__ import annotations

import itertools
import math
import statistics
from typing import Any

import torch

from models import datasets
from models.landscape import ntk_top_eigenvalue, sharpness
from workers.families.fullbatch.config import Activation, GDTrainConfig, MLPModelConfig, Parameterization

ACTIVATIONS = {Activation.relu: torch.relu, Activation.tanh: torch.tanh, Activation.linear: lambda z: z}
PLATEAU_REACH = 0.95
"""λ_t·η/2 at which the sharpness counts as having reached 2/η (the plateau's start, `obs/plateau_step`)."""
OUTCOMES = ("lazy", "catapult", "divergent")
"""`obs/outcome` codes 0, 1, 2."""


class MLP:
    """The net as a pure function of its parameter tuple, so that `torch.func` can take its Jacobian."""

    def __init__(self, cfg: MLPModelConfig, d_in: int, d_out: int, generator: torch.Generator, dtype) -> None:
        self.act = ACTIVATIONS[Activation(cfg.activation)]
        self.ntk = Parameterization(cfg.parameterization) is Parameterization.ntk
        sizes = [d_in] + [cfg.width] * cfg.depth + [d_out]
        params: list[torch.Tensor] = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            if self.ntk:  # N(0, 1) weights, no biases; 1/√fan_in in the forward pass
                params.append(torch.randn(fan_out, fan_in, generator=generator, dtype=dtype))
            else:  # torch.nn.Linear's default: U(±1/√fan_in) for weights and biases
                bound = 1 / math.sqrt(fan_in)
                params.append((torch.rand(fan_out, fan_in, generator=generator, dtype=dtype) * 2 - 1) * bound)
                params.append((torch.rand(fan_out, generator=generator, dtype=dtype) * 2 - 1) * bound)
        self.params = [p.requires_grad_() for p in params]

    def __call__(self, params, x: torch.Tensor) -> torch.Tensor:
        h = x
        layers = [(w, None) for w in params] if self.ntk else list(zip(params[::2], params[1::2], strict=True))
        for i, (w, b) in enumerate(layers):
            h = h @ w.T / math.sqrt(w.shape[1]) if self.ntk else h @ w.T + b
            if i < len(layers) - 1:
                h = self.act(h)
        return h


class FullBatchFamily:
    headline_metric = "obs/edge_ratio"

    def __init__(self, spec, device: torch.device) -> None:
        self.cfg: GDTrainConfig = spec.train
        dtype = getattr(torch, self.cfg.dtype)
        data = spec.data
        if data.kind == "teacher":
            x, y, xt, yt = datasets.teacher_data(data, dtype)
        elif data.kind == "digits_onehot":
            xs, labels = datasets.digits("train", seed=0, scale="symmetric")
            if data.n_train + data.n_test > len(xs):
                raise ValueError(
                    f"data.n_train + data.n_test must be <= {len(xs)} digits, got {data.n_train + data.n_test}"
                )
            onehot = torch.nn.functional.one_hot(labels, 10).to(dtype)
            x, y = xs[: data.n_train].to(dtype), onehot[: data.n_train]
            xt, yt = (
                xs[data.n_train : data.n_train + data.n_test].to(dtype),
                onehot[data.n_train : data.n_train + data.n_test],
            )
        else:
            raise ValueError(f"the fullbatch family trains on data.kind=teacher or digits_onehot, got {data.kind!r}")
        self.x, self.y, self.x_test, self.y_test = (t.to(device) for t in (x, y, xt, yt))
        self.seed = spec.seed
        self.generator = torch.Generator().manual_seed(spec.seed)
        self.net = MLP(spec.model, self.x.shape[1], self.y.shape[1], self.generator, dtype)
        self.net.params = [p.detach().to(device).requires_grad_() for p in self.net.params]
        n = self.x.shape[0]
        self.lambda0, _ = ntk_top_eigenvalue(
            lambda *ps: self.net(ps, self.x), tuple(self.net.params), n, iters=200, tol=1e-8, generator=self.generator
        )
        self.eta = self.cfg.lr_scaled / self.lambda0 if self.cfg.lr_scaled is not None else self.cfg.lr
        self.loss0 = self._loss().item()
        self.peak = self.loss0
        self.last_loss = self.loss0
        self.diverged_at: int | None = None
        self.vector = None
        """The Hessian's top eigenvector at the last measurement: the next one starts from it."""
        self.ratios: list[tuple[int, float]] = []
        """(step, λ_t·η/2) of every sharpness measurement."""

    def _loss(self, x=None, y=None) -> torch.Tensor:
        x = self.x if x is None else x
        y = self.y if y is None else y
        return 0.5 * ((self.net(self.net.params, x) - y) ** 2).sum(1).mean()

    def _sharpness(self, step: int) -> float:
        value, self.vector = sharpness(
            self._loss,
            self.net.params,
            iters=self.cfg.power_iters if self.vector is not None else 100,
            tol=1e-4,
            start=self.vector,
            generator=self.generator,
        )
        self.ratios.append((step, value * self.eta / 2))
        return value

    def step(self, step: int) -> dict[str, float]:
        if self.diverged_at is not None:
            return {}  # stopped: the outcome is known and the parameters stay finite
        loss = self._loss()
        value = loss.item()
        if not math.isfinite(value) or value > self.cfg.divergence_factor * self.loss0:
            self.diverged_at = step
            return {"train/diverged_at": float(step)}
        out = {"train/loss": value, "train/lr": self.eta}
        every = self.cfg.sharpness_every
        if (every and step % every == 0) or (step % self.cfg.observe_every == 0) or step == self.cfg.steps - 1:
            lam = self._sharpness(step)
            out |= {"train/sharpness": lam, "train/sharpness_ratio": lam * self.eta / 2}
        grads = torch.autograd.grad(loss, self.net.params)
        with torch.no_grad():
            for p, g in zip(self.net.params, grads, strict=True):
                p -= self.eta * g
        self.peak = max(self.peak, value)
        self.last_loss = value
        return out

    def outcome(self) -> int:
        """0 lazy (the loss never rose above its initial value), 1 catapult (it rose, then fell back below
        it), 2 divergent (it passed the divergence factor, or has not come back down)."""
        if self.diverged_at is not None or self.last_loss >= self.loss0:
            return 2
        return 1 if self.peak > self.loss0 * (1 + 1e-6) else 0

    def observe(self, step: int) -> dict[str, float]:
        """The loss so far at every observe; the outcome and the end curvature only at the last step, so
        that a trial that diverges is never left holding a value from before it did."""
        with torch.no_grad():
            test = self._loss(self.x_test, self.y_test).item()
        out = {
            "obs/lambda0": self.lambda0,
            "obs/log_peak_loss_ratio": math.log10(self.peak / self.loss0),
            "obs/loss": self.last_loss,
            "obs/test_loss": test,
        }
        if self.cfg.lr_scaled is not None:
            out["theory/train.lr_scaled"] = 2.0
        if step < self.cfg.steps - 1:
            return out
        outcome = self.outcome()
        out |= {"obs/outcome": float(outcome), "obs/diverged": float(outcome == 2)}
        if self.diverged_at is not None:
            return out  # the curvature of a blown-up net means nothing
        lam, _ = ntk_top_eigenvalue(
            lambda *ps: self.net(ps, self.x),
            tuple(p.detach() for p in self.net.params),
            self.x.shape[0],
            iters=200,
            tol=1e-8,
            generator=torch.Generator().manual_seed(self.seed),  # observing leaves the trial's RNG alone
        )
        out |= {"obs/ntk_ratio": lam / self.lambda0, "obs/edge_ratio": lam * self.eta / 2}
        late = [r for s, r in self.ratios if s >= self.cfg.steps // 2]
        if late:
            out["obs/sharpness_ratio_median"] = statistics.median(late)
        plateau = self.plateau_step()
        if plateau is not None:
            out["obs/plateau_step"] = float(plateau)
        return out

    def plateau_step(self, reach: float = PLATEAU_REACH) -> int | None:
        """The first measured step at which λ_t·η/2 reached `reach`: where the sharpness arrives at the
        stability edge 2/η and the plateau of the edge of stability begins (None if it never did)."""
        return next((s for s, r in self.ratios if r >= reach), None)

    def state_dict(self) -> dict[str, Any]:
        return {
            "params": [p.detach().cpu() for p in self.net.params],
            "lambda0": self.lambda0,
            "eta": self.eta,
            "loss0": self.loss0,
            "peak": self.peak,
            "last_loss": self.last_loss,
            "diverged_at": self.diverged_at,
            "ratios": list(self.ratios),
            "vector": None if self.vector is None else [v.cpu() for v in self.vector],
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.x.device
        self.net.params = [p.to(device).requires_grad_() for p in state["params"]]
        for key in ("lambda0", "eta", "loss0", "peak", "last_loss", "diverged_at"):
            setattr(self, key, state[key])
        self.ratios = [tuple(r) for r in state["ratios"]]
        self.vector = None if state["vector"] is None else tuple(v.to(device) for v in state["vector"])
        self.generator.set_state(state["generator"])

    def figures(self, history) -> dict[str, Any]:
        """The sharpness against 2/η, the edge of stability, over the loss on a log axis."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.6))
        sharp = history.get("train/sharpness", [])
        if sharp:
            ax.plot(*zip(*sharp, strict=True), color="tab:blue", label="sharpness λ_max(∇²L)")
        ax.axhline(2 / self.eta, color="k", ls="--", lw=1, label="2/η")
        ax.axhline(self.lambda0, color="tab:gray", ls=":", lw=1, label="λ₀ (NTK at init)")
        plateau = self.plateau_step()
        if plateau is not None:
            ax.axvline(plateau, color="tab:green", ls="-.", lw=1, label=f"reaches 2/η (step {plateau})")
        ax.set_xlabel("step")
        ax.set_ylabel("curvature")
        loss = history.get("train/loss", [])
        if loss:
            twin = ax.twinx()
            twin.plot(*zip(*loss, strict=True), color="tab:orange", lw=0.8, label="loss")
            twin.set_yscale("log")
            twin.set_ylabel("loss", color="tab:orange")
        ax.legend(fontsize="x-small", loc="upper left")
        ax.set_title(f"η·λ₀ = {self.eta * self.lambda0:.3g}: {OUTCOMES[self.outcome()]}", fontsize="medium")
        fig.subplots_adjust(left=0.12, right=0.86, bottom=0.14, top=0.9)
        return {"sharpness.png": fig}


FAMILY = FullBatchFamily
