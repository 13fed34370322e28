"""Checks of where a run writes, made in the driver in a few seconds, before Ray starts.

`check_tracking` answers four questions, in this order, each with a one-line `ConfigError` naming the key:

1. Is `tracking.uri` a store MLflow accepts, and does it answer? A sqlite file's directory must
   already exist (nothing outside what the user named is created); a server must answer
   `/health` within `PROBE_TIMEOUT_S`.
2. Are `tracking.spool_dir` (on a local run) and `tracking.checkpoint_dir` writable directories?
3. Can the experiment be read, or created?
4. Does the store take a write? The probe sets the experiment tag `phasesweep.last_launch`.

A new local sqlite store starts as a copy of MLflow's empty schema (`seed_new_store`), and a sqlite
store on a local disk is switched to write-ahead logging (`use_write_ahead_log`).

The cheap checks come first, so a refused launch creates no store.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import shutil
import sqlite3
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from pipelines.validate import ConfigError, check_dir
from workers.config import TrackingConfig

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 3.0
LOCK_WAIT_S = 30.0
SQLITE = "sqlite:///"


def _reason(exc: BaseException) -> str:
    """The most specific one-line reason in an exception chain."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _check_uri(uri: str) -> None:
    key = f"tracking.uri={uri}"
    if uri.startswith(SQLITE):
        path = Path(uri[len(SQLITE) :])
        if not path.parent.is_dir():
            raise ConfigError(f"{key}: the directory {path.parent} does not exist; create it or choose another path")
        if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise ConfigError(f"{key}: {path if path.exists() else path.parent} is not writable")
    elif uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=PROBE_TIMEOUT_S):
                pass
        except urllib.error.HTTPError as exc:
            if exc.code not in (401, 403):  # a server behind basic auth still answers
                raise ConfigError(f"{key}: the server answered /health with HTTP {exc.code}") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{key}: no MLflow server answers there within {PROBE_TIMEOUT_S:g} s ({_reason(exc)}); "
                "start one (deploy/README.md) or unset tracking.uri for the local sqlite store"
            ) from None
    elif "://" not in uri or uri.startswith("file:"):
        path = uri.removeprefix("file://").removeprefix("file:")
        raise ConfigError(
            f"{key}: MLflow 3 no longer writes to a plain directory store; "
            f"for a file use {SQLITE}{Path(path).expanduser().resolve()}, or a server's http://host:5000"
        )


def _refused(exc: BaseException, uri: str) -> None:
    """Raise the one-line error for a store that refuses writes for good (full or read-only disk)."""
    from workers.sink import STORE_REFUSALS, free_space  # (the sink imports MLflow)

    refusal = next((r for r in STORE_REFUSALS if r in str(exc).lower()), None)
    if refusal is not None:
        where = free_space(uri.removeprefix(SQLITE)) if uri.startswith(SQLITE) else "on the server"
        raise ConfigError(f"tracking.uri={uri}: the store refuses writes: {refusal} ({where})") from None


def _patiently(call, limit_s: float = LOCK_WAIT_S):
    """`call()`, retried while a sqlite store is locked by running trials' writes (a busy store is not a
    broken one); any other error, or a lock held past `limit_s`, is raised."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            return call()
        except Exception as exc:
            if "database is locked" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def check_tracking(track: TrackingConfig, uri: str, *, local: bool) -> str:
    """Check the store, the experiment and the directories a trial writes; returns the experiment id.

    `local` is True when the trials run on this machine, so their spool directory is checked here.
    """
    check_tracking_target(track, uri, local=local)
    return open_experiment(track, uri)


def check_tracking_target(track: TrackingConfig, uri: str, *, local: bool) -> None:
    """The fast half of `check_tracking`: the experiment's name, the URI's form and the directories,
    without opening the store."""
    if not isinstance(track.experiment, str) or not track.experiment.strip():
        raise ConfigError(f"tracking.experiment={track.experiment!r}: must be a non-empty name")
    _check_uri(uri)
    if local:
        check_dir("tracking.spool_dir", track.spool_dir)
    if track.checkpoint_dir:
        check_dir("tracking.checkpoint_dir", track.checkpoint_dir)


NETWORK_FILESYSTEMS = ("nfs", "nfs4", "cifs", "smb", "smb3", "lustre", "gpfs", "beegfs", "ceph", "9p", "fuse")
"""File-system types (or their prefixes) whose locking cannot carry sqlite's write-ahead log."""


def filesystem_type(path: Path, mounts: str | None = None) -> str | None:
    """The type of the file system holding `path`: that of the longest mount point in `mounts` (the text
    of /proc/mounts, read when not given) that contains it; None where there is no /proc/mounts (macOS)
    or no mount matches."""
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text()
        except OSError:
            return None
    where, best, kind = str(path.resolve()), -1, None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")  # /proc/mounts writes a space as \040
        inside = where == point or where.startswith(point.rstrip("/") + "/")
        if inside and len(point) > best:
            best, kind = len(point), fields[2]
    return kind


def use_write_ahead_log(uri: str, mounts: str | None = None) -> bool:
    """Put a local sqlite store in write-ahead-log mode (`PRAGMA journal_mode=WAL`, kept in the file);
    True if it is in that mode now.

    A sweep's driver and its trials write the one file at once. In sqlite's default rollback-journal
    mode a write blocks every reader and each commit syncs twice; with the write-ahead log readers go on
    beside the one writer and a commit appends to the log (https://sqlite.org/wal.html). Measured here,
    in process, one trial at a time: a sleeping trial's store requests take about 45 ms in the default
    mode and 30 ms with the log, and in a sweep the driver's writes no longer hold up the trials' reads.
    The log needs memory shared between the processes, which network file systems do not give
    (sqlite.org/wal.html, "Disadvantages"), so a store on one (`NETWORK_FILESYSTEMS`) keeps the default
    mode, as does a store that another process holds locked just now: the mode is an optimisation,
    never a reason to stop. (`mounts`: the text of /proc/mounts, read when not given.)"""
    if not uri.startswith(SQLITE):
        return False
    path = Path(uri[len(SQLITE) :])
    kind = filesystem_type(path.parent, mounts) or ""
    if kind.startswith(NETWORK_FILESYSTEMS):
        return False
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=1.0)) as db:
            return str(db.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower() == "wal"
    except sqlite3.Error:
        return False


def template_dir() -> Path:
    """Where the empty-store templates are kept: `$XDG_CACHE_HOME/phasesweep`, by default
    `~/.cache/phasesweep`. Deleting it is always safe; the next new store makes a template again."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "phasesweep"


def store_template(cache: Path) -> Path:
    """MLflow's empty sqlite schema for the installed MLflow, made once per version in `cache`.

    MLflow itself makes it, in a scratch file, by opening a new store: that creates the tables and runs
    every migration. The one row MLflow adds, the Default experiment 0, is deleted, since it records
    its artifact directory as an absolute path under the working directory of the day; MLflow adds it
    again, with the right path, whenever it opens a store without it
    (`SqlAlchemyStore._initialize_store_state`). The template lands by an atomic rename, so drivers that
    make it at the same time never see half of one."""
    import mlflow
    from mlflow.tracking import MlflowClient

    template = cache / f"mlflow-{mlflow.__version__}-empty.db"
    if template.is_file():
        return template
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix="making-") as scratch:
        db = Path(scratch) / "store.db"
        MlflowClient(tracking_uri=f"{SQLITE}{db}").get_experiment("0")
        with contextlib.closing(sqlite3.connect(db)) as con:
            con.execute("DELETE FROM experiment_tags")
            con.execute("DELETE FROM experiments")
            con.commit()
        os.replace(db, template)
    return template


def seed_new_store(uri: str, cache: Path | None = None) -> bool:
    """Start a sqlite store that does not exist yet as a copy of MLflow's empty schema
    (`store_template`); True if this call created it.

    MLflow makes a new sqlite store by creating its tables and running each of its migrations: about
    2.3 s of CPU here, in every working directory a sweep is launched from, and on a machine of two
    cores that is CPU taken from Ray's start. The copy takes milliseconds, and MLflow opens it as the
    store it would have made (its schema check, `_verify_schema`, passes; the Default experiment is
    added on opening). Only a file that does not exist is ever created, through a hard link that fails
    if another process created the store first; anything else (a server URI, an existing store, a
    cache or a file system that refuses) leaves the store to MLflow, as before."""
    if not uri.startswith(SQLITE):
        return False
    path = Path(uri[len(SQLITE) :]).expanduser()
    if path.exists() or not path.parent.is_dir():
        return False
    try:
        template = store_template(cache or template_dir())
        scratch = path.with_name(f".{path.name}.{os.getpid()}.new")
        shutil.copyfile(template, scratch)
        try:
            os.link(scratch, path)
        finally:
            scratch.unlink(missing_ok=True)
    except (OSError, sqlite3.Error) as exc:  # FileExistsError included: another process made it first
        log.debug("new store %s left to MLflow: %s", path, exc)
        return False
    return True


def open_experiment(track: TrackingConfig, uri: str) -> str:
    """The slow half of `check_tracking`: open the store (a new sqlite store starts as a copy of MLflow's
    empty schema, `seed_new_store`), find or create the experiment, and check the store takes writes;
    returns the experiment id."""
    from mlflow.tracking import MlflowClient

    from workers import tracking

    seed_new_store(uri)
    try:
        client = MlflowClient(tracking_uri=uri)
        experiment_id = _patiently(lambda: tracking.ensure_experiment(client, track.experiment))
    except Exception as exc:
        _refused(exc, uri)
        raise ConfigError(
            f"tracking.uri={uri}: cannot open experiment {track.experiment!r} there ({_reason(exc)})"
        ) from None
    try:
        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        _patiently(lambda: client.set_experiment_tag(experiment_id, "phasesweep.last_launch", stamp))
    except Exception as exc:
        _refused(exc, uri)
        raise ConfigError(f"tracking.uri={uri}: the store refuses writes ({_reason(exc)})") from None
    use_write_ahead_log(uri)
    return experiment_id
