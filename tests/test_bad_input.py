"""Issue 8's bad-input matrix: each malformed input gives one line naming the problem, no
traceback; a launch-time error starts no trial, creates no run and never starts Ray."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import TINY, cli

pytestmark = pytest.mark.slow

RBM = ["-m", "experiment=rbm_ising", "data.temperature=2.0,2.5"]
EBM = ["-m", "experiment=ebm_langevin", "seed=0,1"]
SGLD = ["-m", "experiment=sgld_cold_posterior", "seed=0,1"]
HOP = ["-m", "experiment=hopfield_capacity", "seed=0,1"]
MC = ["-m", "experiment=ising_mc", "seed=0,1"]

# (base, bad overrides, a word the one-line message must contain)
CASES: dict[str, tuple[list[str], list[str], str]] = {
    # bad values
    "T<0": (RBM, ["data.temperature=-1"], "data.temperature"),
    "T=0": (RBM, ["data.temperature=0"], "data.temperature"),
    "T=nan": (RBM, ["data.temperature=nan"], "data.temperature"),
    "T=inf": (RBM, ["data.temperature=inf"], "data.temperature"),
    "T so small 1/T overflows": (RBM, ["data.temperature=1e-320"], "data.temperature"),
    "one bad T in a sweep": (["-m", "experiment=rbm_ising"], ["data.temperature=2.0,-2.0"], "data.temperature"),
    "width 0": (RBM, ["model.width=0"], "model.width"),
    "width negative": (RBM, ["model.width=-4"], "model.width"),
    "lr 0": (RBM, ["train.lr=0"], "train.lr"),
    "lr negative": (RBM, ["train.lr=-1e-3"], "train.lr"),
    "L=1": (RBM, ["data.L=1"], "data.L"),
    "L=0": (RBM, ["data.L=0"], "data.L"),
    "steps 0": (RBM, ["train.steps=0"], "train.steps"),
    "batch 0": (RBM, ["train.batch_size=0"], "train.batch_size"),
    "k 0": (RBM, ["train.k=0"], "train.k"),
    "momentum 1": (RBM, ["train.momentum=1.0"], "train.momentum"),
    "weight decay negative": (RBM, ["train.weight_decay=-1"], "train.weight_decay"),
    "n_samples 0": (RBM, ["data.n_samples=0"], "data.n_samples"),
    "burn-in negative": (RBM, ["data.burn_in=-5"], "data.burn_in"),
    "observe_every 0": (RBM, ["train.observe_every=0"], "train.observe_every"),
    "checkpoint_every negative": (RBM, ["train.checkpoint_every=-1"], "train.checkpoint_every"),
    "seed negative": (RBM, ["seed=-1"], "seed"),
    "lr_decay 0": (RBM, ["train.lr_decay=0"], "train.lr_decay"),
    "sgld temperature negative": (SGLD, ["train.temperature=-0.5"], "train.temperature"),
    "sgld thin 0": (SGLD, ["train.thin=0"], "train.thin"),
    "sgld gamma 0.4": (SGLD, ["train.gamma=0.4"], "train.gamma"),
    "sgld prior 0": (SGLD, ["model.prior_std=0"], "model.prior_std"),
    "test_size 1": (SGLD, ["data.test_size=1.0"], "data.test_size"),
    "hopfield alpha 0": (HOP, ["data.alpha=0"], "data.alpha"),
    "hopfield flips 2": (HOP, ["data.flip_fraction=2"], "data.flip_fraction"),
    "hopfield networks 0": (HOP, ["train.networks=0"], "train.networks"),
    "langevin step 0": (EBM, ["sampler.step_size=0"], "sampler.step_size"),
    "langevin T negative": (EBM, ["sampler.temperature=-1"], "sampler.temperature"),
    "long-run factor 2": (EBM, ["sampler.long_run_factor=2"], "sampler.long_run_factor"),
    "reinit prob 1.5": (EBM, ["sampler.reinit_prob=1.5"], "sampler.reinit_prob"),
    "mc chains 0": (MC, ["train.chains=0"], "train.chains"),
    "mc algorithm": (MC, ["data.algorithm=heatbath"], "data.algorithm"),
    "n_boot 10": (RBM, ["analysis.n_boot=10"], "analysis.n_boot"),
    "level 1": (RBM, ["analysis.level=1.0"], "analysis.level"),
    "outage limit 0": (RBM, ["tracking.outage_limit_s=0"], "tracking.outage_limit_s"),
    # wrong types
    "width as text": (RBM, ["model.width=wide"], "model.width"),
    "lr as text": (RBM, ["train.lr=fast"], "train.lr"),
    "L as float": (RBM, ["data.L=8.5"], "data.L"),
    "steps as list": (RBM, ["train.steps=[1,2]"], "train.steps"),
    "optimizer unknown": (RBM, ["train.optimizer=rmsprop"], "rmsprop"),
    "rule unknown": (RBM, ["train.rule=wake_sleep"], "wake_sleep"),
    "device unknown": (RBM, ["train.device=tpu"], "tpu"),
    "resume as text": (RBM, ["resume=maybe"], "resume"),
    "misspelled key": (RBM, ["model.widht=3"], "widht"),
    # unknown groups and choices
    "unknown model": (RBM, ["model=transformer"], "model"),
    "unknown experiment": (["-m", "data.temperature=2.0,2.5"], ["experiment=nosuch"], "experiment"),
    "unknown data": (RBM, ["data=mnist"], "data"),
    "unknown train": (RBM, ["train=adamw"], "train"),
    "unknown cluster": (RBM, ["cluster=aws"], "cluster"),
    "unknown sweep": ([], ["+sweep=nosuch"], "sweep"),
    "unknown family": (RBM, ["model.family=nosuch"], "model.family"),
    # impossible resources
    "too many gpus": (RBM, ["resources.gpus=8"], "resources.gpus"),
    "too many cpus": (RBM, ["resources.cpus=4096"], "resources.cpus"),
    "fractional gpus above 1": (RBM, ["resources.gpus=1.5"], "resources.gpus"),
    "negative cpus": (RBM, ["resources.cpus=-1"], "resources.cpus"),
    # contradictory settings
    "sgld model on ising data": (RBM, ["model=bayes_mlp"], "data.kind"),
    "rbm on digits": (["-m", "experiment=rbm_ising", "seed=0,1"], ["data=digits"], "data.kind"),
    "ebm without a sampler": (EBM, ["sampler=null"], "sampler"),
    "remote cluster, local store": (RBM, ["cluster=remote"], "tracking.uri"),
    # unwritable cache directory
    "cache dir under /proc": (RBM, ["data.cache_dir=/proc/phasesweep-cache"], "data.cache_dir"),
    # tracking targets, checked before Ray starts
    "no server there": (RBM, ["tracking.uri=http://127.0.0.1:1"], "tracking.uri"),
    "empty experiment name": (RBM, ["tracking.experiment=''"], "tracking.experiment"),
    "plain-path store": (RBM, ["tracking.uri=/nonexistent/dir/mlflow.db"], "tracking.uri"),
    "sqlite in a missing dir": (RBM, ["tracking.uri=sqlite:////nonexistent/dir/mlflow.db"], "tracking.uri"),
    "checkpoint dir under /proc": (RBM, ["tracking.checkpoint_dir=/proc/x"], "tracking.checkpoint_dir"),
    "spool dir under /proc": (RBM, ["tracking.spool_dir=/proc/x"], "tracking.spool_dir"),
    "lease too short": (RBM, ["tracking.lease_s=1"], "tracking.lease_s"),
    # grammar, sizes and ranges
    "no equals sign": ([], ["experiment=rbm_ising", "model.width16"], "model.width16"),
    "10,000 trials": (["-m", "experiment=rbm_ising"], ["seed=range(0,10000)"], "max_trials"),
    "seed past 2**63": (RBM, ["seed=1180591620717411303424"], "seed"),
    "embedded Ray with -1 CPUs": (RBM, ["cluster.num_cpus=-1"], "cluster.num_cpus"),
    # shapes no node could hold
    "a billion hidden units": (RBM, ["model.width=1000000000"], "GiB"),
    "a 10^6 x 10^6 lattice": (RBM, ["data.L=1000000"], "data.L"),
    "a billion sampling chains": (RBM, ["train.sample_chains=1000000000"], "train.sample_chains"),
    "negative warm-start steps": (RBM, ["train.sample_warm_steps=-1"], "train.sample_warm_steps"),
}


def test_the_matrix_has_at_least_fifty_inputs():
    assert len(CASES) >= 50


def _run(case: str, root: Path):
    base, bad, _ = CASES[case]
    work = root / case.replace(" ", "_").replace("/", "_")
    work.mkdir()
    start = time.monotonic()
    out = cli(*base, *bad, cwd=work, env={"RAY_TMPDIR": str(work / "ray")})
    return case, work, out, time.monotonic() - start


REFUSAL_S = 10.0
"""Issue 19: a bad input is refused within this many seconds (two cases at a time on 2 cores)."""


def test_every_malformed_input_is_one_clear_line(tmp_path):
    with ThreadPoolExecutor(max_workers=2) as pool:  # one per core, so each time is a user's
        results = list(pool.map(lambda case: _run(case, tmp_path), CASES))
    problems = []
    for case, work, out, elapsed in results:
        if elapsed > REFUSAL_S:
            problems.append(f"{case}: took {elapsed:.1f} s")
        lines = [line for line in out.stderr.splitlines() if line.strip()]
        word = CASES[case][2]
        if out.returncode == 0:
            problems.append(f"{case}: exited 0")
        elif len(lines) != 1 or not lines[0].startswith("phasesweep: error: ") or word not in lines[0]:
            problems.append(f"{case}: {out.stderr.strip()[:300]!r}")
        elif "Traceback" in out.stderr + out.stdout:
            problems.append(f"{case}: traceback")
        elif (work / "mlflow.db").exists() or (work / "ray").exists():
            problems.append(f"{case}: created a run store or started Ray")
    slowest = max(results, key=lambda r: r[3])
    print(f"slowest refusal: {slowest[0]} in {slowest[3]:.1f} s")
    assert not problems, "\n".join(problems)
    assert not Path("/nonexistent").exists(), "a refused tracking.uri created the directory it named"


def test_a_corrupt_checkpoint_fails_its_trial_with_one_clear_line(tmp_path):
    ckpt_dir = tmp_path / "ckpt"
    args = ["experiment=rbm_ising", *TINY, f"tracking.checkpoint_dir={ckpt_dir}", "train.checkpoint_every=10"]
    first = cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    [saved] = list(ckpt_dir.glob("*/last.pt"))
    saved.write_bytes(b"this is not a checkpoint")
    again = cli(*args, cwd=tmp_path)
    assert again.returncode == 1
    [line] = [x for x in again.stdout.splitlines() if x.startswith("trial failed:")]
    assert "CheckpointError" in line and "unreadable" in line and "delete it to restart" in line
    assert "Traceback" not in again.stdout + again.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere; the /proc case covers it")
def test_unwritable_cache_dir(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    out = cli(*RBM, f"data.cache_dir={locked}", cwd=tmp_path)
    assert out.returncode == 2 and "data.cache_dir" in out.stderr
