"""`pipelines.expand` and the grid sweeper against Hydra itself.

The expansion composes once per structure and assigns each trial's values; these tests hold it to
what composing every trial with Hydra gives (the same resolved config, the same trial key), and its
fast value reader to what Hydra's override grammar reads.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from hydra_plugins.phasesweep.grid_sweeper import GridSweeper
from pipelines.expand import Expansion, parse_value
from pipelines.main import CONF_DIR
from pipelines.spec import build_spec, task_config
from pipelines.validate import ConfigError


@pytest.fixture
def hydra_conf():
    """Hydra initialised on the project's config dir: (compose(overrides, job), is_group, compose count)."""
    calls = []
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        repository = GlobalHydra.instance().config_loader().repository

        def compose_trial(overrides, job_num):
            calls.append(list(overrides))
            return compose(config_name="config", overrides=list(overrides))

        yield compose_trial, lambda key: repository.group_exists(key.replace(".", "/")), calls


def grid(*axes: list[str]) -> list[list[str]]:
    return [list(trial) for trial in itertools.product(*axes)]


def resolved(cfg) -> dict:
    return OmegaConf.to_container(task_config(cfg), resolve=True)


JOBS = grid(
    ["experiment=rbm_ising", "experiment=hopfield_capacity"],  # a config group: two structures
    ["seed=0", "seed=7"],
    ["experiment_name=alpha", "experiment_name=beta"],  # tracking.experiment interpolates it
    ["resources.cpus=1", "resources.cpus=0.5"],
)


def test_the_expansion_gives_each_trial_what_hydra_composes(hydra_conf):
    compose_trial, is_group, calls = hydra_conf
    trials = Expansion(JOBS, compose_trial, is_group)
    trials.validate()
    assert len(calls) == 2, "one compose per structure (per experiment), not per trial"
    expected = [resolved(compose(config_name="config", overrides=job)) for job in JOBS]
    order = list(range(len(JOBS)))
    random.Random(0).shuffle(order)  # values are assigned and re-assigned out of order
    for i in order:
        got = resolved(trials.config(i))
        assert got == expected[i], JOBS[i]
        assert got["tracking"]["experiment"] == got["experiment_name"]
        spec = trials.spec(i)
        assert spec.trial_key == build_spec(compose(config_name="config", overrides=JOBS[i])).trial_key
        assert spec.overrides == JOBS[i]
    assert trials.resource_requests == {(1.0, 0.0): 0, (0.5, 0.0): 1}


def test_a_bad_value_names_its_trial_and_key(hydra_conf):
    compose_trial, is_group, _ = hydra_conf
    jobs = grid(["experiment=rbm_ising"], ["model.width=4", "model.width=-3"])
    with pytest.raises(ConfigError) as err:
        Expansion(jobs, compose_trial, is_group, initial_job_idx=10).validate()
    assert "model.width" in str(err.value) and "[trial 11: experiment=rbm_ising model.width=-3]" in str(err.value)
    assert "\n" not in str(err.value)
    mistyped = grid(["experiment=rbm_ising"], ["model.width=4", "model.width=wide"])
    with pytest.raises(ConfigError, match=r"model.width=wide: .*\[trial 1: "):
        Expansion(mistyped, compose_trial, is_group).validate()
    missing = [["experiment=no_such_experiment"]]
    with pytest.raises(ConfigError, match=r"experiment=no_such_experiment: "):
        Expansion(missing, compose_trial, is_group).validate()


def test_a_family_check_reruns_when_a_shape_changes(hydra_conf):
    """Memory is checked per combination of shape values, so the one too-big trial is caught."""
    compose_trial, is_group, _ = hydra_conf
    jobs = grid(["experiment=rbm_ising"], ["seed=0", "seed=1"], ["model.width=8", "model.width=1000000000"])
    with pytest.raises(ConfigError, match=r"GiB.*\[trial 1: .*model.width=1000000000\]"):
        Expansion(jobs, compose_trial, is_group).validate()


VALUES = [
    "0", "-0", "7", "-12", "007", "10000000000000000000000", "1.5", "-0.0", "2.50", "1.", ".5", "1e-3",
    "1E5", "-1e+2", "inf", "-inf", "nan", "1_000", "null", "true", "False", "abc", "'quoted'", "a b",
    "[1,2]", "{a: 1}", "0x10", "${seed}",
]  # fmt: skip


@pytest.mark.parametrize("text", VALUES)
def test_parse_value_reads_what_hydras_grammar_reads(text):
    want = OverridesParser.create().parse_override(f"key={text}").value()
    got = parse_value(text)
    assert type(got) is type(want)
    if isinstance(want, float) and math.isnan(want):
        assert math.isnan(got)
    else:
        assert got == want and str(got) == str(want)


def test_the_grid_sweeper_crosses_axes_and_a_later_override_wins():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        from hydra.types import HydraContext

        sweeper = GridSweeper(params={"model.width": "4,8", "seed": "0"})
        sweeper.hydra_context = HydraContext(config_loader=GlobalHydra.instance().config_loader(), callbacks=None)
        jobs = sweeper.grid(["data.temperature=range(2.0,3.0,0.5)", "seed=1,2"])
    assert jobs == grid(
        ["model.width=4", "model.width=8"], ["seed=1", "seed=2"], ["data.temperature=2.0", "data.temperature=2.5"]
    )
    with pytest.raises(SystemExit) as refused:
        sweeper.grid(["data.temperature=interval(2.0,3.0)"])
    assert refused.value.code == 2
