"""Population packing (issue 14): many RBM trials trained as one batched model in one Ray task, each still
its own MLflow child run. The population against its unpacked twin, members against each other, divergence
isolation, cross-form checkpoints, the driver's packs on real Ray and MLflow, and the one-line refusals."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from mlflow.tracking import MlflowClient

from tests.conftest import REPO, TINY, cli
from workers.families.base import IsingDataConfig, OptimizerName
from workers.families.rbm.config import LearningRule, LRSchedule, RBMConfig, RBMTrainConfig
from workers.families.rbm.family import RBMFamily
from workers.families.rbm.population import RBMPopulation
from workers.loop import train_population


def spec(tmp: Path, seed: int, T: float = 2.5, lr: float = 0.01, **train) -> SimpleNamespace:
    data = IsingDataConfig(L=4, temperature=T, n_samples=200, burn_in=50, cache_dir=str(tmp / "cache"))
    options = dict(steps=30, lr=lr, batch_size=32, momentum=0.9, observe_every=10, sample_chains=32, sample_steps=10)
    return SimpleNamespace(
        seed=seed, model=RBMConfig(), data=data, train=RBMTrainConfig(**options | train), sampler=None
    )


class Sink:
    def __init__(self) -> None:
        self.history: dict[str, list[tuple[int, float]]] = {}

    def __call__(self, step: int, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.history.setdefault(key, []).append((step, value))

    def flush(self) -> None:
        pass


def learned(history: dict) -> dict:
    """Everything but the timing."""
    return {k: v for k, v in history.items() if not k.startswith("sys/")}


def run(population, steps: int = 30, observe_every: int = 10) -> list[Sink]:
    sinks = [Sink() for _ in range(population.size)]
    outcomes = train_population(population, sinks, steps=steps, observe_every=observe_every)
    for sink, outcome in zip(sinks, outcomes, strict=True):
        sink.outcome = outcome
    return sinks


VARIANTS = [
    dict(),
    dict(rule=LearningRule.pcd),
    dict(optimizer=OptimizerName.adam),
    dict(lr_schedule=LRSchedule.cosine, weight_decay=1e-3),
    dict(sample_steps=40, sample_warm_steps=5),
]
IDS = ["cd-sgd", "pcd", "adam", "cosine-wd", "warm-chains"]


@pytest.mark.parametrize("train", VARIANTS, ids=IDS)
def test_a_member_computes_the_same_with_3_or_with_15_others(tmp_path, train):
    """Every random number a member draws comes from its own generator: its pack's other members change
    nothing it computes, bit for bit."""
    me = spec(tmp_path, 7, 2.3, **train)
    others = [spec(tmp_path, s, 1.8 + 0.1 * s, lr=0.01 * (1 + s % 3), **train) for s in range(15)]
    small = run(RBMPopulation([others[0], me, others[1], others[2]], torch.device("cpu")))[1]
    large = run(RBMPopulation([*others[:9], me, *others[9:]], torch.device("cpu")))[9]
    assert learned(small.history) == learned(large.history)
    assert len(small.history["obs/model_energy"]) == 4


@pytest.mark.parametrize("train", VARIANTS, ids=IDS)
def test_a_member_matches_its_unpacked_twin_to_rounding(tmp_path, train):
    """The same draws in the same order as `RBMFamily`: only batched against single matrix products differ."""
    torch.manual_seed(0)
    twin = RBMFamily(spec(tmp_path, 3, **train), torch.device("cpu"))
    pop = RBMPopulation([spec(tmp_path, 1, 2.0, **train), spec(tmp_path, 3, **train)], torch.device("cpu"))
    for step in range(30):
        alone, packed = twin.step(step), pop.step(step, [0, 1])[1]
        assert packed["train/lr"] == pytest.approx(alone["train/lr"], rel=1e-6)
        assert packed["train/recon_error"] == pytest.approx(alone["train/recon_error"], rel=1e-4)
    assert torch.allclose(twin.rbm.W, pop.params["W"][1], atol=1e-5)
    for _ in range(2):  # the second observe continues warm-started chains where they are configured
        a, b = twin.observe(30), pop.observe(30, [1])[0]
        assert set(a) == set(b)
        assert b["obs/model_energy"] == pytest.approx(a["obs/model_energy"], abs=1e-6)
        assert b.get("chain/steps") == a.get("chain/steps")


def test_a_diverging_member_is_frozen_and_the_others_go_on_unchanged(tmp_path):
    bad = spec(tmp_path, 1, lr=1e38)  # the first update overflows float32: W holds inf, F(v) is NaN
    good = [spec(tmp_path, 0), spec(tmp_path, 2)]
    with_bad = run(RBMPopulation([good[0], bad, good[1]], torch.device("cpu")))
    without = run(RBMPopulation(good, torch.device("cpu")))
    assert with_bad[1].outcome.diverged and with_bad[1].outcome.step <= 1
    assert not with_bad[0].outcome.diverged and with_bad[0].outcome.step == 30
    assert learned(with_bad[2].history) == learned(without[1].history)
    assert max(s for s, _ in with_bad[1].history["train/recon_error"]) == with_bad[1].outcome.step


def test_member_states_cross_between_a_pack_and_a_lone_trial(tmp_path):
    """A checkpoint written in a pack resumes alone, and one written alone resumes in a pack: resume works
    member by member whatever `pack.size` was."""
    torch.manual_seed(0)
    pop = RBMPopulation([spec(tmp_path, 0), spec(tmp_path, 1, optimizer=OptimizerName.sgd)], torch.device("cpu"))
    for step in range(10):
        pop.step(step, [0, 1])
    alone = RBMFamily(spec(tmp_path, 1), torch.device("cpu"))
    alone.load_state_dict(pop.member_state(1))
    fresh = RBMPopulation([spec(tmp_path, 5), spec(tmp_path, 1)], torch.device("cpu"))
    fresh.load_member_state(1, alone.state_dict())
    for step in range(10, 20):
        one, two = alone.step(step), pop.step(step, [0, 1])[1]
        three = fresh.step(step, [1])[0]
        assert one["train/recon_error"] == pytest.approx(two["train/recon_error"], rel=1e-4)
        assert three == two
    assert torch.allclose(alone.rbm.W, pop.params["W"][1], atol=1e-5)


def test_warm_measurement_chains_cross_with_the_checkpoint(tmp_path):
    """A resumed member continues the measurement chains it had, packed or alone."""
    warm = dict(sample_steps=20, sample_warm_steps=5)
    pop = RBMPopulation([spec(tmp_path, 0, **warm), spec(tmp_path, 1, **warm)], torch.device("cpu"))
    pop.observe(0, [0, 1])
    alone = RBMFamily(spec(tmp_path, 1, **warm), torch.device("cpu"))
    alone.load_state_dict(pop.member_state(1))
    assert torch.equal(alone.measure, pop.measure[1])
    again = RBMPopulation([spec(tmp_path, 1, **warm)], torch.device("cpu"))
    again.load_member_state(0, alone.state_dict())
    assert again.observe(0, [0])[0] == pop.observe(0, [1])[0]
    assert alone.observe(0)["chain/steps"] == pop.observe(0, [1])[0]["chain/steps"] <= 20


def test_members_resumed_at_different_steps_each_take_part_from_their_own(tmp_path):
    pop = RBMPopulation([spec(tmp_path, 0), spec(tmp_path, 1)], torch.device("cpu"))
    sinks = [Sink(), Sink()]
    outcomes = train_population(pop, sinks, steps=20, observe_every=10, start_steps=[0, 12])
    assert [o.step for o in outcomes] == [20, 20]
    assert [s for s, _ in sinks[1].history["train/recon_error"]] == list(range(12, 20))
    assert [s for s, _ in sinks[0].history["train/recon_error"]] == list(range(20))


# ----------------------------------------------------------------------------- the driver, on real parts
def child_runs(cwd: Path):
    client = MlflowClient(f"sqlite:///{cwd}/mlflow.db")
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, max_results=1000)
    return client, [r for r in runs if "mlflow.parentRunId" in r.data.tags]


def assert_one_pack(out, workdir: Path, metrics: list[str], members: int = 4) -> None:
    """A packed CLI sweep: exit 0, no family refused to pack, `members` FINISHED child runs that all ran in
    one pack (one `phasesweep.pack` tag), each holding `metrics`."""
    assert out.returncode == 0, out.stdout + out.stderr
    assert "cannot pack" not in out.stdout
    _, runs = child_runs(workdir)
    assert len(runs) == members and all(r.info.status == "FINISHED" for r in runs)
    assert Counter(r.data.tags.get("phasesweep.pack", "alone") for r in runs).most_common(1)[0][1] == members
    assert all(key in r.data.metrics for r in runs for key in metrics)


@pytest.mark.slow  # two CLI sweeps through Ray and MLflow, a minute each: the default tier keeps ~10 min
def test_a_packed_sweep_gives_each_member_its_own_run_with_its_unpacked_params(workdir):
    """Six trials in packs of 4: two tasks, six FINISHED child runs, each tagged with its pack and holding the
    same params and trial key as the unpacked sweep's twin. The 1e38 member diverges alone."""
    sweep = ["-m", "experiment=rbm_ising", *TINY, "seed=0,1,2", "data.temperature=2.0,3.0"]
    packed = workdir / "packed"
    packed.mkdir()
    cache = {"PHASESWEEP_CACHE": str(workdir / ".cache")}
    out = cli(*sweep, "pack.size=4", "train.lr=0.01,1e38", "sweep_name=p", cwd=packed, env=cache)
    assert out.returncode == 0, out.stdout + out.stderr
    client, runs = child_runs(packed)
    assert len(runs) == 12
    packs = Counter(r.data.tags["phasesweep.pack"] for r in runs)
    assert sorted(packs.values()) == [4, 4, 4], packs  # lr is packable: 12 trials in 3 packs
    status = Counter((r.data.params["train.lr"], r.data.tags["phasesweep.status"]) for r in runs)
    assert status == {("0.01", "finished"): 6, ("1e+38", "diverged"): 6}, status
    assert all(r.info.status == "FINISHED" for r in runs)
    assert "pack.size" not in runs[0].data.params

    alone = workdir / "alone"
    alone.mkdir()
    out = cli(*sweep, "train.lr=0.01", "sweep_name=p", cwd=alone, env=cache)
    assert out.returncode == 0, out.stdout + out.stderr
    _, twins = child_runs(alone)
    by_key = {r.data.tags["phasesweep.trial_key"]: r for r in runs}
    assert len(twins) == 6 and all("phasesweep.pack" not in r.data.tags for r in twins)
    for twin in twins:
        member = by_key[twin.data.tags["phasesweep.trial_key"]]
        assert member.data.params == twin.data.params
        assert set(member.data.metrics) == set(twin.data.metrics)
        artifacts = {a.path for a in client.list_artifacts(member.info.run_id, "plots")}
        assert {"plots/samples.png", "plots/training_curves.png"} <= artifacts


@pytest.mark.slow  # two CLI sweeps through Ray and MLflow, a minute each: the default tier keeps ~10 min
def test_a_rerun_with_another_pack_size_skips_finished_members_and_packs_the_rest(workdir):
    first = cli("-m", "experiment=rbm_ising", *TINY, "seed=0,1", "pack.size=2", "sweep_name=grow", cwd=workdir)
    assert first.returncode == 0, first.stdout + first.stderr
    again = cli("-m", "experiment=rbm_ising", *TINY, "seed=0,1,2,3,4", "pack.size=auto", "sweep_name=grow", cwd=workdir)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "skipped 2 · resumed 0 · new 3" in again.stdout
    assert "pack.size=auto: 2 (the largest packable group has 3 trials, over 2 CPU slots" in again.stdout
    _, runs = child_runs(workdir)
    assert Counter(r.data.tags["phasesweep.trial_key"] for r in runs).most_common(1)[0][1] == 1
    assert sorted(Counter(r.data.tags.get("phasesweep.pack", "alone") for r in runs).values()) == [1, 2, 2]


@pytest.mark.slow  # a CLI sweep through Ray and MLflow, 20 s: the default tier keeps ~10 min
def test_a_family_that_cannot_pack_says_so_in_one_line_and_runs_one_per_task(workdir):
    out = cli("-m", "experiment=ising_mc", "data.L=4", "train.steps=20", "seed=0,1", "pack.size=8", cwd=workdir)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("note: the ising_mc family cannot pack") == 1
    _, runs = child_runs(workdir)
    assert len(runs) == 2 and all("phasesweep.pack" not in r.data.tags for r in runs)


class UndeclaredFamily(RBMFamily):
    """An RBM whose packable keys name a key no config has."""

    packable = ("seed", "train.no_such_key")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("pack.size=0", "pack.size=0: must be an integer >= 1 or auto"),
        ("pack.size=-3", "pack.size=-3: must be an integer >= 1 or auto"),
        (
            "model.family=tests.test_packing:UndeclaredFamily",
            "its packable keys name train.no_such_key, which the config lacks",
        ),
    ],
)
def test_bad_pack_input_is_one_line_before_anything_starts(workdir, override, message):
    env = {"PYTHONPATH": str(REPO)}  # the family given by import path lives in this module
    out = cli("-m", "experiment=rbm_ising", *TINY, "seed=0,1", override, cwd=workdir, env=env, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not (workdir / "mlflow.db").exists()


@pytest.mark.slow
def test_a_killed_pack_worker_is_retried_and_every_member_step_is_logged_once(workdir):
    """SIGKILL the Ray worker that trains a pack once it has checkpointed: Ray retries the task, every
    member resumes from its own checkpoint, and each ends with one FINISHED run and each step once."""
    import subprocess
    import sys

    steps = 3000
    args = [*TINY, f"train.steps={steps}", "train.checkpoint_every=500", "train.observe_every=100"]
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env["PHASESWEEP_CACHE"] = str(workdir / ".cache")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.main", "-m", "experiment=rbm_ising", *args, "seed=0,1,2,3", "pack.size=4"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def checkpointed() -> bool:
        client, runs = child_runs(workdir)
        return len(runs) == 4 and all(client.list_artifacts(r.info.run_id, "checkpoints") for r in runs)

    def pack_workers() -> list[Path]:  # Ray titles a task's worker with the task's name: its first member's
        return [p for p in Path("/proc").glob("[0-9]*") if _cmdline(p).startswith("ray::seed=0 +3")]

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not _quietly(checkpointed):
        time.sleep(0.5)
    victims = pack_workers()
    assert victims, "no worker is running the pack"
    for victim in victims:
        os.kill(int(victim.name), signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    client, runs = child_runs(workdir)
    finished = [r for r in runs if r.info.status == "FINISHED"]
    assert len({r.data.tags["phasesweep.trial_key"] for r in finished}) == 4 == len(finished)
    assert all(int(r.data.tags["phasesweep.resumed_from"]) >= 500 for r in finished)
    for run in finished:
        logged = [m.step for m in client.get_metric_history(run.info.run_id, "train/recon_error")]
        assert sorted(logged) == list(range(steps)), run.info.run_name


def _quietly(predicate) -> bool:
    try:
        return bool(predicate())
    except Exception:
        return False


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
