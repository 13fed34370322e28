"""Every experiment and sweep composes and validates; Hydra conventions work on the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import pipelines.schema  # noqa: F401
from pipelines.main import CONF_DIR
from pipelines.spec import build_spec, trial_key

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
SWEEPS = sorted(p.stem for p in (CONF_DIR / "sweep").glob("*.yaml"))


def composed(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_validates(experiment):
    cfg = composed(f"experiment={experiment}")
    spec = build_spec(cfg, [f"experiment={experiment}"])
    assert spec.experiment_name == experiment
    assert len(spec.trial_key) == 16
    assert spec.config_yaml and "hydra" not in OmegaConf.create(spec.config_yaml)


@pytest.mark.parametrize("sweep", SWEEPS)
def test_every_sweep_is_a_multirun_with_params(sweep):
    cfg = composed(f"+sweep={sweep}")
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.hydra.sweeper.params, f"conf/sweep/{sweep}.yaml sets no hydra.sweeper.params"
    build_spec(cfg)  # the base trial of the sweep validates too


def test_multirun_defaults_to_the_ray_launcher():
    cfg = composed()
    assert cfg.hydra.launcher._target_ == "hydra_plugins.phasesweep.ray_launcher.RayLauncher"


def test_trial_key_is_stable_and_sensitive():
    a = OmegaConf.to_container(composed("data.temperature=2.0"), resolve=False)
    b = OmegaConf.to_container(composed("data.temperature=2.0"), resolve=False)
    c = OmegaConf.to_container(composed("data.temperature=2.5"), resolve=False)
    d = OmegaConf.to_container(composed("data.temperature=2.0", "data.cache_dir=/elsewhere"), resolve=False)
    for x in (a, b, c, d):
        x.pop("hydra")
    assert trial_key(a) == trial_key(b) == trial_key(d)
    assert trial_key(a) != trial_key(c)


def test_cfg_job_prints_resolved_config(run_cli, workdir: Path):
    out = run_cli("--cfg", "job", "experiment=rbm_ising", "data.temperature=2.5", cwd=workdir)
    assert out.returncode == 0, out.stderr
    cfg = OmegaConf.create(out.stdout)
    assert cfg.data.temperature == 2.5 and cfg.experiment_name == "rbm_ising"
    assert not (workdir / "mlflow.db").exists()


def test_help_lists_config_groups(run_cli, workdir: Path):
    out = run_cli("--help", cwd=workdir)
    assert out.returncode == 0, out.stderr
    for group in ("model", "data", "train", "tracking", "cluster", "experiment", "sweep"):
        assert f"\n{group}:" in out.stdout, f"--help does not list the {group} group"
