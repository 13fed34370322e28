"""The rbm_stack experiment: Mehta & Schwab's stacked RBMs as a trial, through the real CLI, Ray and MLflow."""

from __future__ import annotations

import pytest

from tests.conftest import cli
from workers.families.base import IsingDataConfig
from workers.families.rbm_stack.config import RBMStackModelConfig, RBMStackTrainConfig, effective_window, refusal

SMALL = ["data.L=8", "data.n_samples=200", "data.burn_in=10", "model.width=16", "model.deeper=[4]"]
SMALL += ["train.batch_size=20", "train.chains=20", "train.window=2"]


@pytest.mark.parametrize(
    ("model", "data", "train", "names"),
    [
        ({"deeper": [0]}, {}, {}, "model.deeper"),
        ({}, {}, {"steps": 2}, "train.steps"),
        ({}, {"L": 8}, {"window": 9}, "train.window"),
        ({}, {"n_samples": 50}, {}, "data.n_samples"),
        ({}, {"n_samples": 1050}, {}, "train.chains"),
    ],
)
def test_bad_stack_settings_are_refused_in_one_line(model, data, train, names):
    why = refusal(RBMStackModelConfig(**model), IsingDataConfig(**data), RBMStackTrainConfig(**train))
    assert why is not None and names in why and "\n" not in why


def test_a_deeper_layer_is_measured_in_a_proportionally_larger_window():
    assert [effective_window(4, layer, 40) for layer in (1, 2, 3, 4)] == [4, 8, 16, 32]
    assert effective_window(4, 5, 40) == 40  # never larger than the lattice


def test_the_cli_refuses_bad_widths_before_anything_runs(tmp_path):
    out = cli("experiment=rbm_stack", "model.deeper=[100,0]", cwd=tmp_path)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2, out.stdout + out.stderr
    assert len(lines) == 1 and "model.deeper" in lines[0], out.stderr
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow  # a real Ray + MLflow trial, about 15 s: the default tier is at its 10-minute budget
def test_cli_run_trains_the_layers_in_turn_and_logs_fields_and_reconstructions(tmp_path):
    from mlflow.tracking import MlflowClient

    out = cli("experiment=rbm_stack", *SMALL, "train.steps=40", "train.observe_every=10", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    [run] = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.data.tags["phasesweep.status"] == "finished"
    layer = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "train/layer")}
    assert [layer[s] for s in (0, 19, 20, 39)] == [1.0, 1.0, 2.0, 2.0]  # 20 updates each, one layer after another
    l1 = sorted(m.step for m in client.get_metric_history(run.info.run_id, "obs/locality_l1"))
    l2 = sorted(m.step for m in client.get_metric_history(run.info.run_id, "obs/locality_l2"))
    assert l1 == [0, 10, 19] and l2 == [20, 30, 39]  # each layer's while it trains, and at its last update
    m = run.data.metrics
    assert m["obs/locality_l1_ratio"] == pytest.approx(m["obs/locality_l1"] / m["obs/locality_l1_shuffled"])
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"plots/receptive_fields_l1.png", "plots/receptive_fields_l2.png", "plots/reconstructions.png"} <= plots
