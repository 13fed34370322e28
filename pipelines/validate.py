"""Validation of a composed config, run in the driver before Ray starts or any run exists.

Every failure is a `ConfigError` whose one-line message names the key, the bad value and
what is allowed, e.g. ``data.temperature=-1.0: must be > 0 (temperatures are in units of J/k_B)``.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


class ConfigError(ValueError):
    """A config value that cannot run. `str(err)` is the one line the CLI prints."""


def fail(message: str, code: int = 2) -> None:
    """Print one line on stderr and exit; used for every user error."""
    print(f"phasesweep: error: {message}", file=sys.stderr)
    raise SystemExit(code)


@dataclass(frozen=True)
class Rule:
    key: str
    ok: Callable[[Any], bool]
    allowed: str
    hint: str = ""


def _num(pred: Callable[[float], bool]) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and pred(v)

    return check


def _int(pred: Callable[[int], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and pred(v)


RULES: list[Rule] = [
    Rule("seed", _int(lambda v: v >= 0), "must be an integer >= 0"),
    Rule("resume", lambda v: isinstance(v, bool), "must be true or false"),
    Rule("seed", _int(lambda v: v < 2**63), "must be below 2**63", "the range torch's and numpy's generators take"),
    Rule("max_trials", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("pack.size", lambda v: v == "auto" or _int(lambda n: n >= 1)(v), "must be an integer >= 1 or auto"),
    Rule("cluster.num_cpus", lambda v: v is None or _int(lambda n: n >= 1)(v), "must be null or an integer >= 1"),
    Rule("cluster.num_gpus", lambda v: v is None or _int(lambda n: n >= 0)(v), "must be null or an integer >= 0"),
    Rule(
        "sweep_name",
        lambda v: v is None or (isinstance(v, str) and v and "'" not in v),
        "must be null or a name without quotes",
    ),
    Rule(
        "data.temperature",
        _num(lambda v: v > 0 and math.isfinite(1.0 / v)),
        "must be > 0 with a finite 1/T",
        "temperatures are in units of J/k_B",
    ),
    Rule("data.L", _int(lambda v: v >= 2), "must be an integer >= 2", "the linear lattice size"),
    Rule("data.n_samples", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("data.burn_in", _int(lambda v: v >= 0), "must be an integer >= 0", "Monte Carlo sweeps"),
    Rule("model.width", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("model.init_std", _num(lambda v: v >= 0), "must be >= 0"),
    Rule("train.steps", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("train.lr", _num(lambda v: v > 0), "must be > 0"),
    Rule("train.batch_size", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("train.momentum", _num(lambda v: 0 <= v < 1), "must be in [0, 1)"),
    Rule("train.weight_decay", _num(lambda v: v >= 0), "must be >= 0"),
    Rule("train.observe_every", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("train.k", _int(lambda v: v >= 1), "must be an integer >= 1", "Gibbs steps per update"),
    Rule("train.sample_chains", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("train.sample_steps", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("train.sample_warm_steps", _int(lambda v: v >= 0), "must be an integer >= 0 (0: fresh chains)"),
    Rule("train.checkpoint_every", _int(lambda v: v >= 0), "must be an integer >= 0", "0 keeps only the final one"),
    Rule("train.temperature", _num(lambda v: v >= 0), "must be >= 0", "posterior temperature; 0 is noiseless descent"),
    Rule("train.chains", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("data.algorithm", lambda v: v in ("metropolis", "wolff"), "must be metropolis or wolff"),
    Rule("train.burn_in", _int(lambda v: v >= 0), "must be an integer >= 0"),
    Rule("train.thin", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("train.gamma", _num(lambda v: 0.5 < v <= 1), "must be in (0.5, 1]", "so that Σε = ∞ and Σε² < ∞"),
    Rule("train.n_cycles", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("model.depth", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("model.prior_std", _num(lambda v: v > 0), "must be > 0"),
    Rule("data.test_size", _num(lambda v: 0 < v < 1), "must be in (0, 1)"),
    Rule("data.dim", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("data.n", _int(lambda v: v >= 2), "must be an integer >= 2"),
    Rule("data.noise_std", _num(lambda v: v > 0), "must be > 0"),
    Rule("data.alpha", _num(lambda v: v > 0), "must be > 0", "the load P/N"),
    Rule("data.flip_fraction", _num(lambda v: 0 <= v <= 1), "must be in [0, 1]"),
    Rule("train.networks", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("sampler.temperature", _num(lambda v: v >= 0), "must be >= 0"),
    Rule("sampler.step_size", _num(lambda v: v > 0), "must be > 0", "the Langevin step ε"),
    Rule("sampler.steps", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("sampler.eval_steps", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule(
        "sampler.long_run_factor",
        _int(lambda v: v >= 10),
        "must be an integer >= 10",
        "long-run chains need >= 10x the steps to expose non-convergence",
    ),
    Rule("sampler.buffer_size", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("sampler.reinit_prob", _num(lambda v: 0 <= v <= 1), "must be in [0, 1]"),
    Rule("sampler.clip", _num(lambda v: v > 0), "must be > 0"),
    Rule("train.alpha", _num(lambda v: v >= 0), "must be >= 0"),
    Rule("train.grad_clip", _num(lambda v: v >= 0), "must be >= 0", "0 turns clipping off"),
    Rule("data.n_heldout", _int(lambda v: v >= 2), "must be an integer >= 2"),
    Rule("analysis.n_boot", _int(lambda v: v >= 50), "must be an integer >= 50", "bootstrap draws"),
    Rule("analysis.level", _num(lambda v: 0.5 <= v < 1), "must be in [0.5, 1)"),
    Rule("train.modes", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("train.loglik_every", _int(lambda v: v >= 0), "must be an integer >= 0", "0 turns it off"),
    Rule("train.lr_decay", _num(lambda v: 0 < v <= 1), "must be in (0, 1]"),
    Rule("data.N", _int(lambda v: v >= 2), "must be an integer >= 2"),
    Rule("data.flip_prob", _num(lambda v: 0 <= v <= 0.5), "must be in [0, 0.5]"),
    Rule("data.n_modes", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("train.lr_scaled", lambda v: v is None or _num(lambda x: x > 0)(v), "must be null or > 0", "η·λ₀"),
    Rule("train.sharpness_every", _int(lambda v: v >= 0), "must be an integer >= 0", "0: at observe steps only"),
    Rule("train.power_iters", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("train.divergence_factor", _num(lambda v: v > 1), "must be > 1", "times the initial loss"),
    Rule("train.dtype", lambda v: v in ("float32", "float64"), "must be float32 or float64"),
    Rule("data.n_train", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("data.n_test", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("data.label_noise", _num(lambda v: v >= 0), "must be >= 0"),
    Rule("model.ridge", _num(lambda v: v >= 0), "must be >= 0", "0: the minimum-norm solution"),
    Rule("tracking.flush_every", _int(lambda v: v >= 1), "must be an integer >= 1"),
    Rule("tracking.outage_limit_s", _num(lambda v: v > 0), "must be > 0", "seconds"),
    Rule("tracking.lease_s", _num(lambda v: v >= 2), "must be >= 2", "seconds; beats come every lease_s/4"),
    Rule("resources.cpus", _num(lambda v: v >= 0), "must be >= 0"),
    Rule(
        "resources.gpus",
        _num(lambda v: v >= 0 and (v <= 1 or float(v).is_integer())),
        "must be >= 0, and a whole number when above 1",
        "fractions < 1 share a GPU",
    ),
    Rule("resources.max_retries", _int(lambda v: v >= 0), "must be an integer >= 0"),
]


def _select(cfg: DictConfig, key: str) -> tuple[bool, Any]:
    sentinel = object()
    value = OmegaConf.select(cfg, key, default=sentinel, throw_on_missing=False)
    return value is not sentinel, value


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError for the first value in `cfg` that breaks a rule."""
    check_rules(cfg, RULES_BY_KEY)
    validate_family(cfg)


RULES_BY_KEY: dict[str, list[Rule]] = {}
for _rule in RULES:
    RULES_BY_KEY.setdefault(_rule.key, []).append(_rule)


def check_rules(cfg: DictConfig, keys) -> None:
    """Check the values of `keys` in `cfg` against their rules. Every rule reads one key, so a sweep's
    trials that differ from a checked one only in some keys need only those keys checked."""
    for key in keys:
        present, value = _select(cfg, key)
        if not present:
            continue
        for rule in RULES_BY_KEY.get(key, ()):
            if not rule.ok(value):
                hint = f" ({rule.hint})" if rule.hint else ""
                raise ConfigError(f"{rule.key}={value!r}: {rule.allowed}{hint}")


SHAPE_KEYS = ("model.width", "data.L", "data.N", "data.n_samples", "train.sample_chains", "train.chains")
SHAPE_KEYS += ("train.networks", "train.steps", "train.batch_size")
"""Keys that set a trial's array sizes, in the order a memory refusal names the largest of them."""
FAMILY_KEYS = (
    "model.family",
    "data.kind",
    "data.cache_dir",
    "data.alpha",
    "cluster.address",
    "model.block",
    "model.min_size",
    *SHAPE_KEYS,
)
"""Every key `validate_family` reads (with the config groups, which fix the rest): a sweep's trials
that agree on these need its checks only once."""


_ABSENT = object()


def validate_family(cfg: DictConfig) -> None:
    """The checks that need the family: its data kinds, its memory estimate, its sampler, the cache dir."""
    from workers.families import FAMILIES, family_checks

    name = OmegaConf.select(cfg, "model.family")
    try:
        checks = family_checks(name)
    except (KeyError, ImportError, AttributeError, ValueError, TypeError):
        known = ", ".join(sorted(FAMILIES))
        raise ConfigError(
            f"model.family={name!r}: unknown model family; choose one of {known}, "
            "or give an import path 'package.module:Class'"
        ) from None
    kind = OmegaConf.select(cfg, "data.kind")
    if checks.data_kinds is not None and kind not in checks.data_kinds:
        raise ConfigError(
            f"data.kind={kind!r}: the {name} family does not train on it; use data with kind "
            f"{' or '.join(sorted(checks.data_kinds))}"
        )
    why = checks.refusal(cfg.model, cfg.data, cfg.train) if checks.refusal is not None else None
    if why:
        raise ConfigError(why)
    if checks.memory_bytes is not None:
        need = int(checks.memory_bytes(cfg.model, cfg.data, cfg.train))
        have = machine_memory()
        if not (cfg.cluster.get("address") or os.environ.get("RAY_ADDRESS")) and need > have:
            raise ConfigError(
                f"{_largest_shape(cfg)}: the trial would need about {need / 2**30:,.1f} GiB, more than this "
                f"machine's {have / 2**30:.1f} GiB; shrink it"
            )
    missing = [key for key in checks.packable_keys(kind) if OmegaConf.select(cfg, key, default=_ABSENT) is _ABSENT]
    if missing:
        raise ConfigError(
            f"model.family={name}: its packable keys name {', '.join(missing)}, which the config lacks; "
            "declare only keys the trial's config has"
        )
    if checks.needs_sampler and cfg.get("sampler") is None:
        raise ConfigError(f"sampler=null: the {name} family needs a sampler config; add sampler=langevin")
    _validate_cache_dir(cfg)


def _validate_cache_dir(cfg: DictConfig) -> None:
    cache = OmegaConf.select(cfg, "data.cache_dir")
    if cache:
        check_dir("data.cache_dir", str(cache), hint="; point it at a writable directory, or set it to null")


def check_dir(key: str, value: str, hint: str = "") -> None:
    """`value` is, or can be made, a directory this process can write to (it is what the user named).

    Torch-free on purpose: the driver runs it for every trial before Ray starts.
    """
    path = Path(value).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".phasesweep-probe-"):
            pass
    except OSError as exc:
        raise ConfigError(f"{key}={value}: not a writable directory ({exc.strerror or exc}){hint}") from None


def _largest_shape(cfg: DictConfig) -> str:
    """`key=value` of the biggest size-setting value, which is what a memory refusal names."""
    present = [(k, v) for k in SHAPE_KEYS if isinstance(v := OmegaConf.select(cfg, k), int)]
    key, value = max(present, key=lambda kv: kv[1], default=("model.width", None))
    return f"{key}={value}"


def machine_memory() -> int:
    """Physical memory of this machine, in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def local_capacity(cluster: DictConfig, *, gpus_wanted: bool = True) -> dict[str, float]:
    """CPUs and GPUs an embedded local Ray instance would have, without starting it. GPUs are counted
    only when `gpus_wanted` (a sweep that asks for none needs no count): none on a machine with no NVIDIA
    device node and no CUDA_VISIBLE_DEVICES, else through torch (a 3 s import, 10 s on a loaded machine)."""
    cpus = cluster.get("num_cpus") or os.cpu_count() or 1
    gpus = cluster.get("num_gpus")
    if gpus is None and (not gpus_wanted or not _may_have_gpus()):
        gpus = 0
    elif gpus is None:
        import torch

        gpus = torch.cuda.device_count()
    return {"CPU": float(cpus), "GPU": float(gpus)}


def _may_have_gpus() -> bool:
    """False only where CUDA surely sees no device: no /dev/nvidia<N> node and CUDA_VISIBLE_DEVICES unset."""
    return "CUDA_VISIBLE_DEVICES" in os.environ or any(Path("/dev").glob("nvidia[0-9]*"))


def check_resources(cpus: float, gpus: float, per_node: list[dict[str, float]], where: str) -> None:
    """Refuse a per-trial request (`resources.cpus`, `resources.gpus`) that no node could ever satisfy."""
    want = {"CPU": float(cpus), "GPU": float(gpus)}
    if any(all(node.get(k, 0.0) >= v for k, v in want.items()) for node in per_node):
        return
    best = {k: max((node.get(k, 0.0) for node in per_node), default=0.0) for k in want}
    key, value = ("resources.gpus", gpus) if want["GPU"] > best["GPU"] else ("resources.cpus", cpus)
    raise ConfigError(
        f"{key}={value!r}: no node of {where} can satisfy it "
        f"(largest node has {best['CPU']:g} CPUs, {best['GPU']:g} GPUs)"
    )
