"""Every model family runs inside a real local Ray sweep into a real sqlite MLflow store."""

from __future__ import annotations

from pathlib import Path

from tests.test_sweep_integration import runs_of, store

SGLD_TINY = [
    "train.steps=300",
    "train.burn_in=100",
    "train.thin=5",
    "train.observe_every=50",
    "train.checkpoint_every=100",
]


def test_sgld_divergent_chain_is_an_outcome(run_cli, workdir: Path):
    """A too-large step ends its trial `diverged` with the step; the other trial is unaffected."""
    out = run_cli("-m", "experiment=sgld_linear", "train.lr=0.0002,1.0", *SGLD_TINY, cwd=workdir)
    assert out.returncode == 0, out.stdout + out.stderr
    parents, children = runs_of(store(workdir))
    by_lr = {c.data.params["train.lr"]: c for c in children}
    good, bad = by_lr["0.0002"], by_lr["1.0"]
    assert good.info.status == bad.info.status == "FINISHED"
    assert good.data.tags["phasesweep.status"] == "finished"
    assert bad.data.tags["phasesweep.status"] == "diverged"
    step = int(bad.data.tags["phasesweep.diverged_step"])
    assert 0 <= step < 300
    assert "train/loss" in bad.data.tags["phasesweep.diverged_keys"]
    assert good.data.metrics["obs/n_samples"] == 40  # (300 - 100) / 5 samples collected
    assert parents[0].data.tags["phasesweep.diverged"] == "1"
    assert parents[0].data.tags["phasesweep.finished"] == "1"


def test_hopfield_capacity_sweep_on_ray(run_cli, workdir: Path):
    """Below capacity the cue is retrieved (m ≈ 1); far above it, it is not."""
    out = run_cli(
        "-m",
        "experiment=hopfield_capacity",
        "data.alpha=0.05,0.25",
        "model.width=400",
        "train.networks=8",
        "train.steps=10",
        cwd=workdir,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    _, children = runs_of(store(workdir))
    overlap = {c.data.params["data.alpha"]: c.data.metrics["obs/overlap"] for c in children}
    assert overlap["0.05"] > 0.95 and overlap["0.25"] < 0.7, overlap


def test_ebm_sweep_on_ray_logs_sample_plots(run_cli, workdir: Path):
    out = run_cli(
        "-m",
        "experiment=ebm_langevin",
        "sampler.temperature=0.25,1.0",
        "model.width=32",
        "train.steps=20",
        "train.observe_every=10",
        "train.eval_chains=64",
        "sampler.eval_steps=10",
        "data.n=512",
        "data.n_heldout=128",
        cwd=workdir,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    client = store(workdir)
    _, children = runs_of(client)
    assert len(children) == 2
    for child in children:
        assert child.info.status == "FINISHED"
        keys = set(child.data.metrics)
        assert {"train/energy_gap", "train/grad_norm", "train/divergence_flag", "obs/mmd", "obs/mmd_short_long"} <= keys
        assert [a.path for a in client.list_artifacts(child.info.run_id, "plots")] == [
            "plots/samples.png",
            "plots/training_curves.png",
        ]
