"""One writer per run, on real parts: a live sweep refuses a second driver, a killed driver's trials are
resumed once their leases expire, and a trial whose sink cannot end its run still ends FAILED."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import TINY, cli
from tests.test_reliability import assert_exactly_once, children, kill_session, launch, wait_for

pytestmark = pytest.mark.slow

STEPS = 400
SWEEP = [
    "-m",
    "experiment=rbm_ising",
    "data.temperature=2.0,2.5",
    *TINY,
    f"train.steps={STEPS}",
    "train.checkpoint_every=50",
    "train.observe_every=50",
]


def store(cwd: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{cwd / 'mlflow.db'}")


def steps_logged(client: MlflowClient, trials: int = 2) -> int:
    """Steps stored by the slowest of the sweep's `trials` trials (0 until every one has a run)."""
    runs = children(client)
    if len(runs) < trials:
        return 0
    return min(len(client.get_metric_history(r.info.run_id, "train/recon_error")) for r in runs)


def test_a_second_driver_refuses_a_live_sweep(tmp_path):
    client = store(tmp_path)
    long = [*SWEEP, "train.steps=4000"]  # long enough to be running still when the second driver looks
    first = launch(long, tmp_path)
    wait_for(lambda: steps_logged(client) >= 50, 240, "the first driver's trials to log")
    second = cli(*long, cwd=tmp_path, timeout=120)
    out, _ = first.communicate(timeout=600)
    assert first.returncode == 0, out
    assert second.returncode == 3, second.stdout + second.stderr
    lines = [x for x in second.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, second.stderr
    [line] = lines
    assert line.startswith("phasesweep: error: sweep 'rbm_ising-") and "running in another driver" in line
    assert "tracking.lease_s" in line
    assert_exactly_once(client, 4000, n_trials=2)


def test_a_killed_driver_is_resumed_once_its_leases_expire(tmp_path):
    client = store(tmp_path)
    # long trials, so both are still running when the kill comes; the CI record once had one trial finish
    # before the other had logged its first 100 steps
    steps = 3 * STEPS
    args = [*SWEEP, f"train.steps={steps}", "tracking.lease_s=120"]  # the lease outlasts the rerun's start-up
    first = launch(args, tmp_path, new_session=True)
    wait_for(lambda: steps_logged(client) >= 100, 240, "a checkpoint of the first driver's trials")
    # the driver, Ray's head and both workers at once: no handler runs, no worker lives on to finish its
    # trial, and the runs stay RUNNING with their last heartbeat
    assert kill_session(first) >= 3
    first.communicate(timeout=60)
    statuses = [r.info.status for r in children(client)]
    running = statuses.count("RUNNING")
    assert running >= 1 and set(statuses) <= {"RUNNING", "FINISHED"}, statuses
    again = cli(*args, cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    text = " ".join(again.stdout.split())
    assert "to let go of their runs" in text  # it waited for the leases instead of writing beside them
    assert f"skipped {2 - running} · resumed {running} · new 0" in text, text
    finished = assert_exactly_once(client, steps, n_trials=2)
    resumed_from = sorted(int(r.data.tags["phasesweep.resumed_from"]) for r in finished)
    # the trials the kill cut short resume from checkpoints, not from scratch; one that had finished keeps 0
    assert sum(step >= 50 for step in resumed_from) == running, resumed_from


SPOIL_SPOOL = textwrap.dedent(
    """
    import shutil
    from pathlib import Path

    from workers.families.rbm.family import RBMFamily

    class SpoolSpoiler(RBMFamily):
        '''Test-only: at step 3, replaces the spool directory by a file and raises, so the trial's sink
        can neither spool nor end its run; the driver must end it.'''

        def __init__(self, spec, device):
            super().__init__(spec, device)
            self.spool_dir = Path(spec.tracking.spool_dir)

        def step(self, step):
            if step == 3:
                spool = self.spool_dir
                shutil.rmtree(spool, ignore_errors=True)
                spool.write_text("not a directory")
                raise RuntimeError("spoiled the spool")
            return super().step(step)
    """
)


def test_a_trial_whose_sink_cannot_end_its_run_still_ends_failed(tmp_path):
    plugin = tmp_path / "plugins"
    plugin.mkdir()
    (plugin / "spool_spoiler.py").write_text(SPOIL_SPOOL)
    out = cli(
        "-m",
        "experiment=rbm_ising",
        "model.family=spool_spoiler:SpoolSpoiler",
        "data.temperature=2.0,2.5",
        *TINY,
        f"tracking.spool_dir={tmp_path / '.spool'}",
        "tracking.outage_limit_s=2",
        cwd=tmp_path,
        env={"PYTHONPATH": str(plugin)},
    )
    assert out.returncode == 1, out.stdout + out.stderr
    runs = children(store(tmp_path))
    assert len(runs) == 2
    assert {r.info.status for r in runs} == {"FAILED"}
    assert all("spoiled the spool" in r.data.tags["phasesweep.error"] for r in runs)


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs, grown to 256 MB by `grow()`; skipped where this process may not mount."""
    import subprocess

    where = tmp_path / "small"
    where.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")

    def grow() -> None:
        subprocess.run(["mount", "-o", "remount,size=256m", str(where)], check=True)

    yield where, grow
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_is_a_clear_failure_and_the_rerun_resumes(small_disk):
    where, grow = small_disk
    args = [*SWEEP, "train.observe_every=5"]
    full = cli(*args, cwd=where, timeout=300)
    text = " ".join((full.stdout + full.stderr).split())
    assert full.returncode in (1, 2), text
    assert "refuses writes" in text and "MiB free on" in text, text  # says why, and how much room is left
    assert "Traceback" not in text
    grow()
    again = cli(*args, cwd=where, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    finished = assert_exactly_once(store(where), STEPS, n_trials=2)
    assert all("phasesweep.error" not in r.data.tags for r in finished)  # no stale error on a finished run


def test_a_read_only_store_is_refused_before_anything_starts(small_disk, tmp_path):
    import subprocess
    import time

    where, _ = small_disk
    make = f"from mlflow import MlflowClient; MlflowClient('sqlite:///{where / 'mlflow.db'}').create_experiment('x')"
    subprocess.run([sys.executable, "-c", make], check=True, capture_output=True)  # a store that exists, closed
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
    work = tmp_path / "work"
    work.mkdir()
    start = time.monotonic()
    out = cli(*SWEEP, f"tracking.uri=sqlite:///{where / 'mlflow.db'}", cwd=work, env={"RAY_TMPDIR": str(work / "ray")})
    elapsed = time.monotonic() - start
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stdout + out.stderr
    assert "tracking.uri=" in lines[0] and "not writable" in lines[0]
    assert not (work / "ray").exists() and not (work / "mlflow.db").exists()
    print(f"read-only store refused in {elapsed:.1f} s")
