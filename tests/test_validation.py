"""The validation matrix: each bad value exits non-zero with one line, creates no MLflow run,
and never starts Ray."""

from __future__ import annotations

from pathlib import Path

import pytest

SWEEP = ["-m", "experiment=rbm_ising", "data.temperature=2.0,2.5"]

BAD = {
    "temperature<=0": (["data.temperature=-1.0"], "data.temperature"),
    "temperature=0": (["data.temperature=0"], "data.temperature"),
    "width<1": (["model.width=0"], "model.width"),
    "lr<=0": (["train.lr=0"], "train.lr"),
    "negative lr": (["train.lr=-0.1"], "train.lr"),
    "lattice<2": (["data.L=1"], "data.L"),
    "unknown model": (["model=nosuch"], "model"),
    "unknown experiment": (["experiment=nosuch"], "experiment"),
    "unknown family": (["model.family=nosuch"], "model.family"),
    "steps<1": (["train.steps=0"], "train.steps"),
    "too many gpus": (["resources.gpus=8"], "resources.gpus"),
    "too many cpus": (["resources.cpus=512"], "resources.cpus"),
    "fractional gpus above 1": (["resources.gpus=1.5"], "resources.gpus"),
    "remote cluster with a local store": (["cluster=remote"], "tracking.uri"),
    "negative sampler temperature": (["experiment=ebm_langevin", "sampler.temperature=-1"], "sampler.temperature"),
    "hopfield flip fraction": (["experiment=hopfield_capacity", "data.flip_fraction=1.5"], "data.flip_fraction"),
}


SINGLE = ["temperature<=0", "unknown model", "unknown experiment", "too many gpus", "steps<1"]
CASES = [(case, "sweep") for case in sorted(BAD)] + [(case, "single") for case in SINGLE]


@pytest.mark.parametrize(("case", "mode"), CASES)
def test_bad_value_is_one_line_and_touches_nothing(case, mode, run_cli, workdir: Path):
    args, key = BAD[case]
    if mode == "single":
        base = [] if case == "unknown experiment" else ["experiment=rbm_ising"]
    else:
        overrides_experiment = any(a.startswith("experiment=") for a in args)
        base = [a for a in SWEEP if not (overrides_experiment and a.startswith("experiment="))]
        if overrides_experiment:
            base = [a for a in base if not a.startswith("data.temperature")] + ["seed=0,1"]
    ray_tmp = workdir / "ray"
    out = run_cli(*base, *args, cwd=workdir, env={"RAY_TMPDIR": str(ray_tmp)})
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{out.stderr}"
    assert lines[0].startswith("phasesweep: error: ") and key in lines[0], lines[0]
    assert "Traceback" not in out.stderr + out.stdout
    assert not (workdir / "mlflow.db").exists(), "a run store was created for a bad config"
    assert not ray_tmp.exists(), "Ray was started for a bad config"
