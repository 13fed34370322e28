"""A trial's checkpoints: the whole state (parameters, optimiser, chains or buffers, RNG
states, step, metric history) in one file, on storage every node can reach.

Location: `tracking.checkpoint_dir/<trial_key>/last.pt` when a shared directory is
configured, else the run's own artifact store (`checkpoints/last.pt`), which a worker on any
node reaches through MLflow. Files are read with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from workers.sink import MLflowSink, save_torch

ARTIFACT = "checkpoints/last.pt"


class CheckpointError(RuntimeError):
    """A checkpoint exists but cannot be used (corrupt, truncated, or not a phasesweep state)."""


class CheckpointStore:
    def __init__(self, sink: MLflowSink, *, checkpoint_dir: str | None, trial_key: str, enabled: bool = True):
        self.sink = sink
        self.enabled = enabled
        self.path = Path(checkpoint_dir).expanduser().resolve() / trial_key / "last.pt" if checkpoint_dir else None

    def save(self, state: dict[str, Any]) -> None:
        if not self.enabled:
            return
        if self.path is not None:
            save_torch(state, self.path)
            return
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "last.pt"
            save_torch(state, local)
            self.sink.log_file(local, "checkpoints")

    def load(self) -> dict[str, Any] | None:
        """The last checkpoint, or None for a fresh trial."""
        if not self.enabled:
            return None
        if self.path is not None:
            return read_checkpoint(self.path) if self.path.exists() else None
        with tempfile.TemporaryDirectory() as tmp:
            local = self.sink.download(ARTIFACT, tmp)
            return read_checkpoint(local) if local is not None else None


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint safely; a damaged file raises CheckpointError naming it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(exc).__name__}); delete it to restart") from None
    if not isinstance(state, dict) or not {"step", "family"} <= set(state):
        raise CheckpointError(f"checkpoint {path} is not a phasesweep trial state; delete it to restart")
    return state
