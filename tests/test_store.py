"""The local sqlite store: a new one starts as a copy of MLflow's empty schema, a sweep's driver puts it
in write-ahead-log mode, except on a network file system, and a trial claims its run without waiting on
the store while every claimed tag still lands."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from pipelines.preflight import filesystem_type, open_experiment, seed_new_store, store_template, use_write_ahead_log
from workers.config import TrackingConfig
from workers.sink import MLflowSink
from workers.tracking import HEARTBEAT_TAG


def journal_mode(path) -> str:
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA journal_mode").fetchone()[0].lower()


def _clauses(sql: str | None) -> list[str]:
    """A CREATE statement's clauses, in order of their text: MLflow's migrations list a table's CHECK
    constraints in an order that differs from one interpreter to the next (two stores MLflow makes itself
    differ so)."""
    return sorted(line.strip().rstrip(",") for line in (sql or "").splitlines())


def schema(path) -> dict[str, list]:
    with sqlite3.connect(path) as db:
        objects = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
        return {
            "objects": sorted((kind, name, table, _clauses(sql)) for kind, name, table, sql in objects),
            "alembic": db.execute("SELECT version_num FROM alembic_version").fetchall(),
            "workspaces": db.execute("SELECT * FROM workspaces").fetchall(),
            "experiments": db.execute("SELECT experiment_id, name, artifact_location FROM experiments").fetchall(),
        }


def test_a_store_copied_from_the_template_is_the_store_mlflow_makes(tmp_path, monkeypatch):
    cache, made, seeded = tmp_path / "cache", tmp_path / "made", tmp_path / "seeded"
    for d in (made, seeded, tmp_path / "elsewhere"):
        d.mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the template is made from another working directory
    template = store_template(cache)
    assert schema(template)["experiments"] == []  # MLflow's Default experiment is not carried over
    monkeypatch.chdir(tmp_path)
    assert seed_new_store(f"sqlite:///{seeded / 'mlflow.db'}", cache) is True
    for where in (made, seeded):  # MLflow opens each; it makes the first, the second it finds
        client = MlflowClient(f"sqlite:///{where / 'mlflow.db'}")
        assert client.create_experiment("sweeps") == "1"
        client.log_metric(client.create_run("1").info.run_id, "x", 0.5)
    assert schema(seeded / "mlflow.db") == schema(made / "mlflow.db")
    default = schema(seeded / "mlflow.db")["experiments"][0]
    assert default[:2] == (0, "Default") and default[2].startswith(str(tmp_path / "mlruns"))


def test_seeding_creates_only_a_store_that_does_not_exist(tmp_path):
    cache = tmp_path / "cache"
    held = tmp_path / "mlflow.db"
    held.write_bytes(b"a store of someone else's")
    assert seed_new_store(f"sqlite:///{held}", cache) is False
    assert held.read_bytes() == b"a store of someone else's"
    assert seed_new_store(f"sqlite:///{tmp_path / 'missing' / 'mlflow.db'}", cache) is False
    assert not (tmp_path / "missing").exists()
    assert seed_new_store("http://127.0.0.1:5000", cache) is False
    assert not cache.exists()  # none of these needed a template
    assert seed_new_store(f"sqlite:///{tmp_path / 'a.db'}", cache) is True
    (template,) = cache.iterdir()
    made = template.stat().st_mtime_ns
    assert seed_new_store(f"sqlite:///{tmp_path / 'b.db'}", cache) is True
    assert [p.name for p in cache.iterdir()] == [template.name] and template.stat().st_mtime_ns == made
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.db", "b.db", "cache", "mlflow.db"]  # no scratch left


def test_a_new_local_store_is_opened_in_write_ahead_log_mode(tmp_path):
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    experiment_id = open_experiment(TrackingConfig(experiment="wal"), uri)
    assert journal_mode(db) == "wal"
    client = MlflowClient(uri)  # MLflow reads and writes it as before
    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "x", 1.5)
    assert MlflowClient(uri).get_run(run.info.run_id).data.metrics == {"x": 1.5}


MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
server:/export /data nfs4 rw,relatime 0 0
/dev/vdb /data/local\\040disk xfs rw 0 0
"""


@pytest.mark.parametrize(
    "where, kind",
    [("/data/run/x", "nfs4"), ("/data", "nfs4"), ("/data/local disk/x", "xfs"), ("/datax", "ext4"), ("/tmp", "ext4")],
)
def test_the_file_system_is_the_longest_mount_point_holding_the_path(where, kind):
    assert filesystem_type(Path(where), MOUNTS) == kind


def test_a_store_on_a_network_file_system_keeps_the_rollback_journal(tmp_path):
    db = tmp_path / "mlflow.db"
    sqlite3.connect(db).close()
    on_nfs = f"/dev/vda / ext4 rw 0 0\nserver:/x {tmp_path} nfs rw 0 0\n"
    assert use_write_ahead_log(f"sqlite:///{db}", on_nfs) is False
    assert journal_mode(db) == "delete"
    assert use_write_ahead_log(f"sqlite:///{db}", "/dev/vda / ext4 rw 0 0\n") is True
    assert journal_mode(db) == "wal"
    assert use_write_ahead_log("http://127.0.0.1:5000") is False


def test_a_claim_is_written_by_the_heartbeat_thread_and_its_tags_again_at_the_end(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("claim")).info.run_id
    sink = MLflowSink(uri, run_id, spool_dir=tmp_path / "spool")
    sink.start_heartbeat(60.0, {"phasesweep.node": "here"})
    deadline = time.monotonic() + 10
    while HEARTBEAT_TAG not in (tags := client.get_run(run_id).data.tags) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tags.get("phasesweep.node") == "here" and float(tags[HEARTBEAT_TAG]) <= time.time()
    client.delete_tag(run_id, "phasesweep.node")  # as if the claim's write had been missed
    sink(0, {"train/loss": 0.25})
    sink.terminate("FINISHED", {"phasesweep.status": "finished"})
    sink.stop_heartbeat()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["phasesweep.node"] == "here" and run.data.tags["phasesweep.status"] == "finished"
    assert run.data.metrics == {"train/loss": 0.25}


def test_a_trial_that_ends_before_it_claims_its_run_still_records_where_it_ran(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("early")).info.run_id
    sink = MLflowSink(uri, run_id, spool_dir=tmp_path / "spool")
    sink.hold_claim({"phasesweep.node": "here", "phasesweep.device": "cpu"})  # a family that fails to build
    sink.terminate("FAILED", {"phasesweep.status": "failed"})
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and HEARTBEAT_TAG not in run.data.tags
    assert {k: run.data.tags[k] for k in ("phasesweep.node", "phasesweep.device", "phasesweep.status")} == {
        "phasesweep.node": "here",
        "phasesweep.device": "cpu",
        "phasesweep.status": "failed",
    }
