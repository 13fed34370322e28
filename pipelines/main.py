"""The `phasesweep` command: a Hydra task function.

    phasesweep experiment=rbm_ising                 # one trial, in-process
    phasesweep -m experiment=rbm_ising model.width=16,64 ...   # a sweep on Ray
    phasesweep +sweep=rbm_ising_grid                # a sweep defined in conf/sweep/

Without -m the trial runs here through `workers.run_trial`; with -m the Ray launcher in
`hydra_plugins/phasesweep` runs every trial through the same function.
"""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

import pipelines.schema  # noqa: F401  (registers the typed schemas)
from pipelines.validate import ConfigError, fail

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
GROUPS = ("model", "data", "train", "sampler", "tracking", "cluster", "experiment", "sweep")


def config_dirs(args: list[str]) -> list[Path]:
    """The config directories a command reads: the project's, and any `--config-dir`/`-cd` it adds."""
    dirs = [CONF_DIR]
    for flag, value in itertools.pairwise(args):
        if flag in ("--config-dir", "-cd"):
            dirs.append(Path(value).expanduser().resolve())
    for arg in args:
        if arg.startswith(("--config-dir=", "-cd=")):
            dirs.append(Path(arg.partition("=")[2]).expanduser().resolve())
    return dirs


def _group_options(group: str, dirs: list[Path]) -> list[str]:
    from hydra.core.config_store import ConfigStore

    files = sorted(p.stem for d in dirs for p in (d / group).glob("*.yaml"))
    stored = ConfigStore.instance().repo.get(group, {})
    return sorted(set(files) | {name.removesuffix(".yaml") for name in stored})


def help_groups() -> str:
    """`group: option, ...` for each config group a user picks from, for `--help` (Hydra's own list also
    shows the internal `schema/*` groups the typed configs live in)."""
    dirs = config_dirs(sys.argv[1:])
    return "\n".join(f"{group}: {', '.join(_group_options(group, dirs))}" for group in sorted(GROUPS))


OmegaConf.register_new_resolver("phasesweep_groups", help_groups, replace=True)


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
        options = _group_options(group, config_dirs(args))
        values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
        for value in values:
            if value not in options and value != "null":
                fail(f"{group}={value}: unknown {group}; choose one of: {', '.join(options)}")


FLAGS_WITH_VALUE = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn"}
FLAGS_WITH_VALUE |= {"--config-dir", "-cd", "--info", "-i", "--experimental-rerun"}
"""Hydra's flags whose next argument is their value, not an override."""


def override_args(args: list[str]) -> list[str]:
    """The overrides on a command line: its positional arguments, less the values of Hydra's own flags."""
    out, flag_value = [], False
    for arg in args:
        if flag_value and "=" not in arg:
            flag_value = False
            continue
        flag_value = arg in FLAGS_WITH_VALUE
        if not arg.startswith("-"):
            out.append(arg)
    return out


def check_grammar(args: list[str]) -> None:
    """Name an override Hydra cannot parse (`model.width16`) in one line, exit 2."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for arg in override_args(args):
        try:
            parser.parse_override(arg)
        except Exception as exc:
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            why = lines[1] if len(lines) > 1 else _first_line(exc)
            fail(f"{arg}: not an override ({why}); write key=value, e.g. model.width=16, or a,b,c to sweep")


def check_composition(args: list[str]) -> None:
    """Compose the config once per structure, and check every swept value against its key, so that a
    value of the wrong type, a misspelled key or an oversized sweep is reported in one line (Hydra's own
    report spans several) before anything runs.

    A swept config group (`model=rbm,ebm_mlp`) is composed once per choice. A swept value is composed
    once and every other value of it is assigned to that composed config, which checks its type
    in microseconds, so 10,000 seeds are checked in about a second.
    """
    if any(a in ("--help", "-h", "--hydra-help", "--info", "--version", "--shell-completion", "-sc") for a in args):
        return
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.types import RunMode

    candidates = [a for a in override_args(args) if "=" in a and not a.startswith("hydra.")]
    parser = OverridesParser.create()
    parsed = parser.parse_overrides(candidates)  # check_grammar has named any bad one
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    extra = [f"file://{d}" for d in config_dirs(args)[1:]]
    if extra:  # as Hydra adds a --config-dir to its search path
        fixed.insert(0, f"hydra.searchpath=[{','.join(extra)}]")
    if GlobalHydra.instance().is_initialized():
        return
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        base = _compose(compose, fixed, " ".join(fixed) or "the defaults", hydra=True)
        swept = {o.get_key_element(): o for o in parsed if o.is_sweep_override()}
        if "-m" in args or "--multirun" in args or base.hydra.mode is RunMode.MULTIRUN:
            for key, value in (base.hydra.sweeper.get("params") or {}).items():
                if key in swept or any(o.get_key_element() == key for o in parsed):
                    continue  # the command line wins
                line = f"{key}={'' if value is None else value}"
                try:
                    o = parser.parse_override(line)
                except Exception as exc:
                    fail(f"hydra.sweeper.params: {line}: not a sweep ({_first_line(exc)})")
                if o.is_sweep_override():
                    swept[key] = o
                elif str(value).strip() in ("", "[]", "None"):
                    fail(f"hydra.sweeper.params: {key}: {value!r} sweeps no values; give a,b,c or range(a,b,step)")
                else:
                    _compose(compose, [*fixed, line], f"hydra.sweeper.params: {line}")
        _check_size(swept, base)
        for key, o in swept.items():
            values = list(o.sweep_string_iterator())
            if o.key_or_group in GROUPS or o.is_add() or o.is_delete() or o.is_force_add():
                for value in values:  # another choice of group can change the whole structure
                    _compose(compose, [*fixed, f"{key}={value}"], f"{key}={value}")
                continue
            cfg = _compose(compose, [*fixed, f"{key}={values[0]}"], f"{key}={values[0]}")
            for value, parsed_value in zip(values[1:], list(o.sweep_iterator())[1:], strict=True):
                try:
                    OmegaConf.update(cfg, key, parsed_value, merge=False)
                except Exception as exc:
                    fail(f"{key}={value}: {_first_line(exc)}")


def _compose(compose, overrides: list[str], culprit: str, hydra: bool = False) -> DictConfig:
    try:
        return compose("config", overrides=overrides, return_hydra_config=hydra)
    except Exception as exc:
        fail(f"{culprit}: {_first_line(exc)}")
        raise  # unreachable: fail exits


def _check_size(swept: dict, base: DictConfig) -> None:
    """Refuse a sweep of more than `max_trials` trials before one of them is composed."""
    count = math.prod(len(list(o.sweep_string_iterator())) for o in swept.values())
    limit = base.get("max_trials")
    if swept and limit is not None and count > limit:
        fail(
            f"this sweep has {count:,} trials, more than max_trials={limit}; "
            f"add max_trials={count} to run it, or sweep fewer values"
        )


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
    """The console script. It ends the process with `exit_now`: once the work is stored and the output
    flushed, tearing down torch, MLflow and Ray's modules one by one would add seconds to every command."""
    try:
        check_grammar(sys.argv[1:])
        check_group_choices(sys.argv[1:])
        check_composition(sys.argv[1:])
        phasesweep()
    except SystemExit as done:
        exit_now(done.code)
    exit_now(0)


def exit_now(code: int | str | None) -> None:
    """Flush what the user should see, let go of Ray if this process holds it, and leave without the
    interpreter's teardown. Every MLflow write has committed by now: the sink flushes before a run ends."""
    import logging
    import os

    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
