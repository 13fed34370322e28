"""Every model family runs inside a real local Ray sweep into a real sqlite MLflow store."""

from __future__ import annotations

from pathlib import Path

from tests.test_sweep_integration import runs_of, store

SGLD_TINY = ["train.steps=300", "train.burn_in=100", "train.thin=5", "train.observe_every=50",
             "train.checkpoint_every=100"]


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
