"""deploy/README.md on one machine: a real two-node Ray cluster started with `ray start` (token auth
on, dashboard on 127.0.0.1), a real `mlflow server`, and a sweep submitted with
`ray job submit --working-dir <repo>`, the way a sweep reaches a cloud cluster.

The nodes carry the MLflow credentials in their environment, as deploy/ray/cluster.yaml's start
commands load them; the job submission carries none. Every process started here is stopped by its
id in the fixtures' finalizers, also when a test fails. Two Ray nodes on one machine need their
own --temp-dir: sharing one session directory, each node's runtime-env agent deletes and re-creates
the other's copy of the job's working_dir under the running driver.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.conftest import TINY

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SWEEP = ["-m", "experiment=rbm_ising", "data.temperature=2.0,2.5", "model.width=4,8", *TINY]
N_TRIALS, STEPS = 4, 25
SWEEP_USER = "phasesweep"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url: str, *, headers: dict[str, str] | None = None, method: str = "GET", data: bytes | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {}, method=method, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def wait_for(check, what: str, timeout: float = 120.0, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.5)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s\n{tail}")


def spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen, grace: float = 30.0) -> None:
    """SIGTERM the process (it stops its children), then SIGKILL its process group if needed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


def kill_leftovers(marker: str) -> None:
    """SIGKILL, by pid, any process whose command line names our own temp dir (Ray's workers)."""
    for pid_dir in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if marker in (pid_dir / "cmdline").read_bytes().decode(errors="replace"):
                os.kill(int(pid_dir.name), signal.SIGKILL)


@dataclass
class RayCluster:
    dashboard: str
    gcs: str
    token: str
    env: dict[str, str]
    root: Path
    mlflow_password: str = field(repr=False, default="")


@pytest.fixture(scope="module")
def ray_cluster():
    ray = BIN / "ray"
    if not ray.exists():
        pytest.skip(f"no ray CLI beside {sys.executable}")
    root = Path(tempfile.mkdtemp(prefix="psray", dir="/tmp"))  # short: Ray's socket paths have a length limit
    token, token_file = secrets.token_hex(32), root / "auth_token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "MLFLOW_"))}
    mlflow_password = secrets.token_urlsafe(16)
    env |= {
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token_file),
        "RAY_USAGE_STATS_ENABLED": "0",
        # What deploy/ray/cluster.yaml's start commands load from ~/.phasesweep/mlflow.env:
        "MLFLOW_TRACKING_USERNAME": SWEEP_USER,
        "MLFLOW_TRACKING_PASSWORD": mlflow_password,
    }
    gcs_port, dash_port = free_port(), free_port()
    node = ["--block", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=0", "--disable-usage-stats",
            f"--object-store-memory={200 * 1024**2}"]  # fmt: skip

    def agent_ports() -> list[str]:
        names = ("dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port",
                 "metrics-export-port")  # fmt: skip
        return [f"--{name}={free_port()}" for name in names]

    head_cmd = [str(ray), "start", "--head", f"--port={gcs_port}", "--dashboard-host=127.0.0.1",
                f"--dashboard-port={dash_port}", f"--ray-client-server-port={free_port()}",
                f"--temp-dir={root / 'head'}", *node, *agent_ports()]  # fmt: skip
    worker_cmd = [str(ray), "start", f"--address=127.0.0.1:{gcs_port}", f"--temp-dir={root / 'worker'}",
                  *node, *agent_ports()]  # fmt: skip
    cluster = RayCluster(f"http://127.0.0.1:{dash_port}", f"127.0.0.1:{gcs_port}", token, env, root, mlflow_password)
    procs = []
    try:
        start = time.perf_counter()
        procs.append(spawn(head_cmd, env, root / "head.log"))
        auth = {"Authorization": f"Bearer {token}"}
        wait_for(
            lambda: http(f"{cluster.dashboard}/api/version", headers=auth) == 200, "Ray head", log=root / "head.log"
        )
        procs.append(spawn(worker_cmd, env, root / "worker.log"))
        wait_for(lambda: len(alive_nodes(cluster)) == 2, "Ray worker node", log=root / "worker.log")
        print(f"two-node Ray cluster up in {time.perf_counter() - start:.1f}s")
        yield cluster
    finally:
        for proc in reversed(procs):
            stop(proc)
        kill_leftovers(str(root))
        shutil.rmtree(root, ignore_errors=True)


def alive_nodes(cluster: RayCluster) -> set[str]:
    request = urllib.request.Request(
        f"{cluster.dashboard}/api/v0/nodes?limit=100", headers={"Authorization": f"Bearer {cluster.token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        rows = json.load(response)["data"]["result"]["result"]
    return {row["node_id"] for row in rows if row["state"] == "ALIVE"}


@contextlib.contextmanager
def mlflow_server(workdir: Path, backend_uri: str, *args: str, port: int = 0, env: dict[str, str] | None = None):
    """`mlflow server` on 127.0.0.1:<port>, artifacts served from <workdir>/artifacts."""
    port = port or free_port()
    log = workdir / "mlflow.log"
    server_env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    server_env |= {
        "MLFLOW_BACKEND_STORE_URI": backend_uri,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        **(env or {}),
    }
    cmd = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--serve-artifacts", "--artifacts-destination", str(workdir / "artifacts"), *args]  # fmt: skip
    proc = spawn(cmd, server_env, log)
    try:
        wait_for(lambda: http(f"http://127.0.0.1:{port}/health") == 200, "mlflow server", log=log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc, grace=20)


def submit(cluster: RayCluster, workdir: Path, *overrides: str, env_vars: dict[str, str] | None = None):
    """`ray job submit --working-dir <repo> -- phasesweep ...`; returns (rc, output, submission id)."""
    ignored = subprocess.run(
        ["git", "ls-files", "--others", "--ignored", "--exclude-standard", "--directory"],
        cwd=REPO, capture_output=True, text=True, check=False,
    ).stdout.split()  # fmt: skip
    runtime_env = {
        "excludes": [".git", "multirun", "outputs", *ignored],
        "env_vars": {"PHASESWEEP_CACHE": str(workdir / "cache"), **(env_vars or {})},
    }
    submission_id = f"phasesweep-{secrets.token_hex(4)}"
    cmd = [str(BIN / "ray"), "job", "submit", "--address", cluster.dashboard, "--submission-id", submission_id,
           "--working-dir", str(REPO), "--runtime-env-json", json.dumps(runtime_env), "--",
           "phasesweep", *SWEEP, *overrides]  # fmt: skip
    start = time.perf_counter()
    out = subprocess.run(cmd, env=cluster.env, capture_output=True, text=True, timeout=600, check=False)
    print(f"ray job submit: rc={out.returncode} in {time.perf_counter() - start:.1f}s")
    return out.returncode, out.stdout + out.stderr, submission_id


def trial_nodes_from_ray(cluster: RayCluster, submission_id: str) -> set[str]:
    """The Ray nodes the job's trials ran on, from Ray's state API (a client with the token)."""
    script = (
        "import json, sys\n"
        "from ray.job_submission import JobSubmissionClient\n"
        "from ray.util.state import list_tasks\n"
        "job = JobSubmissionClient(sys.argv[1]).get_job_info(sys.argv[2]).job_id\n"
        "tasks = list_tasks(address=sys.argv[1], filters=[('job_id', '=', job),"
        " ('func_or_class_name', '=', 'ray_trial')], detail=True, limit=1000)\n"
        "print(json.dumps([t.node_id for t in tasks]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, cluster.dashboard, submission_id],
        env=cluster.env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def check_sweep(uri: str, cluster: RayCluster, submission_id: str, tmp: Path) -> None:
    """The run tree, metrics and artifacts on the server, and trials on both nodes."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("rbm_ising")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("phasesweep.kind") == "sweep"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].data.tags["phasesweep.finished"] == str(N_TRIALS)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) == N_TRIALS
    for child in children:
        run_id = child.info.run_id
        assert child.info.status == "FINISHED" and child.data.tags["phasesweep.status"] == "finished"
        history = client.get_metric_history(run_id, "train/recon_error")
        assert len({m.step for m in history}) == STEPS
        assert client.get_metric_history(run_id, "obs/energy_error")
        top = {a.path for a in client.list_artifacts(run_id)}
        assert {"config.yaml", "plots", "checkpoints"} <= top
        assert {"plots/training_curves.png", "plots/samples.png"} <= {
            a.path for a in client.list_artifacts(run_id, "plots")
        }
        config = yaml.safe_load(Path(client.download_artifacts(run_id, "config.yaml", str(tmp))).read_text())
        assert str(config["data"]["temperature"]) == child.data.params["data.temperature"]
    from_ray = trial_nodes_from_ray(cluster, submission_id)
    assert len(from_ray) == 2 and from_ray <= alive_nodes(cluster), f"trials ran on {from_ray}, not on both nodes"
    tagged = {c.data.tags.get("phasesweep.ray_node") for c in children}
    if None not in tagged:  # the tag exists since the launcher records the node (workers/trial.py, ray_trial)
        assert tagged == from_ray, f"phasesweep.ray_node {tagged} disagrees with Ray's task records {from_ray}"


# ------------------------------------------------------------------------------------ tests
def test_sweep_on_a_two_node_cluster_logs_to_an_mlflow_server(ray_cluster, tmp_path):
    backend = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with mlflow_server(tmp_path, backend) as uri:
        rc, output, submission_id = submit(ray_cluster, tmp_path, f"tracking.uri={uri}")
        assert rc == 0, output[-6000:]
        assert f"finished {N_TRIALS}" in output
        check_sweep(uri, ray_cluster, submission_id, tmp_path)


def test_the_cluster_refuses_a_missing_or_wrong_token(ray_cluster, tmp_path):
    jobs = f"{ray_cluster.dashboard}/api/jobs/"
    assert http(jobs) == 401
    assert http(jobs, headers={"Authorization": "Bearer not-the-token"}) == 403
    assert http(jobs, headers={"Authorization": f"Bearer {ray_cluster.token}"}) == 200
    # A ShadowRay-style submission: the Jobs API itself, with a wrong token, runs nothing.
    body = json.dumps({"entrypoint": f"touch {tmp_path / 'pwned'}"}).encode()
    wrong = {"Authorization": "Bearer not-the-token", "Content-Type": "application/json"}
    assert http(jobs, headers=wrong, method="POST", data=body) == 403

    bad_env = ray_cluster.env | {"RAY_AUTH_TOKEN": "not-the-token"}  # RAY_AUTH_TOKEN wins over the token file
    cli = subprocess.run(
        [str(BIN / "ray"), "job", "submit", "--address", ray_cluster.dashboard, "--", "touch", str(tmp_path / "pwned")],
        env=bad_env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert cli.returncode != 0 and "Invalid authentication token" in cli.stdout + cli.stderr
    driver = subprocess.run(
        [sys.executable, "-c", f"import ray; ray.init(address={ray_cluster.gcs!r})"],
        env=bad_env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert driver.returncode != 0 and "InvalidAuthToken" in driver.stdout + driver.stderr
    assert not (tmp_path / "pwned").exists()


def test_the_dashboard_listens_on_loopback_only(ray_cluster):
    port = int(ray_cluster.dashboard.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
        address = probe.getsockname()[0]
    if address.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address to probe")
    with socket.socket() as s, pytest.raises(OSError):
        s.settimeout(5)
        s.connect((address, port))


@pytest.fixture
def postgres(tmp_path):
    """A throwaway PostgreSQL on 127.0.0.1 (as the postgres user when we are root); yields a URI."""
    pytest.importorskip("psycopg2", reason="pip install psycopg2-binary for the PostgreSQL backend")
    bindir = next((p for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)
    initdb = shutil.which("initdb") or (bindir and str(bindir / "initdb"))
    pg_ctl = shutil.which("pg_ctl") or (bindir and str(bindir / "pg_ctl"))
    if not (initdb and pg_ctl and Path(initdb).exists() and Path(pg_ctl).exists()):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed: apt-get install postgresql")
    as_user: list[str] = []
    if os.geteuid() == 0:
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no 'postgres' user to run PostgreSQL as")
        as_user = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="pspg", dir="/tmp"))
    password, port = secrets.token_hex(16), free_port()
    (base / "pw").write_text(password)
    if as_user:
        base.chmod(0o755)
        for path in (base, base / "pw"):
            os.chown(path, user.pw_uid, user.pw_gid)
    data = base / "data"
    run = dict(capture_output=True, text=True, timeout=120, check=True)
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-U", "phasesweep", f"--pwfile={base / 'pw'}",
                        "--auth=scram-sha-256", "-E", "UTF8", "--no-locale"], **run)  # fmt: skip
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(base / "pg.log"), "-w", "-t", "60",
                        "-o", f"-h 127.0.0.1 -p {port} -k {base}", "start"], **run)  # fmt: skip
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=port, user="phasesweep", password=password, dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("CREATE DATABASE mlflow")
        conn.close()
        yield f"postgresql+psycopg2://phasesweep:{password}@127.0.0.1:{port}/mlflow"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], **run | {"check": False})
        shutil.rmtree(base, ignore_errors=True)


def test_sweep_logs_to_postgres_backed_mlflow_with_basic_auth(ray_cluster, postgres, tmp_path, monkeypatch):
    """The shape of deploy/mlflow/compose.yaml: PostgreSQL, --serve-artifacts, its basic_auth.ini
    with the admin password from the environment, and --allowed-hosts."""
    pytest.importorskip("flask_wtf", reason="MLflow basic auth needs mlflow[auth] (Flask-WTF)")
    auth = configparser.ConfigParser()
    auth.read(REPO / "deploy" / "mlflow" / "basic_auth.ini")
    auth["mlflow"]["database_uri"] = f"sqlite:///{tmp_path / 'basic_auth.db'}"
    with open(tmp_path / "basic_auth.ini", "w") as f:
        auth.write(f)
    admin_password = secrets.token_urlsafe(16)
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(tmp_path / "basic_auth.ini"),
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
    }
    port = free_port()
    allowed = f"127.0.0.1:{port},localhost:{port}"
    args = ("--app-name", "basic-auth", "--allowed-hosts", allowed)
    with mlflow_server(tmp_path, postgres, *args, port=port, env=env) as uri:
        api = f"{uri}/api/2.0/mlflow"
        search = f"{api}/experiments/search?max_results=10"
        assert http(search) == 401, "anonymous requests must be refused"
        assert http(search, headers=basic("admin", "password1234")) == 401, "MLflow's old default password"
        admin = basic("admin", admin_password)
        assert http(search, headers=admin) == 200
        assert http(search, headers=admin | {"Host": f"rebound.example:{port}"}) == 403, "a DNS-rebound Host header"
        user = json.dumps({"username": SWEEP_USER, "password": ray_cluster.mlflow_password}).encode()
        assert http(f"{api}/users/create", headers=admin | JSON, method="POST", data=user) == 200

        # The sweep logs as that user, from credentials in the nodes' environment; the job
        # submission names only the server (tracking=server reads MLFLOW_TRACKING_URI).
        rc, output, submission_id = submit(
            ray_cluster, tmp_path, "tracking=server", env_vars={"MLFLOW_TRACKING_URI": uri}
        )
        assert rc == 0, output[-6000:]
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", SWEEP_USER)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ray_cluster.mlflow_password)
        check_sweep(uri, ray_cluster, submission_id, tmp_path)


JSON = {"Content-Type": "application/json"}


def basic(user: str, password: str) -> dict[str, str]:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
