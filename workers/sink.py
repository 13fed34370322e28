"""The one tracking sink: every metric, param, tag and artifact of a trial goes through here.

Modelled on NetKet's `MLFlowLog`: ``sink(step, metrics)`` buffers, ``sink.flush()`` sends.

- Metrics go out with `log_batch`, ~40× cheaper per point than `log_metric`, in requests of
  at most 1000 metrics; tags 100 per request (MLflow's limits, `workers.tracking`).
- Every request is retried with exponential backoff while the store is unreachable (a server
  restart, a locked sqlite file). Unsent points wait in a spool file (JSON lines) and are
  replayed, oldest first, when the store answers again. Past `outage_limit_s` the sink raises
  `TrackingOutage`; the spool stays on disk for `replay_spool`.
- After a resume, `skip_logged()` drops points of steps the run already holds, so a retried
  trial never duplicates a step.
- The full history is kept in memory so the loop can plot training curves.
- `start_heartbeat(every_s)` refreshes the run's lease tag from a daemon thread, so a second driver
  sees the run is owned (`workers.tracking.is_owned`) until the trial ends or dies.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from workers.tracking import MAX_METRICS_PER_BATCH, MAX_PARAMS_PER_BATCH, chunks, heartbeat

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from mlflow.entities import Run

log = logging.getLogger(__name__)


class TrackingOutage(RuntimeError):
    """The tracking store stayed unreachable past `tracking.outage_limit_s`."""


class TrackingStoreFull(RuntimeError):
    """The store (or the disk under it) refuses writes for good: full, or read-only. Not retried."""


class SpoolUnwritable(RuntimeError):
    """The spool directory refuses the points the store could not take (permissions, a missing
    mount). Not retried; the trial resumes from its checkpoint once `tracking.spool_dir` is fixed."""


DISK_REFUSALS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
"""OS errors of a disk that takes no more writes: full, over quota, or mounted read-only."""

STORE_REFUSALS = ("database or disk is full", "no space left on device", "readonly database", "read-only file system")
"""Errors that waiting never cures, so the sink fails at once instead of retrying them as an outage."""


def free_space(path: str | Path) -> str:
    """`'1.2 MiB free on /data'` for the file system holding `path` (or its nearest existing parent)."""
    import shutil

    where = Path(path).expanduser().resolve()
    while not where.is_dir() and where != where.parent:
        where = where.parent
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return f"free space on {where} unknown"
    return f"{free / 2**20:.1f} MiB free on {where}"


class MLflowSink:
    """Batched, outage-tolerant writer for one MLflow run.

    Args:
        tracking_uri: the store every node can reach (sqlite file locally, a server on a cluster).
        run_id: the run to write into; the driver creates it so that it can also end it.
        flush_every: buffered metric steps before a `log_batch` request (0: only on `flush()`).
        outage_limit_s: how long to keep retrying an unreachable store before giving up.
        spool_dir: where unsent points wait, one file per run.
    """

    def __init__(
        self,
        tracking_uri: str,
        run_id: str,
        *,
        flush_every: int = 50,
        outage_limit_s: float = 600.0,
        spool_dir: str | Path = ".phasesweep_spool",
    ) -> None:
        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.run_id = run_id
        self.flush_every = max(0, int(flush_every))
        self.outage_limit_s = outage_limit_s
        self.spool = Path(spool_dir).expanduser().resolve() / f"{run_id}.jsonl"
        self.history: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self._buffer: list[Metric] = []
        self._steps_buffered = 0
        self._logged_through: dict[str, int] | None = None
        self._stop_beating: threading.Event | None = None
        self._opened: Run | None = None
        self._claim_tags: dict[str, Any] = {}

    # ----------------------------------------------------------------------- the lease
    def hold_claim(self, tags: dict[str, Any]) -> None:
        """Keep the tags of this trial's claim (where it runs): they go with its first heartbeat
        (`start_heartbeat`) and again with its closing tags (`terminate`), so a trial that ends before it
        beats still records them."""
        self._claim_tags = dict(tags)

    def start_heartbeat(self, every_s: float, tags: dict[str, Any] | None = None) -> None:
        """Claim the run: beat now, with the claim's `tags` (by default those of `hold_claim`) in the same
        write, then every `every_s` seconds until `stop_heartbeat()`, all from a daemon thread, so the
        trial starts without waiting on the store. The claim's tags are written again with the closing
        ones (`terminate`), so a claim the store missed loses nothing."""
        self.stop_heartbeat()
        if tags is not None:
            self.hold_claim(tags)
        self._stop_beating = heartbeat(self.tracking_uri, self.run_id, every_s, first=self._claim_tags)

    def stop_heartbeat(self) -> None:
        if self._stop_beating is not None:
            self._stop_beating.set()
            self._stop_beating = None

    # ----------------------------------------------------------------------- retrying
    def _retry(self, what: str, call: Callable[[], Any]) -> Any:
        """Run `call`, retrying with backoff (0.5 s doubling to 30 s) up to the outage limit."""
        deadline = time.monotonic() + self.outage_limit_s
        delay = 0.5
        while True:
            try:
                return call()
            except Exception as exc:
                refusal = next((r for r in STORE_REFUSALS if r in str(exc).lower()), None)
                if refusal is not None:
                    store = self.tracking_uri.removeprefix("sqlite:///")
                    raise TrackingStoreFull(
                        f"the tracking store refuses writes while {what}: {refusal} "
                        f"({free_space(store if '://' not in store else self.spool)}); "
                        f"metrics not yet stored are kept in {self.spool}"
                    ) from exc
                if time.monotonic() + delay > deadline:
                    raise TrackingOutage(
                        f"tracking store unreachable for {self.outage_limit_s:g} s while {what} "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                        f"unsent metrics kept in {self.spool}"
                    ) from exc
                log.warning("tracking store error while %s (%s); retrying in %.1f s", what, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)

    # ------------------------------------------------------------------------ metrics
    def opened(self) -> Run:
        """The run as it was when this sink first read it (one read serves the resume's questions)."""
        if self._opened is None:
            self._opened = self._retry("reading the run", lambda: self.client.get_run(self.run_id))
        return self._opened

    def holds_metrics(self) -> bool:
        """True if the run held metric points when opened (an earlier attempt logged some)."""
        return bool(self.opened().data.metrics)

    def skip_logged(self) -> None:
        """After a resume: drop points for steps the run already holds (per metric key)."""
        self._logged_through = {}

    def _already_logged(self, key: str, step: int) -> bool:
        if self._logged_through is None:
            return False
        if key not in self._logged_through:
            history = self._retry(f"reading {key}", lambda: self.client.get_metric_history(self.run_id, key))
            self._logged_through[key] = max((m.step for m in history), default=-1)
        return step <= self._logged_through[key]

    def __call__(self, step: int, metrics: dict[str, float]) -> None:
        """Record one step of metrics; sends a batch every `flush_every` steps."""
        now = int(time.time() * 1000)
        for key, value in metrics.items():
            value = float(value)
            self.history[key].append((step, value))
            if not self._already_logged(key, step):
                self._buffer.append(Metric(key=key, value=value, timestamp=now, step=step))
        self._steps_buffered += 1
        if self.flush_every and self._steps_buffered >= self.flush_every:
            self.flush()

    def flush(self, tags: dict[str, Any] | None = None) -> None:
        """Send every buffered point (spooled ones first), and `tags` in the same request when given;
        returns once all are stored."""
        self.spool_pending()
        self.replay_spool(tags)

    def spool_pending(self) -> None:
        """Make the buffered points durable in the spool without sending them yet: what a checkpoint
        needs before it may say their steps are done (a resumed trial replays the spool first)."""
        if self._buffer:
            self._spool_append(self._buffer)
            self._buffer = []
        self._steps_buffered = 0

    def _spool_append(self, metrics: list[Metric]) -> None:
        """Append `metrics` to the spool, durably, or not at all: a write the disk refuses part-way is cut
        back off, so the spool only ever holds whole lines (its points are after the last checkpoint,
        which the resumed trial computes again)."""
        size = None
        try:
            self.spool.parent.mkdir(parents=True, exist_ok=True)
            with self.spool.open("a") as fh:
                size = fh.tell()
                for m in metrics:
                    fh.write(json.dumps([m.key, m.value, m.timestamp, m.step]) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            if size is not None:
                with contextlib.suppress(OSError):
                    os.truncate(self.spool, size)
            if exc.errno in DISK_REFUSALS:
                raise TrackingStoreFull(
                    f"cannot spool metrics to {self.spool} ({exc.strerror or exc}; {free_space(self.spool)})"
                ) from exc
            raise SpoolUnwritable(
                f"cannot spool metrics to {self.spool} ({exc.strerror or exc}); "
                "point tracking.spool_dir at a writable directory and run the sweep again to resume"
            ) from exc

    def replay_spool(self, tags: dict[str, Any] | None = None) -> int:
        """Send the spool file's points and delete it; returns how many were sent. `tags` go with the
        last batch of points when they fit in it (MLflow takes 1000 entries per request), else on their
        own: a trial's closing points and tags cost one store transaction, not two."""
        items = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
        if not self.spool.exists():
            self._send_tags(items)
            return 0
        lines = [line for line in self.spool.read_text().splitlines() if line.strip()]
        points = []
        for n, line in enumerate(lines, 1):
            try:
                points.append(Metric(*json.loads(line)))
            except (ValueError, TypeError):
                if n < len(lines):
                    raise ValueError(f"{self.spool}: line {n} is not a metric point: {line[:80]!r}") from None
                # a write torn by a killed process: its points are after the last checkpoint
                log.warning("%s: dropping a torn last line (%d bytes)", self.spool, len(line))
        batches = list(chunks(points, MAX_METRICS_PER_BATCH))
        riding = (
            items
            if items
            and len(items) <= MAX_PARAMS_PER_BATCH
            and batches
            and (len(batches[-1]) + len(items) <= MAX_METRICS_PER_BATCH)
            else []
        )
        for n, chunk in enumerate(batches, 1):
            extra = riding if n == len(batches) else []
            self._retry(
                "logging metrics", lambda c=chunk, t=extra: self.client.log_batch(self.run_id, metrics=c, tags=t)
            )
        self.spool.unlink()
        if not riding:
            self._send_tags(items)
        return len(points)

    # -------------------------------------------------------------------- params & tags
    def set_tags(self, tags: dict[str, Any]) -> None:
        self._send_tags([RunTag(k, str(v)) for k, v in tags.items()])

    def _send_tags(self, items: list[RunTag]) -> None:
        for chunk in chunks(items, MAX_PARAMS_PER_BATCH):
            self._retry("setting tags", lambda c=chunk: self.client.log_batch(self.run_id, tags=c))

    # ------------------------------------------------------------------------ artifacts
    def log_figure(self, figure: Figure, artifact_file: str) -> None:
        import matplotlib.pyplot as plt

        self._retry("logging a figure", lambda: self.client.log_figure(self.run_id, figure, artifact_file))
        plt.close(figure)

    def log_text(self, text: str, artifact_file: str) -> None:
        self._retry("logging text", lambda: self.client.log_text(self.run_id, text, artifact_file))

    def log_file(self, path: str | Path, artifact_path: str | None = None) -> None:
        self._retry("logging an artifact", lambda: self.client.log_artifact(self.run_id, str(path), artifact_path))

    def download(self, artifact_path: str, dst: str | Path) -> Path | None:
        """Fetch one artifact of the run into `dst`; None when the run has no such artifact. A run whose
        artifacts are files on this machine is read directly, without listing them through the store;
        any other store (proxied `mlflow-artifacts:`, S3, a path this node cannot see) goes through it."""
        root = local_artifact_dir(self.opened().info.artifact_uri)
        if root is not None and root.is_dir():
            source = root / artifact_path
            if not source.is_file():
                return None
            return Path(shutil.copy(source, Path(dst) / source.name))
        parent = str(Path(artifact_path).parent)
        listing = self._retry("listing artifacts", lambda: self.client.list_artifacts(self.run_id, parent))
        if not any(item.path == artifact_path for item in listing):
            return None
        local = self._retry(
            "downloading an artifact", lambda: self.client.download_artifacts(self.run_id, artifact_path, str(dst))
        )
        return Path(local)

    def terminate(self, status: str, tags: dict[str, Any] | None = None) -> None:
        """Flush (with the run's closing `tags`, in the same request) and end the run with an MLflow
        status: FINISHED, FAILED or KILLED."""
        self.flush(self._claim_tags | (tags or {}))
        self._retry("ending the run", lambda: self.client.set_terminated(self.run_id, status=status))


def save_torch(obj: Any, path: Path) -> None:
    """torch.save through a temp file and rename, so a reader never sees half a checkpoint."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as fh:
        tmp = Path(fh.name)
    torch.save(obj, tmp)
    os.replace(tmp, path)


def local_artifact_dir(uri: str | None) -> Path | None:
    """The directory an artifact URI names on this machine: a plain path or a `file:` URI. None for
    anything else, including MLflow's proxied `mlflow-artifacts:/…`, which has a scheme but no `//`."""
    if not uri:
        return None
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "":
        return Path(uri)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    return None
