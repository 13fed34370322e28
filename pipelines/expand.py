"""A sweep's trials, composed once per structure instead of once per trial.

Hydra composes a config in about a quarter of a second, so composing each of 10,000 trials takes
most of an hour. The trials of a sweep share their structure, though: they choose the same config
groups and set the same keys, and differ only in values. So `Expansion` groups the trials by
structure (their group choices, `+`/`~`/`@` and `hydra.*` overrides, and the set of keys they set),
has Hydra compose each group once, and gives each trial its group's config with its own values
assigned, as Hydra assigns a value override (`OmegaConf.update(..., merge=True)`), which checks the
value against its typed schema in microseconds.

Validation is split the same way (`Expansion.validate`): a group's config is validated in full
once, then each trial's values are checked against the rules of their keys (every rule in
`pipelines.validate.RULES` reads one key), and the family checks (memory, data kind, cache dir)
run again only for a new combination of the keys they read. A trial's `TrialSpec` is built only
when the trial is queued (`Expansion.spec`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from pipelines.spec import build_spec
from pipelines.validate import FAMILY_KEYS, RULES, ConfigError, check_rules, validate, validate_family
from workers.spec import TrialSpec

ComposeTrial = Callable[[Sequence[str], int], DictConfig]
"""(a trial's overrides, its job number) -> its composed config, as Hydra's config loader gives it."""

_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+")
_RULE_KEYS = {rule.key for rule in RULES}
_UNSET = object()


def parse_value(text: str) -> Any:
    """The value Hydra's override grammar gives `text`. Plain integers and decimals, which is what
    `range()` and seed sweeps produce, are read directly (the grammar reads them the same way, and
    its parser costs a third of a millisecond a call); anything else goes through the grammar."""
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_override(f"key={text}").value()


def is_structural(key: str, is_group: Callable[[str], bool]) -> bool:
    """True for an override that can change the config's structure rather than one value in it."""
    return key[:1] in "+~" or "@" in key or key.startswith("hydra.") or "/" in key or is_group(key)


@dataclass
class Group:
    """Trials that share a structure, and the config Hydra composed for the first of them."""

    cfg: DictConfig
    keys: tuple[str, ...]
    first: int
    checked_family: set[tuple[Any, ...]] = field(default_factory=set)
    applied: tuple[Any, ...] = ()
    """The values now assigned in `cfg`."""
    validated: tuple[Any, ...] = ()
    """The values of the trial whose config `validate()` checked in full."""


class Expansion(Sequence[list[str]]):
    """The trials of a sweep, in Hydra's job order. `exp[i]` is trial i's overrides."""

    def __init__(
        self,
        job_overrides: Sequence[Sequence[str]],
        compose: ComposeTrial,
        is_group: Callable[[str], bool],
        initial_job_idx: int = 0,
    ) -> None:
        self.job_overrides = [list(o) for o in job_overrides]
        self.initial_job_idx = initial_job_idx
        self._compose = compose
        self._groups: dict[tuple, Group] = {}
        self._trials: list[tuple[Group, tuple[Any, ...]]] = []
        self._values: dict[str, Any] = {}
        self._is_group = is_group
        self.resource_requests: dict[tuple[float, float], int] = {}
        """Each distinct (resources.cpus, resources.gpus) the trials ask for, and the first trial asking."""

    def __len__(self) -> int:
        return len(self.job_overrides)

    def __getitem__(self, i):  # type: ignore[override]
        return self.job_overrides[i]

    def _expand(self, i: int) -> tuple[Group, tuple[Any, ...]]:
        overrides = self.job_overrides[i]
        structure, keys, texts = [], [], []
        for o in overrides:
            key, _, value = o.partition("=")
            if is_structural(key, self._is_group):
                structure.append(o)
            else:
                keys.append(key)
                texts.append(value)
        signature = (tuple(structure), tuple(keys))
        group = self._groups.get(signature)
        if group is None:
            try:
                cfg = self._compose(overrides, self.initial_job_idx + i)
            except Exception as exc:
                while exc.__cause__ is not None:
                    exc = exc.__cause__
                raise ConfigError(f"{' '.join(structure) or 'the defaults'}: {_first_line(exc)}") from None
            group = self._groups[signature] = Group(cfg=cfg, keys=tuple(keys), first=i)
        values = tuple(self._value(text) for text in texts)
        return group, values

    def _value(self, text: str) -> Any:
        if text not in self._values:
            self._values[text] = parse_value(text)
        return self._values[text]

    def config(self, i: int) -> DictConfig:
        """Trial i's full config (Hydra's node included). It is its group's config with trial i's values
        assigned, so it is valid until the next call for a trial of the same group."""
        group, values = self._trials[i] if i < len(self._trials) else self._expand(i)
        for key, value, now in zip(group.keys, values, group.applied or [_UNSET] * len(values), strict=True):
            if value is now and now is not _UNSET:
                continue  # parsed values are shared per text, so `is` finds the unchanged ones
            try:
                OmegaConf.update(group.cfg, key, value, merge=True)
            except Exception as exc:
                raise ConfigError(f"{key}={_text(value)}: {_first_line(exc)}") from None
        group.applied = values
        return group.cfg

    def spec(self, i: int) -> TrialSpec:
        """Trial i's spec, built from its config; `validate()` has checked it already."""
        return build_spec(self.config(i), self.job_overrides[i], checked=True)

    def validate(self) -> None:
        """Check every trial, raising ConfigError naming the first bad one. Progress shows past a second."""
        with _progress(len(self), "checking trials") as advance:
            for i in range(len(self)):
                try:
                    self._check(i)
                except ConfigError as err:
                    overrides = " ".join(self.job_overrides[i]) or "defaults"
                    raise ConfigError(f"{err}  [trial {self.initial_job_idx + i}: {overrides}]") from None
                advance()

    def _check(self, i: int) -> None:
        group, values = self._expand(i)
        self._trials.append((group, values))
        cfg = self.config(i)
        if i == group.first:
            validate(cfg)
            group.validated = values
            group.checked_family.add(self._family_values(group, values))
        else:
            changed = [k for k, v, w in zip(group.keys, values, group.validated, strict=True) if v is not w]
            check_rules(cfg, [k for k in changed if k in _RULE_KEYS])
            if any(k in FAMILY_KEYS for k in changed):
                family_values = self._family_values(group, values)
                if family_values not in group.checked_family:
                    validate_family(cfg)
                    group.checked_family.add(family_values)
        self.resource_requests.setdefault((float(cfg.resources.cpus), float(cfg.resources.gpus)), i)

    @staticmethod
    def _family_values(group: Group, values: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(v for k, v in zip(group.keys, values, strict=True) if k in FAMILY_KEYS)

    def packs(
        self, size: int, packable: Callable[[DictConfig], tuple[str, ...]], skip: set[int] = frozenset()
    ) -> list[list[int]]:
        """The trials (but those in `skip`) in packs of at most `size`, in job order of each pack's first
        trial. Trials share a pack when they share a structure and agree on every key outside
        `packable(config)` (the family's packable keys); `validate()` must have run."""
        by_signature: dict[tuple, list[int]] = {}
        for i, (group, values) in enumerate(self._trials):
            if i in skip:
                continue
            free = frozenset(packable(self.config(i)))  # per trial: a family may refuse some configs
            fixed = tuple((k, v) for k, v in zip(group.keys, values, strict=True) if k not in free)
            by_signature.setdefault((id(group), repr(fixed)), []).append(i)
        packs = [members[j : j + size] for members in by_signature.values() for j in range(0, len(members), size)]
        return sorted(packs, key=lambda pack: pack[0])

    def groups(self) -> list[DictConfig]:
        return [g.cfg for g in self._groups.values()]


def _text(value: Any) -> str:
    return "null" if value is None else str(value)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


@contextmanager
def _progress(total: int, label: str, after_s: float = 1.0) -> Iterator[Callable[[], None]]:
    """A progress bar that appears only once the work has taken `after_s` seconds."""
    start = time.perf_counter()
    progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), transient=True)
    task = progress.add_task(label, total=total)
    shown = False

    def advance() -> None:
        nonlocal shown
        progress.advance(task)
        if not shown and time.perf_counter() - start > after_s:
            progress.start()
            shown = True

    try:
        yield advance
    finally:
        if shown:
            progress.stop()
