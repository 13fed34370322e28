"""`hydra/sweeper=adaptive`: a sweep in rounds that spends its trials where the transition is.

The Hydra face only: the grid of held keys comes from `GridSweeper.grid`, each round is launched through
the configured launcher (`RayLauncher.launch_round`, so packing, resume and progress apply), and the
loop itself lives in `pipelines.adaptive`. The grid sweeper hands over here too when a sweep file sets
`hydra.sweeper.axis`.
"""

from __future__ import annotations

from typing import Any

from hydra_plugins.phasesweep.grid_sweeper import GridSweeper
from pipelines.validate import fail


class AdaptiveSweeper(GridSweeper):
    def sweep(self, arguments: list[str]) -> Any:
        if not self.adaptive.get("axis"):
            fail("hydra/sweeper=adaptive needs hydra.sweeper.axis: the numeric key to refine, e.g. data.temperature")
        return sweep_adaptively(self, arguments)


def sweep_adaptively(sweeper: GridSweeper, arguments: list[str]) -> Any:
    """Check the adaptive keys and the held grid, then run the rounds (`pipelines.adaptive.AdaptiveSweep`)."""
    from pipelines.adaptive import AdaptiveSweep, parse_settings
    from pipelines.validate import ConfigError

    if not hasattr(sweeper.launcher, "launch_round"):
        fail("hydra.sweeper.axis: an adaptive sweep launches its rounds through hydra/launcher=ray")
    try:
        settings = parse_settings(sweeper.adaptive)
    except ConfigError as err:
        fail(str(err))
    axis = settings.axis
    if any(a.split("=", 1)[0].lstrip("+~") == axis for a in [*sweeper.params, *arguments]):
        fail(
            f"{axis} is the axis the adaptive sweep refines: give its range as "
            f"hydra.sweeper.bounds=[low,high], not as an override"
        )
    grid = sweeper.grid(arguments)
    return AdaptiveSweep(settings, grid, sweeper.launcher, sweep_dir=sweeper.config.hydra.sweep.dir).run()
