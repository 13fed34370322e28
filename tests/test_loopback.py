"""The embedded Ray instance listens on 127.0.0.1 only: every server its start-up spawns (GCS, raylet,
agents, workers) and the driver's own, checked on the real processes' listening sockets."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO

PROBE = """
import json
import psutil
from omegaconf import OmegaConf
from pipelines.sweep import _connect

cluster = OmegaConf.create({"address": None, "num_cpus": 1, "num_gpus": 0, "include_dashboard": False})
assert _connect(cluster, {}) is True
import ray

assert ray.get(ray.remote(lambda: 7).remote()) == 7  # a worker is up and answering too
me = psutil.Process()
ours = {me.pid} | {p.pid for p in me.children(recursive=True)}
listening = [c for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.pid in ours]
print(json.dumps({"node": ray.util.get_node_ip_address(), "addresses": sorted({c.laddr.ip for c in listening}),
                  "sockets": len(listening)}))
ray.shutdown()
"""

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def test_the_embedded_ray_listens_on_loopback_only(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, env=env | {"PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["node"] == "127.0.0.1"
    assert seen["sockets"] >= 4, seen  # GCS, raylet, a worker and the driver at least
    assert set(seen["addresses"]) <= LOOPBACK, seen
