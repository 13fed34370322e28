"""Shared fixtures: a clean working directory, the real CLI as a subprocess, a real MLflow store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# A trial config small enough for tests: still real data, a real model, real Ray and MLflow.
TINY = [
    "data.L=4",
    "data.n_samples=200",
    "data.burn_in=50",
    "train.steps=25",
    "train.batch_size=32",
    "train.observe_every=5",
    "train.sample_chains=32",
    "train.sample_steps=10",
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty cwd with no inherited tracking URI, so MLflow's default sqlite store lands here."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return tmp_path


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300):
    """Run the installed `phasesweep` entry point the way a user does."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    full_env["PHASESWEEP_CACHE"] = str(cwd / ".cache")
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pipelines.main", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def run_cli():
    return cli
