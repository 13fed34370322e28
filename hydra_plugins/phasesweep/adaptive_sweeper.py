"""`hydra/sweeper=adaptive`: a sweep in rounds that spends its trials where the transition is.

The Hydra face only: `GridSweeper.sweep_adaptively` holds the grid of held keys and launches each round
through the configured launcher (`RayLauncher.launch_round`, so packing, resume and progress apply); the
loop itself lives in `pipelines.adaptive`. The grid sweeper does the same when a sweep file sets
`hydra.sweeper.axis`, since a sweep file cannot choose another sweeper than the primary config's.
"""

from __future__ import annotations

from typing import Any

from hydra_plugins.phasesweep.grid_sweeper import GridSweeper
from pipelines.validate import fail


class AdaptiveSweeper(GridSweeper):
    def sweep(self, arguments: list[str]) -> Any:
        if not self.adaptive.get("axis"):
            fail("hydra/sweeper=adaptive needs hydra.sweeper.axis: the numeric key to refine, e.g. data.temperature")
        return self.sweep_adaptively(arguments)
