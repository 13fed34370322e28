"""A thin Hydra Launcher: every trial of a multirun is a Ray task, run by `pipelines.sweep`.

The sweep driver is imported only inside `launch()`, and Ray only inside the driver's functions,
so Hydra's plugin discovery stays cheap.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict


class RayLauncher(Launcher):
    def __init__(self, poll_interval_s: float = 0.5) -> None:
        self.poll_interval_s = poll_interval_s
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def compose(self, overrides: Sequence[str], job_num: int) -> DictConfig:
        """One trial's config, numbered as Hydra numbers the jobs of a multirun."""
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(cfg):
            cfg.hydra.job.id = f"{cfg.hydra.job.name}_{job_num}"
            cfg.hydra.job.num = job_num
        return cfg

    @functools.cache  # noqa: B019  (one launcher per multirun)
    def is_group(self, key: str) -> bool:
        """True when `key` names a config group (`model`, `experiment`), not a value."""
        return self.hydra_context.config_loader.repository.group_exists(key.replace(".", "/"))

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        return self.launch_round(job_overrides, initial_job_idx)

    def launch_round(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int, round=None
    ) -> Sequence[JobReturn]:
        """`launch`, as one round (`pipelines.sweep.Round`) of a sweeper that launches several into one
        parent run, such as `hydra/sweeper=adaptive`."""
        from pipelines.expand import Expansion
        from pipelines.sweep import run_sweep

        trials = Expansion(job_overrides, self.compose, self.is_group, initial_job_idx)
        declared = list(OmegaConf.select(self.config, "hydra.sweeper.params", default=None) or {})
        declared += list(round.axes) if round is not None else []
        results = run_sweep(
            trials,
            sweep_dir=self.config.hydra.sweep.dir,
            poll_interval_s=self.poll_interval_s,
            declared=declared,
            round=round,
        )
        return [
            JobReturn(
                overrides=list(spec.overrides),
                cfg=self.config,
                hydra_cfg=self.config,
                working_dir=os.getcwd(),
                task_name=spec.experiment_name,
                status=JobStatus.COMPLETED,
                _return_value=result,
            )
            for spec, result in results
        ]
