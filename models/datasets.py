"""Small data sets for the continuous energy-based learners: 2D toy densities and 8×8 digits.

Everything is deterministic given a `torch.Generator` (2D sets) or a seed (digits), and
nothing is downloaded: the digits ship with scikit-learn (`sklearn.datasets.load_digits`).
"""

from __future__ import annotations

import math
from enum import Enum

import torch


def ring_centres(n_modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """Mode centres μ_k = r (cos 2πk/K, sin 2πk/K), k = 0…K−1; shape (K, 2)."""
    angles = torch.arange(n_modes, dtype=torch.float64) * (2.0 * math.pi / n_modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=-1)).to(torch.float32)


def ring_of_gaussians(
    n: int,
    *,
    n_modes: int = 8,
    radius: float = 2.0,
    std: float = 0.1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """n points from the equal-weight mixture p(x) = (1/K) Σ_k N(x; μ_k, σ² I₂); shape (n, 2).

    The centres μ_k are `ring_centres(n_modes, radius)`; each point picks its mode uniformly.
    """
    if n < 1 or n_modes < 1 or std < 0:
        raise ValueError(f"ring_of_gaussians needs n ≥ 1, n_modes ≥ 1, std ≥ 0; got {n}, {n_modes}, {std}")
    mode = torch.randint(n_modes, (n,), generator=generator)
    noise = torch.randn(n, 2, generator=generator)
    return ring_centres(n_modes, radius)[mode] + std * noise


def two_moons(n: int, *, noise: float = 0.1, generator: torch.Generator | None = None) -> torch.Tensor:
    """n points from two interleaved half circles (scikit-learn's `make_moons`), shape (n, 2).

    Upper moon: (cos t, sin t); lower moon: (1 − cos t, 1/2 − sin t); t ~ U[0, π], each point
    picks a moon with probability 1/2, then Gaussian noise of standard deviation `noise` is added.
    The result is centred: the mixture mean (1/2, 1/4) is subtracted.
    """
    if n < 1 or noise < 0:
        raise ValueError(f"two_moons needs n ≥ 1 and noise ≥ 0, got n={n}, noise={noise}")
    t = torch.rand(n, generator=generator) * math.pi
    lower = torch.rand(n, generator=generator) < 0.5
    upper_xy = torch.stack([t.cos(), t.sin()], dim=-1)
    lower_xy = torch.stack([1.0 - t.cos(), 0.5 - t.sin()], dim=-1)
    x = torch.where(lower[:, None], lower_xy, upper_xy)
    x = x + noise * torch.randn(n, 2, generator=generator)
    return x - torch.tensor([0.5, 0.25])


class DigitScale(str, Enum):
    """How `digits` maps the raw pixel intensities p ∈ {0, …, 16} to features."""

    SYMMETRIC = "symmetric"
    """x = p/8 − 1 ∈ [−1, 1]: the EBM's choice (matches a uniform init box [−1, 1]⁶⁴)."""
    UNIT = "unit"
    """x = p/16 ∈ [0, 1]."""
    STANDARDISED = "standardised"
    """x = (p − mean_train)/std_train per pixel (std 0 → 1), statistics from the train split only."""


def digits(
    split: str = "train",
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    scale: DigitScale | str = DigitScale.SYMMETRIC,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The 1797 8×8 handwritten digits of `sklearn.datasets.load_digits`: features (n, 64) float32
    and labels (n,) int64 in 0…9.

    The train/test split is stratified by label and fixed by `seed` and `test_fraction`
    (`train_test_split(..., random_state=seed)`), so "train" and "test" with equal arguments
    are disjoint and together cover the data set.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if split not in ("train", "test"):
        raise ValueError(f"digits split must be 'train' or 'test', got {split!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"digits test_fraction must be in (0, 1), got {test_fraction}")
    try:
        scale = DigitScale(scale)
    except ValueError:
        allowed = ", ".join(s.value for s in DigitScale)
        raise ValueError(f"digits scale must be one of {allowed}; got {scale!r}") from None

    raw = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        raw.data, raw.target, test_size=test_fraction, random_state=seed, stratify=raw.target
    )
    x = torch.as_tensor(x_train if split == "train" else x_test, dtype=torch.float32)
    y = torch.as_tensor(y_train if split == "train" else y_test, dtype=torch.int64)
    if scale is DigitScale.SYMMETRIC:
        x = x / 8.0 - 1.0
    elif scale is DigitScale.UNIT:
        x = x / 16.0
    else:
        reference = torch.as_tensor(x_train, dtype=torch.float32)
        mean, std = reference.mean(0), reference.std(0)
        x = (x - mean) / torch.where(std > 0, std, torch.ones_like(std))
    return x, y


def teacher_regression(
    n_train: int,
    n_test: int,
    dim: int,
    *,
    target: str = "tanh",
    label_noise: float = 0.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A teacher-student regression set: x ~ N(0, I_d) rescaled to norm √d, y = g(w*·x/√d) with
    w* ~ N(0, I_d) and g = tanh, relu or the identity (`target`), plus N(0, label_noise²) on the training
    labels only. Returns (x_train (n_train, d), y_train (n_train, 1), x_test, y_test), all from `seed`."""
    if n_train < 1 or n_test < 1 or dim < 1 or label_noise < 0:
        raise ValueError(
            f"teacher_regression needs n_train, n_test, dim >= 1 and label_noise >= 0; "
            f"got {n_train}, {n_test}, {dim}, {label_noise}"
        )
    g = {"tanh": torch.tanh, "relu": torch.relu, "linear": lambda z: z}.get(str(target))
    if g is None:
        raise ValueError(f"teacher target must be tanh, relu or linear, got {target!r}")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n_train + n_test, dim, generator=gen, dtype=dtype)
    x = x / x.norm(dim=1, keepdim=True) * math.sqrt(dim)
    teacher = torch.randn(dim, generator=gen, dtype=dtype)
    y = g(x @ teacher / math.sqrt(dim))[:, None]
    noise = label_noise * torch.randn(n_train, 1, generator=gen, dtype=dtype)
    return x[:n_train], y[:n_train] + noise, x[n_train:], y[n_train:]


def teacher_data(cfg, dtype: torch.dtype = torch.float64):
    """`teacher_regression` from a config with its fields (`workers.families.base.TeacherDataConfig`)."""
    return teacher_regression(
        cfg.n_train,
        cfg.n_test,
        cfg.dim,
        target=str(getattr(cfg.target, "value", cfg.target)),
        label_noise=cfg.label_noise,
        seed=cfg.split_seed,
        dtype=dtype,
    )
