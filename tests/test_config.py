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
    assert "schema/" not in out.stdout, "the internal schema groups are not a user's choice"
    assert (
        "\nsweep: ebm_langevin, edge_of_stability, hopfield_boundary_adaptive, hopfield_capacity, "
        "hopfield_capacity_adaptive, ising_blockspin_fixed_point, ising_tc_adaptive, lr_catapult, rbm_ising_grid"
    ) in out.stdout


def _one_line_error(out) -> str:
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2 and len(lines) == 1 and lines[0].startswith("phasesweep: error: "), out.stderr
    return lines[0]


def test_an_unparsable_override_is_one_line(run_cli, workdir: Path):
    line = _one_line_error(run_cli("experiment=rbm_ising", "model.width16", cwd=workdir))
    assert "model.width16: not an override" in line and "key=value" in line


def test_an_oversized_sweep_is_refused_before_anything_is_composed(run_cli, workdir: Path):
    line = _one_line_error(run_cli("-m", "experiment=rbm_ising", "seed=range(0,10000)", cwd=workdir))
    assert "10,000 trials, more than max_trials=5000" in line and "max_trials=10000" in line
    grid = _one_line_error(run_cli("+sweep=rbm_ising_grid", "max_trials=5", cwd=workdir))  # a sweep file counts
    assert "12 trials" in grid
    assert not (workdir / "mlflow.db").exists()


def test_every_swept_value_is_type_checked(run_cli, workdir: Path):
    line = _one_line_error(run_cli("-m", "experiment=rbm_ising", "data.temperature=2.0,abc,3.0", cwd=workdir))
    assert line.startswith("phasesweep: error: data.temperature=abc:")


SWEEP_FILE = """# @package _global_
defaults:
  - override /experiment: rbm_ising
hydra:
  mode: MULTIRUN
  sweeper:
    params:
      data.temperature: {}
"""


def test_a_sweep_file_in_a_config_dir_is_found_and_its_empty_axis_is_one_line(run_cli, workdir: Path):
    """`--config-dir` adds the user's own groups, as in Hydra; a sweep file's axis that sweeps nothing
    is named in one line, not a traceback."""
    (workdir / "mine" / "sweep").mkdir(parents=True)
    (workdir / "mine" / "sweep" / "grid.yaml").write_text(SWEEP_FILE.format("2.0,2.75"))
    (workdir / "mine" / "sweep" / "empty.yaml").write_text(SWEEP_FILE.format("[]"))
    (workdir / "mine" / "sweep" / "typo.yaml").write_text(SWEEP_FILE.format("hot"))
    found = run_cli("--config-dir", str(workdir / "mine"), "+sweep=grid", "--cfg", "hydra", cwd=workdir)
    assert found.returncode == 0, found.stderr
    assert OmegaConf.create(found.stdout).hydra.sweeper.params["data.temperature"] == "2.0,2.75"
    empty = _one_line_error(run_cli("--config-dir", str(workdir / "mine"), "+sweep=empty", cwd=workdir))
    assert "data.temperature: [] sweeps no values" in empty
    typo = _one_line_error(run_cli("-cd", str(workdir / "mine"), "+sweep=typo", cwd=workdir))
    assert "data.temperature=hot" in typo
    helped = run_cli("--config-dir", str(workdir / "mine"), "--help", cwd=workdir)
    assert "\nsweep: ebm_langevin, edge_of_stability, empty, grid, hopfield_boundary_adaptive" in helped.stdout
    unknown = _one_line_error(run_cli("--config-dir", str(workdir / "mine"), "+sweep=nosuch", cwd=workdir))
    assert "choose one of:" in unknown and "grid" in unknown and "rbm_ising_grid" in unknown
    assert not (workdir / "mlflow.db").exists()
