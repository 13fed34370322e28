"""Mehta & Schwab's stack of RBMs (arXiv:1410.3831, 2014) as a trial; the science is in `models.rbm.stack`.

Step 0 draws `data.n_samples` Swendsen–Wang configurations of the L×L Ising model at `data.temperature`
(`train.chains` chains, `data.burn_in` sweeps, one configuration every `train.thin` sweeps). The layers,
L² → `model.width` → `model.deeper`…, are then trained greedily (Hinton, Osindero & Teh 2006), each for
`train.steps` // layers minibatch updates of CD-k (PCD-k with `train.persistent`) with the L1 penalty
`train.l1` Σ|W_ij| (`models.rbm.stack.layer_step`), SGD with momentum. A layer's data is the mean-field
hidden response σ(c + vW) of the layer below to its own data; its visible biases start at the data's
log-odds. Minibatches visit the data in epochs, a fresh seeded permutation each.

Metrics: `train/recon_error` (mean-field v → h → v, per unit, of the batch) and `train/layer` (1-based)
every step. Every `train.observe_every` steps and at every layer's last update, for the layer in
training ℓ, its effective receptive fields W₁W₂⋯W_ℓ on the lattice (the linear part of the map from spins
to layer ℓ): `obs/locality_l<ℓ>`, the mean over its units of the largest fraction of a field's squared
weight inside one square of side
train.window·2^(ℓ−1) (`models.rbm.stack.locality`), `obs/locality_l<ℓ>_shuffled`, the same with every
field's weights permuted over the sites (its baseline), and `obs/locality_l<ℓ>_ratio`, their quotient.

Artifacts: `receptive_fields_l<ℓ>.png`, the 64 strongest effective fields of every layer, and
`reconstructions.png`: for three configurations, the lattice, then for every layer ℓ the block spins of
level ℓ (majority rule, side L/2^ℓ, `models.ising.block_spins`) beside the lattice reconstructed from
layer ℓ (up through ℓ layers and back down, mean field, `models.rbm.stack.reconstruct`).
"""

from __future__ import annotations

from typing import Any

import torch

from models import ising
from models.rbm import RBM, spins_to_visible
from models.rbm import stack as rbm_stack
from workers.families.base import IsingDataConfig, check_spec
from workers.families.rbm_stack.config import (
    CHECKS,
    RBMStackModelConfig,
    RBMStackTrainConfig,
    effective_window,
    layer_widths,
)

SHUFFLE_SEED, TIE_SEED, INIT_SEED = 104_729, 7_919, 1_009
"""Offsets from the trial's seed of the baseline's permutations, of the block spins' tie draws and (times
the layer's number) of a layer's initial weights."""


class RBMStackFamily:
    headline_metric = "obs/locality_l1_ratio"

    def __init__(self, spec, device: torch.device) -> None:
        check_spec(spec, "rbm_stack", CHECKS)
        data: IsingDataConfig = spec.data
        model: RBMStackModelConfig = spec.model
        self.cfg: RBMStackTrainConfig = spec.train
        self.data_cfg, self.seed, self.device, self.init_std = data, spec.seed, device, model.init_std
        self.L = data.L
        self.widths = layer_widths(model)
        self.per_layer = self.cfg.steps // len(self.widths)
        self.generator = torch.Generator(device=device).manual_seed(spec.seed)
        self.stack: list[RBM] = []
        self.optimizer: torch.optim.Optimizer | None = None
        self.chains: torch.Tensor | None = None
        """PCD's persistent chains of the layer in training."""
        self.order, self.position = torch.empty(0, dtype=torch.long), 0
        """The current epoch's permutation of the data rows, and the next row to take from it."""
        self.done = -1
        """The last step taken."""
        self._spins: torch.Tensor | None = None
        self._layer_data: tuple[int, torch.Tensor] | None = None

    # ------------------------------------------------------------------------ the loop's calls
    def step(self, step: int) -> dict[str, float]:
        if step >= self.per_layer * len(self.widths):
            return {}
        if step != self.done + 1:
            raise RuntimeError(f"step {step} after step {self.done}: a stack is trained in order")
        layer, local = divmod(step, self.per_layer)
        if local == 0:
            self._add_layer(layer)
        data = self._data(layer)
        cfg = self.cfg
        if self.position + cfg.batch_size > len(data):
            self.order = torch.randperm(len(data), generator=self.generator, device=self.device)
            self.position = 0
        batch = data[self.order[self.position : self.position + cfg.batch_size]]
        self.position += cfg.batch_size
        error, self.chains = rbm_stack.layer_step(
            self.stack[layer], self.optimizer, batch, l1=cfg.l1, k=cfg.k, generator=self.generator, chains=self.chains
        )
        self.done = step
        out = {"train/recon_error": float(error), "train/layer": float(layer + 1)}
        if local == self.per_layer - 1:  # a layer's last update: its final locality, whatever observe_every
            out |= self.observe(step)
        return out

    def observe(self, step: int) -> dict[str, float]:
        """The locality of the layer in training: its effective fields on the lattice against their shuffled
        baseline (permutations seeded by the step, so a repeated call at one step gives the same numbers)."""
        if not self.stack:
            return {}
        layer = len(self.stack)
        W = self._effective_fields(layer)
        window = effective_window(self.cfg.window, layer, self.L)
        shuffle = torch.Generator(device=W.device).manual_seed(self.seed + SHUFFLE_SEED + step)
        local = float(rbm_stack.locality(W, self.L, window).nanmean())
        baseline = float(rbm_stack.shuffled_locality(W, self.L, window, shuffle).nanmean())
        name = f"obs/locality_l{layer}"
        return {name: local, f"{name}_shuffled": baseline, f"{name}_ratio": local / baseline}

    def state_dict(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "generator": self.generator.get_state(),
            "stack": [rbm.state_dict() for rbm in self.stack],
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "chains": self.chains,
            "order": self.order,
            "position": self.position,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores everything but the Monte Carlo sample, which is drawn again from the trial's seed (the
        same configurations: `sample_sw` is deterministic given its seed) when first needed."""
        self.done = int(state["done"])
        self.generator.set_state(state["generator"])
        sizes = [self.L**2, *self.widths]
        self.stack = []
        for i, weights in enumerate(state["stack"]):
            rbm = RBM(sizes[i], sizes[i + 1]).to(self.device)
            rbm.load_state_dict(weights)
            self.stack.append(rbm)
        self.optimizer = None
        if self.stack:
            self.optimizer = self._optimizer(self.stack[-1])
            self.optimizer.load_state_dict(state["optimizer"])
        self.chains = state["chains"]
        self.order, self.position = state["order"], int(state["position"])
        self._layer_data = None

    def figures(self, history) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for layer in range(1, len(self.stack) + 1):
            title = f"layer {layer}: {self.widths[layer - 1]} units" + (
                " (effective fields W₁⋯W_ℓ on the lattice)" if layer > 1 else ""
            )
            out[f"receptive_fields_l{layer}.png"] = rbm_stack.receptive_field_figure(
                self._effective_fields(layer), self.L, 64, title
            )
        if self.stack:
            out["reconstructions.png"] = self._reconstruction_figure()
        return out

    # ------------------------------------------------------------------------ the work
    def _spins_sample(self) -> torch.Tensor:
        if self._spins is None:
            d, cfg = self.data_cfg, self.cfg
            self._spins = ising.sample_sw(
                d.L, d.temperature, d.n_samples, chains=cfg.chains, burn_in=d.burn_in, thin=cfg.thin,
                seed=self.seed, device=self.device,
            )  # fmt: skip
        return self._spins

    def _data(self, layer: int) -> torch.Tensor:
        """Layer `layer`'s (0-based) training data: the visible units of the sample, propagated up in mean
        field through the layers below. Cached for the layer in training."""
        if self._layer_data is None or self._layer_data[0] != layer:
            v = spins_to_visible(self._spins_sample())
            for rbm in self.stack[:layer]:
                v = rbm_stack.propagate_up(rbm, v, sample=False)
            self._layer_data = (layer, v)
        return self._layer_data[1]

    def _optimizer(self, rbm: RBM) -> torch.optim.Optimizer:
        return torch.optim.SGD(rbm.parameters(), lr=self.cfg.lr, momentum=self.cfg.momentum)

    def _add_layer(self, layer: int) -> None:
        sizes = [self.L**2, *self.widths]
        init = torch.Generator().manual_seed(self.seed + INIT_SEED * (layer + 1))  # RBM draws its weights on the CPU
        rbm = RBM(sizes[layer], sizes[layer + 1], init_std=self.init_std, generator=init).to(self.device)
        data = self._data(layer)
        rbm_stack.visible_bias_from_data(rbm, data)
        self.stack.append(rbm)
        self.optimizer = self._optimizer(rbm)
        self.order, self.position = torch.empty(0, dtype=torch.long), len(data)  # a fresh epoch at the first step
        self.chains = None
        if self.cfg.persistent:
            rows = torch.randint(0, len(data), (self.cfg.batch_size,), generator=self.generator, device=self.device)
            self.chains = data[rows]

    def _effective_fields(self, layer: int) -> torch.Tensor:
        """W₁W₂⋯W_layer, shape (L², width of layer): each unit's linear field on the lattice."""
        return rbm_stack.composite_weights(self.stack, layer)

    @torch.no_grad()
    def _reconstruction_figure(self, n: int = 3):
        from matplotlib.figure import Figure

        spins = self._spins_sample()[:n].cpu()
        ties = torch.Generator().manual_seed(self.seed + TIE_SEED)
        levels, v = [spins], spins_to_visible(spins)
        depth = len(self.stack)
        for _ in range(depth):
            side = levels[-1].shape[-1]
            levels.append(ising.block_spins(levels[-1], 2, ties) if side % 2 == 0 and side >= 2 else levels[-1])
        cols = 1 + 2 * depth
        fig = Figure(figsize=(1.6 * cols, 1.7 * n), layout="constrained")
        axes = fig.subplots(n, cols, squeeze=False)
        stack_cpu = [rbm.cpu() for rbm in self.stack]
        recon = [rbm_stack.reconstruct(stack_cpu, v, d) for d in range(1, depth + 1)]
        for row in range(n):
            panels = [(spins[row], f"{self.L}×{self.L} sample")]
            for d in range(1, depth + 1):
                side = levels[d].shape[-1]
                panels.append((levels[d][row], f"block spins {side}×{side}"))
                panels.append((2 * recon[d - 1][row].reshape(self.L, self.L) - 1, f"from layer {d}"))
            for ax, (image, label) in zip(axes[row], panels, strict=True):
                ax.imshow(image.float().numpy(), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
                ax.set_axis_off()
                if row == 0:
                    ax.set_title(label, fontsize=7)
        for rbm in self.stack:
            rbm.to(self.device)
        return fig


FAMILY = RBMStackFamily
