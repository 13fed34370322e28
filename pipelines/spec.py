"""Turn a composed DictConfig into a typed, validated `TrialSpec`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from pipelines.validate import validate
from workers.spec import TrialSpec

KEY_FIELDS = ("experiment_name", "seed", "model", "data", "train", "sampler")
"""The parts of the config that define what a trial computes (and so its trial key)."""
NOT_IN_KEY = {("data", "cache_dir"), ("train", "device")}


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"model": {"width": 16}} -> {"model.width": 16}."""
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out or ({prefix[:-1]: "{}"} if prefix else {})
    return {prefix[:-1]: tree}


def trial_key(container: dict[str, Any]) -> str:
    """A stable 16-hex hash of what the trial computes; the same config gives the same key."""
    keyed = {k: container.get(k) for k in KEY_FIELDS}
    for group, field in NOT_IN_KEY:
        if isinstance(keyed.get(group), dict):
            keyed[group] = {k: v for k, v in keyed[group].items() if k != field}
    blob = json.dumps(keyed, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def task_config(cfg: DictConfig) -> DictConfig:
    """The config without Hydra's own node."""
    cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    return cfg


def build_spec(cfg: DictConfig, overrides: list[str] | None = None, *, checked: bool = False) -> TrialSpec:
    """Validate `cfg` (unless the caller has: `checked`) and return the typed spec of its trial
    (raises ConfigError)."""
    if not checked:
        validate(cfg)
    cfg = task_config(cfg)
    container = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    container.pop("pack", None)  # how the launcher groups trials, not what a trial computes or logs
    data = OmegaConf.to_object(cfg.data)
    if getattr(data, "cache_dir", None):  # workers run in other directories
        data.cache_dir = str(Path(data.cache_dir).expanduser().resolve())
    return TrialSpec(
        experiment_name=cfg.experiment_name,
        seed=cfg.seed,
        model=OmegaConf.to_object(cfg.model),
        data=data,
        train=OmegaConf.to_object(cfg.train),
        sampler=OmegaConf.to_object(cfg.sampler) if cfg.get("sampler") is not None else None,
        analysis=OmegaConf.to_object(cfg.analysis),
        tracking=OmegaConf.to_object(cfg.tracking),
        resources=OmegaConf.to_object(cfg.resources),
        cluster=OmegaConf.to_object(cfg.cluster),
        overrides=list(overrides or []),
        config_yaml=OmegaConf.to_yaml(container),
        trial_key=trial_key(container),
    )


def params_of(spec: TrialSpec) -> dict[str, Any]:
    """The flattened resolved config, as MLflow params."""
    import yaml

    return flatten(yaml.safe_load(spec.config_yaml))


def _tidy(value: str) -> str:
    """`2.8000000000000003` (float noise from Hydra's range()) reads as `2.8`."""
    try:
        number = float(value)
    except ValueError:
        return value
    return f"{number:.10g}" if "." in value or "e" in value.lower() else value


def run_name(overrides: list[str], keys: set[str] | None = None) -> str:
    """A short, readable run name from the trial's overrides: `temperature=2.2 width=16 lr=0.01`.

    With `keys`, only those overrides (the swept axes) are named.
    """
    parts = []
    for o in overrides:
        key, _, value = o.partition("=")
        if keys is not None and key not in keys:
            continue
        parts.append(f"{key.rsplit('.', 1)[-1].lstrip('+~')}={_tidy(value)}")
    return " ".join(parts) or "default"
