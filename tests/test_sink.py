"""The sink: its spool, when the disk under it refuses writes (a full disk is a store refusal: the trial
ends resumable, with the free space in its message; any other refusal names the key to fix), and
artifact downloads from a local store and through a server that proxies artifacts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from tests.test_reliability import MlflowServer
from workers.sink import MLflowSink, SpoolUnwritable, TrackingStoreFull, local_artifact_dir


@pytest.fixture
def sink(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("spool"))
    return MLflowSink(uri, run.info.run_id, spool_dir=tmp_path / "spool")


POINTS = [Metric("train/loss", 0.5, int(time.time() * 1000), step) for step in range(3)]


def test_points_spooled_then_replayed_arrive_once(sink):
    sink._spool_append(POINTS)
    assert sink.spool.exists()
    assert sink.replay_spool() == 3 and not sink.spool.exists()
    history = sink.client.get_metric_history(sink.run_id, "train/loss")
    assert sorted(m.step for m in history) == [0, 1, 2]


@pytest.mark.parametrize("points", [3, 995, 2500])
def test_closing_tags_ride_with_the_last_points_when_they_fit(sink, points):
    """A trial's closing flush sends its points and tags in one request when MLflow's 1000 entries allow
    it, else the tags on their own; either way every point and tag is stored once."""
    sink.flush_every = 0  # as when checkpointing: points wait for the closing flush
    calls = []
    real = sink.client.log_batch
    sink.client.log_batch = lambda run_id, **batch: calls.append(batch) or real(run_id, **batch)
    for step in range(points):
        sink(step, {"train/loss": float(step)})
    tags = {f"phasesweep.t{i}": str(i) for i in range(10)}
    sink.terminate("FINISHED", tags)
    batches = -(-points // 1000)
    assert len(calls) == batches + (points % 1000 + len(tags) > 1000)
    assert sum(len(c.get("metrics") or []) for c in calls) == points
    run = sink.client.get_run(sink.run_id)
    assert run.info.status == "FINISHED" and all(run.data.tags[k] == v for k, v in tags.items())
    assert len(sink.client.get_metric_history(sink.run_id, "train/loss")) == points


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_under_the_spool_is_a_store_refusal(sink):
    sink.spool = Path("/dev/full")  # every write there fails with ENOSPC
    with pytest.raises(TrackingStoreFull, match=r"cannot spool metrics to /dev/full \(No space left on device; .*free"):
        sink._spool_append(POINTS)


def test_an_unwritable_spool_names_the_key_to_fix(sink, tmp_path):
    (tmp_path / "a_file").write_text("")
    sink.spool = tmp_path / "a_file" / "sub" / "run.jsonl"  # ENOTDIR: not a full disk
    with pytest.raises(SpoolUnwritable, match=r"a_file/sub/run.jsonl \(.*\); point tracking.spool_dir at"):
        sink._spool_append(POINTS)


def test_a_torn_last_spool_line_is_dropped_and_a_corrupt_one_is_named(sink):
    sink._spool_append(POINTS)
    with sink.spool.open("a") as fh:
        fh.write('["train/loss", 0.25, 17')  # a write cut off by a full disk or a kill
    assert sink.replay_spool() == 3
    assert sorted(m.step for m in sink.client.get_metric_history(sink.run_id, "train/loss")) == [0, 1, 2]
    sink.spool.write_text('["train/loss", 0.5\n' + '["train/loss", 0.5, 1, 9]\n')
    with pytest.raises(ValueError, match=r"line 1 is not a metric point"):
        sink.replay_spool()
    assert sink.spool.exists(), "a spool that cannot be read is kept"


def test_a_restart_from_step_zero_logs_each_step_once(sink, tmp_path):
    """An attempt that stored points but died before its first checkpoint restarts from step 0; the
    new attempt's sink finds the points and sends only the steps the run does not hold."""
    for step in range(5):
        sink(step, {"train/loss": 1.0 / (step + 1)})
    sink.flush()
    again = MLflowSink(sink.tracking_uri, sink.run_id, spool_dir=tmp_path / "spool")
    assert again.holds_metrics()
    again.skip_logged()
    for step in range(8):
        again(step, {"train/loss": 1.0 / (step + 1)})
    again.flush()
    assert sorted(m.step for m in again.client.get_metric_history(sink.run_id, "train/loss")) == list(range(8))
    fresh = MlflowClient(sink.tracking_uri)
    other = fresh.create_run(fresh.get_run(sink.run_id).info.experiment_id)
    assert not MLflowSink(sink.tracking_uri, other.info.run_id, spool_dir=tmp_path / "spool").holds_metrics()


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/data/mlruns/1/abc/artifacts", Path("/data/mlruns/1/abc/artifacts")),
        ("file:///data/mlruns/1/abc/artifacts", Path("/data/mlruns/1/abc/artifacts")),
        ("mlflow-artifacts:/1/abc/artifacts", None),  # proxied by a server: a scheme, but no //
        ("s3://bucket/1/abc/artifacts", None),
        ("", None),
    ],
)
def test_only_artifact_uris_on_this_machine_are_read_as_files(uri, expected):
    assert local_artifact_dir(uri) == expected


def _fetch_roundtrip(sink: MLflowSink, tmp_path: Path) -> None:
    src = tmp_path / "src" / "last.pt"
    src.parent.mkdir()
    src.write_bytes(b"checkpoint bytes")
    sink.log_file(src, "checkpoints")
    out = tmp_path / "out"
    out.mkdir()
    got = sink.download("checkpoints/last.pt", out)
    assert got is not None and got.read_bytes() == b"checkpoint bytes"
    assert sink.download("checkpoints/missing.pt", out) is None


def test_download_from_a_local_store(sink, tmp_path):
    assert local_artifact_dir(sink.opened().info.artifact_uri) is not None
    _fetch_roundtrip(sink, tmp_path)


def test_download_through_a_server_that_proxies_artifacts(tmp_path):
    """A server with `--serve-artifacts` gives runs `mlflow-artifacts:/…` URIs: the checkpoint a retried
    trial resumes from must come through the server (read as a path, it was never found)."""
    server = MlflowServer(tmp_path / "server")
    server.root.mkdir()
    server.start()
    try:
        client = MlflowClient(server.uri)
        run = client.create_run(client.create_experiment("proxied"))
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")
        _fetch_roundtrip(MLflowSink(server.uri, run.info.run_id, spool_dir=tmp_path / "spool"), tmp_path)
    finally:
        server.stop()
