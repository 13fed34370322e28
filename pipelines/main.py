"""The `phasesweep` command: a Hydra task function.

    phasesweep experiment=rbm_ising                 # one trial, in-process
    phasesweep -m experiment=rbm_ising model.width=16,64 ...   # a sweep on Ray
    phasesweep +sweep=rbm_ising_grid                # a sweep defined in conf/sweep/

Without -m the trial runs here through `workers.run_trial`; with -m the Ray launcher in
`hydra_plugins/phasesweep` runs every trial through the same function.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import pipelines.schema  # noqa: F401  (registers the typed schemas)
from pipelines.validate import ConfigError, fail

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
GROUPS = ("model", "data", "train", "sampler", "tracking", "cluster", "experiment", "sweep")


def _group_options(group: str) -> list[str]:
    from hydra.core.config_store import ConfigStore

    files = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
    stored = ConfigStore.instance().repo.get(group, {})
    return sorted(set(files) | {name.removesuffix(".yaml") for name in stored})


def check_group_choices(args: list[str]) -> None:
    """Name an unknown `model=`/`experiment=`/… choice in one line, before Hydra composes."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    candidates = [a for a in args if not a.startswith("-") and "=" in a]
    try:
        overrides = OverridesParser.create().parse_overrides(candidates)
    except Exception:
        return  # Hydra reports its own grammar errors
    for o in overrides:
        group = o.key_or_group
        if group not in GROUPS or o.is_delete():
            continue
        options = _group_options(group)
        values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
        for value in values:
            if value not in options and value != "null":
                fail(f"{group}={value}: unknown {group}; choose one of: {', '.join(options)}")


def check_composition(args: list[str]) -> None:
    """Compose the config once per value of every override, so that a value of the wrong type
    or a misspelled key is reported in one line (Hydra's own report spans several)."""
    if any(a in ("--help", "-h", "--hydra-help", "--info", "--version", "--shell-completion", "-sc") for a in args):
        return
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    candidates = [a for a in args if not a.startswith("-") and "=" in a and not a.startswith("hydra.")]
    try:
        parsed = OverridesParser.create().parse_overrides(candidates)
    except Exception as exc:
        fail(f"cannot parse the overrides: {str(exc).splitlines()[0]}")
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    trials = [
        [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] for o in parsed if o.is_sweep_override()
    ]
    probes = [fixed] + [[*fixed, one] for values in trials for one in values]
    if GlobalHydra.instance().is_initialized():
        return
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for overrides in probes:
            try:
                compose("config", overrides=overrides)
            except Exception as exc:
                culprit = overrides[-1] if overrides and overrides is not fixed else " ".join(fixed)
                fail(f"{culprit}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    """The most specific one-line reason in a Hydra/OmegaConf exception chain."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def phasesweep(cfg: DictConfig) -> float | None:
    """Run one trial in-process (the multirun path never calls this: the launcher does)."""
    from pipelines.single import run_single

    try:
        return run_single(cfg, overrides=list(HydraConfig.get().overrides.task))
    except ConfigError as err:
        fail(str(err))
    return None


def main() -> None:
    check_group_choices(sys.argv[1:])
    check_composition(sys.argv[1:])
    phasesweep()


if __name__ == "__main__":
    main()
