"""phasesweep's Hydra plugins. Hydra discovers plugins only inside the `hydra_plugins`
namespace package; importing this registers `hydra/launcher=ray`, `hydra/sweeper=grid` and the
config schemas."""

from dataclasses import dataclass, field

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
    """`hydra/sweeper=grid`: the Cartesian product of the swept values, checked without composing each trial."""

    _target_: str = "hydra_plugins.phasesweep.grid_sweeper.GridSweeper"
    params: dict[str, str] = field(default_factory=dict)
    """Swept keys and their values (`key: a,b,c`), as a sweep file gives them; the command line wins."""


ConfigStore.instance().store(group="hydra/sweeper", name="grid", node=GridSweeperConf, provider="phasesweep")
