"""`hydra/sweeper=grid`, phasesweep's default sweeper: Hydra's basic grid, the Cartesian product of the
swept values in command-line order, a later override of a key winning over an earlier one and over
`hydra.sweeper.params`.

What it leaves out is Hydra's BasicSweeper composing every trial to check it before launching: that
costs a quarter of a second a trial (40 minutes for 10,000), and the launcher composed each one again.
This sweeper hands the whole grid to the launcher as one batch, and the launcher
(`pipelines.expand`) composes once per structure and checks every trial before anything runs.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from pipelines.validate import fail


class GridSweeper(Sweeper):
    def __init__(self, params: dict[str, str] | None = None, **adaptive: Any) -> None:
        self.params = dict(params or {})
        self.adaptive = adaptive
        """`hydra.sweeper.axis` and the other keys of an adaptive sweep (`hydra_plugins.phasesweep`)."""
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def grid(self, arguments: list[str]) -> list[list[str]]:
        """Every trial's overrides: one value of each key, over the product of the swept keys' values."""
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides([*(f"{k}={v}" for k, v in self.params.items()), *arguments])
        axes: dict[str, list[str]] = {}
        for o in overrides:
            key = o.get_key_element()
            if not o.is_sweep_override():
                axes[key] = [f"{key}={o.get_value_element_as_str()}"]
            elif o.is_discrete_sweep():
                axes[key] = [f"{key}={value}" for value in o.sweep_string_iterator()]
            else:
                fail(f"{o.input_line}: the grid sweeper takes listed values (a,b,c) or range(), not an interval")
        return [list(trial) for trial in itertools.product(*axes.values())]

    def sweep(self, arguments: list[str]) -> Any:
        if self.adaptive.get("axis"):
            return self.sweep_adaptively(arguments)
        jobs = self.grid(arguments)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        return [self.launcher.launch(jobs, initial_job_idx=0)]

    def sweep_adaptively(self, arguments: list[str]) -> Any:
        """Check the adaptive keys and the held grid, then run the rounds (`pipelines.adaptive.AdaptiveSweep`)."""
        from pipelines.adaptive import AdaptiveSweep
        from pipelines.adaptive_settings import parse_settings
        from pipelines.validate import ConfigError

        if not hasattr(self.launcher, "launch_round"):
            fail("hydra.sweeper.axis: an adaptive sweep launches its rounds through hydra/launcher=ray")
        try:
            settings = parse_settings(self.adaptive)
        except ConfigError as err:
            fail(str(err))
        axis = settings.axis
        if any(a.split("=", 1)[0].lstrip("+~") == axis for a in [*self.params, *arguments]):
            fail(
                f"{axis} is the axis the adaptive sweep refines: give its range as "
                f"hydra.sweeper.bounds=[low,high], not as an override"
            )
        grid = self.grid(arguments)
        return AdaptiveSweep(settings, grid, self.launcher).run()
