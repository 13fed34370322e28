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
from pipelines.validate import ConfigError

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
GROUPS = ("model", "data", "train", "sampler", "tracking", "cluster", "experiment", "sweep")


def fail(message: str, code: int = 2) -> None:
    """Print one line on stderr and exit; used for every user error."""
    print(f"phasesweep: error: {message}", file=sys.stderr)
    raise SystemExit(code)


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
    phasesweep()


if __name__ == "__main__":
    main()
