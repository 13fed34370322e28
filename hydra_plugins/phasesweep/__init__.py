"""phasesweep's Hydra plugins. Hydra discovers plugins only inside the `hydra_plugins`
namespace package; importing this registers `hydra/launcher=ray`, `hydra/sweeper=grid`,
`hydra/sweeper=adaptive` and the config schemas."""

from dataclasses import dataclass, field
from typing import Optional

from hydra.core.config_store import ConfigStore

import pipelines.schema  # noqa: F401  (typed schemas for conf/)


@dataclass
class RayLauncherConf:
    """`hydra/launcher=ray`: every trial of a multirun is a Ray task running `workers.run_trial`.

    Where Ray runs and what each trial asks for come from the task config (`cluster.*`,
    `resources.*`), so a sweep can vary them.
    """

    _target_: str = "hydra_plugins.phasesweep.ray_launcher.RayLauncher"
    poll_interval_s: float = 0.5
    """How often the progress display refreshes while waiting on trials."""


ConfigStore.instance().store(group="hydra/launcher", name="ray", node=RayLauncherConf, provider="phasesweep")


@dataclass
class GridSweeperConf:
    """`hydra/sweeper=grid` (the default): the Cartesian product of the swept values, checked without
    composing each trial. With `axis` set it runs adaptively, as `hydra/sweeper=adaptive` does: a sweep
    file cannot change the sweeper the primary config chose (Hydra keeps the first override of a group),
    so a sweep file turns adaptive by setting `hydra.sweeper.axis` and the rest below."""

    _target_: str = "hydra_plugins.phasesweep.grid_sweeper.GridSweeper"
    params: dict[str, str] = field(default_factory=dict)
    """Swept keys and their values (`key: a,b,c`), as a sweep file gives them; the command line wins. In an
    adaptive sweep, the grid held for every value of `axis` (sizes, seeds, a second axis)."""
    axis: Optional[str] = None  # noqa: UP045  (Hydra's structured configs read typing.Optional)
    """Adaptive: the numeric key refined in rounds, e.g. data.temperature (`pipelines.adaptive`); None: a grid."""
    bounds: list[float] = field(default_factory=list)
    """Adaptive: [low, high] of the axis."""
    estimator: str = ""
    """Adaptive: what locates the transition: `binder`, `peak:<observable>` or `steepest:<observable>`."""
    target: float = 0.01
    """Adaptive: stop when every estimate's confidence interval has at most this half-width (axis units)."""
    initial: int = 5
    """Adaptive: evenly spaced axis values of the first round."""
    batch: Optional[int] = None  # noqa: UP045
    """Adaptive: trials a later round adds; None: as many as Ray has slots (at least one value per estimate)."""
    budget: int = 200
    """Adaptive: most trials the sweep may hold, over every round and command."""
    max_rounds: Optional[int] = None  # noqa: UP045
    """Adaptive: stop after this many rounds in all (a rerun with a larger value continues); None: no limit."""
    log: bool = False
    """Adaptive: space and refine the axis in ln(x) (learning rates, widths)."""
    resolution: Optional[float] = None  # noqa: UP045
    """Adaptive: smallest step between two axis values; None: target / 5 (1 for an integer axis)."""


ConfigStore.instance().store(group="hydra/sweeper", name="grid", node=GridSweeperConf, provider="phasesweep")


@dataclass
class AdaptiveSweeperConf(GridSweeperConf):
    """`hydra/sweeper=adaptive`: rounds of trials placed where a transition is, until its location is known
    to `target` (`pipelines.adaptive`); the same keys as the grid sweeper's, with `axis` required."""

    _target_: str = "hydra_plugins.phasesweep.adaptive_sweeper.AdaptiveSweeper"


ConfigStore.instance().store(group="hydra/sweeper", name="adaptive", node=AdaptiveSweeperConf, provider="phasesweep")
