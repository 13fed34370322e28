"""The rbm_flow experiment: the RBM flow of Iso, Shiba & Yokoo (2018) as a trial, step = flow step."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import cli
from workers.families.base import IsingDataConfig
from workers.families.rbm_flow.config import RBMFlowModelConfig, RBMFlowTrainConfig, refusal
from workers.families.rbm_flow.family import RBMFlowFamily
from workers.spec import TrialSpec

SMALL = ["data.L=4", "data.burn_in=10", "model.width=8", "train.samples_per_T=40", "train.temperatures=3"]
SMALL += ["train.epochs=2", "train.flows=16", "train.thermometer_samples=32", "train.stationary_steps=5"]


def test_flows_from_both_phases_approach_the_rbms_own_equilibrium():
    """A sampled flow is the trained RBM's Markov chain: from T₀ = 1.5 and from T₀ = 4.0 it ends nearer
    the RBM's stationary temperature than it started, and the two ends lie closer than the starts."""
    torch.set_num_threads(1)
    train = RBMFlowTrainConfig(
        steps=16, temperatures=6, samples_per_T=300, epochs=10, starts=[1.5, 4.0], flows=300,
        thermometer_samples=300, thermometer_step=0.25, stationary_steps=200,
    )  # fmt: skip
    spec = TrialSpec("flow", 0, RBMFlowModelConfig(width=32), IsingDataConfig(L=8, burn_in=50), train)
    family = RBMFlowFamily(spec, torch.device("cpu"))
    steps = [family.step(n) for n in range(train.steps)]
    stationary = steps[-1]["flow/T_stationary"]
    first, last = steps[0], steps[-1]
    for key in ("1.50", "4.00"):
        assert abs(last[f"flow/T_from_{key}"] - stationary) < 0.5 * abs(first[f"flow/T_from_{key}"] - stationary)
    assert first["flow/T_from_1.50"] == pytest.approx(1.5, abs=0.15)  # the thermometer reads the MC start
    assert first["flow/T_from_4.00"] == pytest.approx(4.0, abs=0.4)
    gap = lambda m: m["flow/T_from_4.00"] - m["flow/T_from_1.50"]  # noqa: E731
    assert abs(gap(last)) < 0.3 * gap(first)
    assert all("flow/T_stationary" not in m for m in steps[:-1])


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"starts": [1.5, 8.0]}, "train.starts"),
        ({"starts": []}, "train.starts"),
        ({"t_min": 3.0, "t_max": 2.0}, "train.t_min"),
        ({"temperatures": 1}, "train.temperatures"),
    ],
)
def test_bad_flow_settings_are_refused_in_one_line(change, names):
    why = refusal(RBMFlowModelConfig(), IsingDataConfig(), RBMFlowTrainConfig(**change))
    assert why is not None and names in why and "\n" not in why


def test_the_cli_refuses_a_start_outside_the_thermometer_before_anything_runs(tmp_path):
    out = cli("experiment=rbm_flow", "train.starts=[1.5,8.0]", cwd=tmp_path)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2, out.stdout + out.stderr
    assert len(lines) == 1 and "train.starts" in lines[0] and "thermometer" in lines[0], out.stderr
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow  # a real Ray + MLflow trial, about 15 s: the default tier is at its 10-minute budget
def test_cli_run_logs_the_flow_with_step_equal_to_flow_step(tmp_path):
    from mlflow.tracking import MlflowClient

    out = cli("experiment=rbm_flow", *SMALL, "train.steps=4", "train.starts=[1.5,4.0]", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    [run] = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.data.tags["phasesweep.status"] == "finished"
    for key in ("1.50", "4.00"):
        history = client.get_metric_history(run.info.run_id, f"flow/T_from_{key}")
        assert sorted(m.step for m in history) == [0, 1, 2, 3]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "flow/T_stationary")] == [3]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "flow/T_training_set")] == [0]
    assert "plots/rbm_flow.png" in [a.path for a in client.list_artifacts(run.info.run_id, "plots")]
