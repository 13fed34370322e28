"""The RBM flow of Iso, Shiba & Yokoo, PRE 97, 053304 (2018), as a trial; the science is in `models.rbm.flow`.

Step 0 draws the training set (`train.temperatures` evenly spaced in [`train.t_min`, `train.t_max`],
`train.samples_per_T` Swendsen–Wang configurations each, side `data.L`), trains one RBM of `model.width`
hidden units on it (`models.rbm.train_rbm_on_temperatures`: CD-k or PCD-k, SGD with momentum), fits the
energy thermometer (e(T) by Swendsen–Wang at the same L, `models.rbm.EnergyThermometer`) and draws
`train.flows` independent configurations at every T₀ in `train.starts`. Step n > 0 takes one flow step
v → h → v from every configuration (sampled units, or mean field with `train.mean_field`). Every step reads
the temperature of each T₀'s flowed configurations by energy matching, so with step = flow step the MLflow
chart of `flow/T_from_<T₀>` is the flow T(n). `data.temperature`, `data.n_samples` and `data.algorithm` are
not read.

Metrics:
- `flow/T_from_<T₀>` and `_err`, every step (no `_err` where the energy lies outside the thermometer's grid,
  whose edge T is then logged); `flow/T_over_Tc_from_<T₀>`, the same over T_c = 2.269;
- step 0: `flow/T_training_set` (the pooled training set's own temperature), `train/recon_error` (one
  mean-field v → h → v pass over the training set, per unit);
- the last step: `flow/T_stationary`, the temperature of the RBM's own equilibrium, read after
  `train.stationary_steps` flow steps from uniform noise. A sampled flow is the RBM's Markov chain, so every
  flow ends there whatever T₀ was (`benchmarks/rbm_flow.py` shows how it follows the training range).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from models.ising import T_CRITICAL, sample_sw
from models.rbm import (
    RBM,
    EnergyThermometer,
    ising_training_set,
    rbm_flow,
    spins_to_visible,
    train_rbm_on_temperatures,
)
from workers.families.base import IsingDataConfig, check_spec
from workers.families.rbm_flow.config import CHECKS, THERMOMETER_RANGE, RBMFlowModelConfig, RBMFlowTrainConfig

START_SEED, FLOW_SEED, THERMOMETER_SEED = 200, 1, 100
"""Offsets from the trial's seed of the starting configurations (plus the T₀'s index), the flow's
Bernoulli draws and the thermometer's samples, as in `benchmarks/rbm_flow.py`."""


def start_key(T0: float) -> str:
    """The metric suffix of a flow started at T₀: `1.50`."""
    return f"{T0:.2f}"


class RBMFlowFamily:
    headline_metric = "flow/T_stationary"

    def __init__(self, spec, device: torch.device) -> None:
        check_spec(spec, "rbm_flow", CHECKS)
        data: IsingDataConfig = spec.data
        model: RBMFlowModelConfig = spec.model
        self.cfg: RBMFlowTrainConfig = spec.train
        self.L, self.burn_in, self.width, self.seed = data.L, data.burn_in, model.width, spec.seed
        self.starts = [float(t) for t in self.cfg.starts]
        self.generator = torch.Generator().manual_seed(spec.seed + FLOW_SEED)
        self.rbm: RBM | None = None
        self.thermometer: EnergyThermometer | None = None
        self.flows: dict[float, torch.Tensor] = {}
        """The current configurations of the flows from each T₀ (flows, L²)."""
        self.flow_step = -1

    # ------------------------------------------------------------------------ the loop's calls
    def step(self, step: int) -> dict[str, float]:
        if step >= self.cfg.steps:
            return {}
        if step != self.flow_step + 1:
            raise RuntimeError(f"flow step {step} after step {self.flow_step}: flow steps are taken in order")
        out: dict[str, float] = {}
        if step == 0:
            out |= self._prepare()
        else:
            for T0, v in self.flows.items():
                self.flows[T0] = rbm_flow(self.rbm, v, 1, generator=self.generator, mean_field=self.cfg.mean_field)[-1]
        self.flow_step = step
        for T0, v in self.flows.items():
            T, err = self._read(v)
            key = start_key(T0)
            out[f"flow/T_from_{key}"], out[f"flow/T_from_{key}_err"] = T, err
            out[f"flow/T_over_Tc_from_{key}"] = T / T_CRITICAL
        if step == self.cfg.steps - 1:
            noise = torch.bernoulli(torch.full((self.cfg.flows, self.L**2), 0.5), generator=self.generator)
            end = rbm_flow(self.rbm, noise, self.cfg.stationary_steps, generator=self.generator)[-1]
            out["flow/T_stationary"], out["flow/T_stationary_err"] = self._read(end)
        # an edge reading (outside the thermometer's grid) has an infinite error: it is left out, not logged
        return {k: float(v) for k, v in out.items() if np.isfinite(v)}

    def observe(self, step: int) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        if self.rbm is None:
            return {"flow_step": self.flow_step, "generator": self.generator.get_state()}
        th = self.thermometer
        return {
            "flow_step": self.flow_step,
            "generator": self.generator.get_state(),
            "rbm": self.rbm.state_dict(),
            "thermometer": torch.from_numpy(np.stack([th.temperatures, th.energies, th.stderrs])),
            "starts": torch.tensor(list(self.flows)),
            "flows": torch.stack(list(self.flows.values())),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.flow_step = int(state["flow_step"])
        self.generator.set_state(state["generator"])
        if "rbm" not in state:
            self.rbm, self.thermometer, self.flows = None, None, {}
            return
        self.rbm = RBM(self.L**2, self.width)
        self.rbm.load_state_dict(state["rbm"])
        t, e, s = state["thermometer"].numpy()
        self.thermometer = EnergyThermometer(self.L, t, e, s)
        self.flows = dict(zip(state["starts"].tolist(), state["flows"], strict=True))

    def figures(self, history) -> dict[str, Any]:
        return {"rbm_flow.png": flow_figure(history, self.starts, self.L, self.cfg)}

    # ------------------------------------------------------------------------ the work
    def _prepare(self) -> dict[str, float]:
        """Train the RBM, fit the thermometer, draw the starting configurations (step 0)."""
        cfg, L = self.cfg, self.L
        temperatures = np.linspace(cfg.t_min, cfg.t_max, cfg.temperatures)
        data = ising_training_set(L, temperatures, cfg.samples_per_T, burn_in=self.burn_in, seed=self.seed)
        self.rbm = train_rbm_on_temperatures(
            L, temperatures, self.width, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
            momentum=cfg.momentum, k=cfg.k, persistent=cfg.persistent, seed=self.seed, data=data,
        )  # fmt: skip
        lo, hi = THERMOMETER_RANGE
        grid = np.round(np.arange(lo, hi + 1e-9, cfg.thermometer_step), 6)
        self.thermometer = EnergyThermometer.fit(
            L, grid, n_samples=cfg.thermometer_samples, burn_in=self.burn_in, seed=self.seed + THERMOMETER_SEED
        )
        self.flows = {
            T0: spins_to_visible(sample_sw(L, T0, cfg.flows, burn_in=self.burn_in, seed=self.seed + START_SEED + i))
            for i, T0 in enumerate(self.starts)
        }
        with torch.no_grad():
            recon = self.rbm.visible_probs(self.rbm.hidden_probs(data))
            recon_error = float(((recon - data) ** 2).mean())
        T, err = self.thermometer.temperature(data)
        return {"train/recon_error": recon_error, "flow/T_training_set": T, "flow/T_training_set_err": err}

    def _read(self, v: torch.Tensor) -> tuple[float, float]:
        """(T, σ_T) of configurations v; mean-field probabilities are drawn into configurations first."""
        if self.cfg.mean_field:
            v = torch.bernoulli(v, generator=self.generator)
        return self.thermometer.temperature(v)


def flow_figure(history: dict[str, list[tuple[int, float]]], starts: list[float], L: int, cfg: RBMFlowTrainConfig):
    """T(flow step) from every T₀ with error bars, T_c with its ±15 % band, and the RBM's stationary T."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.axhspan(0.85 * T_CRITICAL, 1.15 * T_CRITICAL, color="0.9", label="T_c ± 15 %")
    ax.axhline(T_CRITICAL, color="k", lw=1, label=f"T_c = {T_CRITICAL:.3f}")
    for T0 in starts:
        key = start_key(T0)
        points, errors = dict(history.get(f"flow/T_from_{key}", [])), dict(history.get(f"flow/T_from_{key}_err", []))
        steps = sorted(points)
        err = [min(errors.get(s, 0.0), 1.0) for s in steps]  # an edge reading (inf) is drawn without its bar
        ax.errorbar(steps, [points[s] for s in steps], err, marker=".", label=f"T₀ = {T0:g}")
    stationary = history.get("flow/T_stationary", [])
    if stationary:
        ax.axhline(stationary[-1][1], color="C3", ls="--", lw=1, label=f"RBM stationary {stationary[-1][1]:.2f}")
    ax.set_xlabel("flow step n (v → h → v)")
    ax.set_ylabel("T by energy matching")
    rule = f"{'PCD' if cfg.persistent else 'CD'}-{cfg.k}"
    ax.set_title(f"RBM flow, L={L}, trained on T∈[{cfg.t_min:g}, {cfg.t_max:g}] ({rule})", fontsize=9)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


FAMILY = RBMFlowFamily
