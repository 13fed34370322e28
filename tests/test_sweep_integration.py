"""End to end on real parts: the CLI, a real local Ray instance, a real sqlite MLflow store."""

from __future__ import annotations

import textwrap
from pathlib import Path

from mlflow.tracking import MlflowClient

from tests.conftest import TINY


def store(workdir: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")


def runs_of(client: MlflowClient):
    experiments = client.search_experiments()
    ids = [e.experiment_id for e in experiments]
    runs = client.search_runs(ids, max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


def artifact_paths(client: MlflowClient, run_id: str, path: str | None = None) -> list[str]:
    out = []
    for item in client.list_artifacts(run_id, path):
        out.extend(artifact_paths(client, run_id, item.path) if item.is_dir else [item.path])
    return out


def test_four_trial_sweep_builds_the_run_tree(run_cli, workdir: Path):
    out = run_cli(
        "-m",
        "experiment=rbm_ising",
        "data.temperature=2.0,3.0",
        "model.width=4,8",
        "train.lr=0.01",
        *TINY,
        cwd=workdir,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4/4" in out.stdout and "finished" in out.stdout

    client = store(workdir)
    parents, children = runs_of(client)
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["phasesweep.sweep_id"]
    assert "phasesweep -m experiment=rbm_ising" in parent.data.tags["phasesweep.command"]
    assert parent.data.tags["phasesweep.axis.data.temperature"] == "2.0,3.0"
    assert parent.data.tags["phasesweep.n_trials"] == "4"
    assert not any(k.startswith("sweep.") for k in parent.data.params), "the parent's sweep is in tags only"
    name = parent.data.tags["phasesweep.sweep_name"]
    assert parent.info.run_name == name and f"sweep {name!r}" in out.stdout, "one name per sweep"
    assert {child.data.params["sweep_name"] for child in children} == {name}
    kind = client.get_experiment(parent.info.experiment_id).tags.get("mlflow.experimentKind")
    assert kind == "custom_model_development", "the MLflow UI opens the experiment in model-training mode"

    grid = set()
    keys = set()
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        params = child.data.params
        grid.add((params["data.temperature"], params["model.width"], params["train.lr"]))
        keys.add(child.data.tags["phasesweep.trial_key"])
        history = client.get_metric_history(child.info.run_id, "train/recon_error")
        assert sorted(m.step for m in history) == list(range(25)), "one point per step, no gaps or duplicates"
        obs = client.get_metric_history(child.info.run_id, "obs/model_energy")
        assert [m.step for m in sorted(obs, key=lambda m: m.step)] == [0, 5, 10, 15, 20, 24]
        assert abs(child.data.metrics["obs/data_energy"]) <= 2.0  # energy per spin is in [-2, 2]
        files = artifact_paths(client, child.info.run_id)
        assert "config.yaml" in files
        assert "plots/training_curves.png" in files
        assert any(f.startswith("checkpoints/") for f in files)
    assert grid == {(t, w, "0.01") for t in ("2.0", "3.0") for w in ("4", "8")}
    assert len(keys) == 4, "every trial has its own trial key"
    # trials at the same (L, T, seed) share one generated data set: 2 temperatures -> 2 files
    cached = sorted(p.name for p in (workdir / ".cache").glob("ising_*.pt"))
    assert len(cached) == 2 and {"T2", "T3"} == {name.split("_")[2] for name in cached}, cached


def test_sweep_from_config_and_axis_override(run_cli, workdir: Path):
    """`+sweep=rbm_ising_grid` needs no -m; overriding one swept key replaces that axis only."""
    out = run_cli("+sweep=rbm_ising_grid", "data.temperature=2.5", "model.width=4,6", *TINY, cwd=workdir)
    assert out.returncode == 0, out.stdout + out.stderr
    _, children = runs_of(store(workdir))
    grid = {
        (c.data.params["data.temperature"], c.data.params["model.width"], c.data.params["train.lr"]) for c in children
    }
    # temperature and width replaced from the command line; lr axis (1e-3, 1e-2) kept from the file
    assert grid == {("2.5", w, lr) for w in ("4", "6") for lr in ("0.001", "0.01")}
    # the sweep file declares temperature as an axis: it stays in every child's name though fixed here
    names = {c.info.run_name for c in children}
    assert names == {f"temperature=2.5 width={w} lr={lr}" for w in ("4", "6") for lr in ("0.001", "0.01")}


FAILING_FAMILY = textwrap.dedent(
    """
    from workers.families.rbm.family import RBMFamily

    class ExplodingFamily(RBMFamily):
        '''Test-only: an RBM that raises at step 3 when trained above T = 2.4.'''

        def step(self, step):
            if self.T > 2.4 and step == 3:
                raise RuntimeError("exploding test model at T=%g" % self.T)
            return super().step(step)
    """
)


def test_failing_trial_is_failed_and_others_finish(run_cli, workdir: Path):
    plugin = workdir / "plugins"
    plugin.mkdir()
    (plugin / "exploding_family.py").write_text(FAILING_FAMILY)
    out = run_cli(
        "-m",
        "experiment=rbm_ising",
        "model.family=exploding_family:ExplodingFamily",
        "data.temperature=2.0,3.0",
        "model.width=4,8",
        *TINY,
        cwd=workdir,
        env={"PYTHONPATH": str(plugin)},
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "exploding test model" in out.stdout  # the summary table names the error
    client = store(workdir)
    parents, children = runs_of(client)
    assert len(children) == 4
    by_t = {}
    for child in children:
        by_t.setdefault(child.data.params["data.temperature"], []).append(child)
    assert {c.info.status for c in by_t["2.0"]} == {"FINISHED"}
    for child in by_t["3.0"]:
        assert child.info.status == "FAILED"
        assert "RuntimeError: exploding test model at T=3" in child.data.tags["phasesweep.error"]
    assert parents[0].data.tags["phasesweep.failed"] == "2"
    assert parents[0].data.tags["phasesweep.finished"] == "2"
