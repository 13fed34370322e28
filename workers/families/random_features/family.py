"""Random-features regression (`models.features`): the test error against the number of features p.

The first layer W is drawn from the trial's `seed`; the data (`data.kind=teacher`) from `data.split_seed`.
With `model.solver=lstsq` the readout is the minimum-norm least-squares one, found in the first step;
with `gd` it is trained by full-batch gradient descent from a = 0, so that the step size and the width can
be swept together (`train.lr_scaled` = η·λ₀, λ₀ = λ_max(ΦᵀΦ/n), is stable below 2 at every width).

Logged: `obs/train_mse`, `obs/test_mse` (test labels noiseless) and its log₁₀ (the peak is a divergence,
so replicas are averaged in log: a geometric mean), `obs/coef_norm` = ‖a‖, and
`theory/model.width` = n_train, the interpolation threshold where theory puts the test-error peak
(Belkin et al. 2019; Mei & Montanari 2019).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from models import datasets
from models.features import min_norm_fit, relu_features
from workers.families.random_features.config import RandomFeaturesModelConfig, ReadoutTrainConfig, Solver


class RandomFeaturesFamily:
    headline_metric = "obs/test_mse"

    def __init__(self, spec, device: torch.device) -> None:
        if spec.data.kind != "teacher":
            raise ValueError(f"the random_features family fits data.kind=teacher, got {spec.data.kind!r}")
        self.model: RandomFeaturesModelConfig = spec.model
        self.cfg: ReadoutTrainConfig = spec.train
        dtype = getattr(torch, self.cfg.dtype)
        x, y, xt, yt = (t.to(device) for t in datasets.teacher_data(spec.data, dtype))
        self.n = x.shape[0]
        generator = torch.Generator().manual_seed(spec.seed)
        weights = torch.randn(self.model.width, x.shape[1], generator=generator, dtype=dtype).to(device)
        self.phi, self.phi_test = relu_features(x, weights), relu_features(xt, weights)
        self.y, self.y_test = y[:, 0], yt[:, 0]
        self.coef = torch.zeros(self.model.width, dtype=dtype, device=device)
        self.solver = Solver(self.model.solver)
        self.eta = self.cfg.lr
        if self.solver is Solver.gd:
            small = self.phi @ self.phi.T if self.model.width > self.n else self.phi.T @ self.phi
            self.lambda0 = torch.linalg.eigvalsh(small / self.n)[-1].item()  # ΦᵀΦ and ΦΦᵀ share it
            if self.cfg.lr_scaled is not None:
                self.eta = self.cfg.lr_scaled / self.lambda0

    def _mse(self, phi: torch.Tensor, y: torch.Tensor) -> float:
        return ((phi @ self.coef - y) ** 2).mean().item()

    def step(self, step: int) -> dict[str, float]:
        if self.solver is Solver.lstsq:
            if step == 0:
                self.coef = min_norm_fit(self.phi, self.y, self.model.ridge)
            return {"train/loss": self._mse(self.phi, self.y) / 2}
        residual = self.phi @ self.coef - self.y
        self.coef = self.coef - self.eta * (self.phi.T @ residual) / self.n
        return {"train/loss": (residual**2).mean().item() / 2, "train/lr": self.eta}

    def observe(self, step: int) -> dict[str, float]:
        test = self._mse(self.phi_test, self.y_test)
        return {
            "obs/train_mse": self._mse(self.phi, self.y),
            "obs/test_mse": test,
            "obs/log10_test_mse": math.log10(test),
            "obs/coef_norm": self.coef.norm().item(),
            "theory/model.width": float(self.n),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"coef": self.coef.cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.coef = state["coef"].to(self.coef.device)

    def figures(self, history) -> dict[str, Any]:
        return {}


FAMILY = RandomFeaturesFamily
