"""The deployment files under deploy/: they parse, pass every schema that can be checked offline,
agree with each other, and keep the cluster closed: Ray token auth everywhere, no dashboard on
0.0.0.0, no public Service, no committed secret.

Schemas: Ray's own cluster-config validation (what `ray up` runs), the compose-spec schema vendored
by check-jsonschema, and the Kubernetes schemas bundled by kubernetes-validate for the pod
templates and the NetworkPolicy. The KubeRay CRDs are not bundled anywhere offline, so RayCluster
and RayJob are checked field by field against the KubeRay v1 API (v1.5.1+, where authOptions and
SidecarMode exist).
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
from importlib import resources
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
YAML_FILES = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
RAY_CONFIGS = sorted((DEPLOY / "ray").glob("*.yaml"))
KUBERAY = sorted((DEPLOY / "kuberay").glob("*.yaml"))
COMPOSE = DEPLOY / "mlflow" / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "mlflow" / ".env.example"
DOCKERFILE = DEPLOY / "Dockerfile"
README = DEPLOY / "README.md"
TEXT_FILES = sorted(p for p in DEPLOY.rglob("*") if p.is_file())

IMAGE_RE = re.compile(r"[\w.\-]+(?:/[\w.\-]+)*/phasesweep:[\w.\-]+")
PORTS = {"gcs-server": 6379, "dashboard": 8265, "client": 10001}
MIN_TOKEN_AUTH_RAY = (2, 52)  # Ray token authentication, and the CVE-2025-62593 fix

# KubeRay ray.io/v1 fields (RayClusterSpec, HeadGroupSpec, WorkerGroupSpec, RayJobSpec, AuthOptions).
RAYCLUSTER_SPEC = {"headGroupSpec", "workerGroupSpecs", "rayVersion", "enableInTreeAutoscaling", "autoscalerOptions",
                   "headServiceAnnotations", "suspend", "managedBy", "gcsFaultToleranceOptions", "authOptions",
                   "upgradeStrategy"}  # fmt: skip
HEAD_GROUP = {"serviceType", "headService", "enableIngress", "rayStartParams", "template", "resources", "labels"}
WORKER_GROUP = {"groupName", "replicas", "minReplicas", "maxReplicas", "idleTimeoutSeconds", "numOfHosts",
                "rayStartParams", "template", "scaleStrategy", "suspend", "resources", "labels"}  # fmt: skip
RAYJOB_SPEC = {"activeDeadlineSeconds", "backoffLimit", "rayClusterSpec", "submitterPodTemplate", "metadata",
               "clusterSelector", "submitterConfig", "managedBy", "deletionStrategy", "entrypoint", "runtimeEnvYAML",
               "jobId", "submissionMode", "entrypointResources", "entrypointNumCpus", "entrypointNumGpus",
               "ttlSecondsAfterFinished", "shutdownAfterJobFinishes", "suspend"}  # fmt: skip
SUBMISSION_MODES = {"K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"}
AUTH_OPTIONS = {"mode", "secretName", "enableK8sTokenAuth"}


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def k8s_objects() -> dict[str, dict]:
    return {d["kind"]: d for p in KUBERAY for d in docs(p)}


def cluster_specs() -> list[tuple[str, dict]]:
    objs = k8s_objects()
    return [("RayCluster", objs["RayCluster"]["spec"]), ("RayJob", objs["RayJob"]["spec"]["rayClusterSpec"])]


def env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if re.match(r"^\w+=", line))
    return {k: v for k, v in pairs}


_VAR = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}."""

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.groups()
        value = env.get(name)
        if op in (":-", "-") and (value is None or (op == ":-" and not value)):
            return arg
        if op in (":?", "?") and (value is None or (op == ":?" and not value)):
            raise KeyError(f"{name}: {arg}")
        return value or ""

    return _VAR.sub(sub, text)


def strings(node):
    """Every string value of a parsed YAML document."""
    if isinstance(node, dict):
        yield from (s for v in node.values() for s in strings(v))
    elif isinstance(node, list):
        yield from (s for v in node for s in strings(v))
    elif isinstance(node, str):
        yield node


def substituted(node, env: dict[str, str]):
    if isinstance(node, dict):
        return {k: substituted(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [substituted(v, env) for v in node]
    return interpolate(node, env) if isinstance(node, str) else node


def compose(env: dict[str, str] | None = None) -> dict:
    """The compose file as compose sees it, with .env.example's values and dummy secrets."""
    values = {k: v or "dummy-not-a-secret" for k, v in env_example().items()} if env is None else env
    return substituted(yaml.safe_load(COMPOSE.read_text()), values)


def compose_variables() -> list[tuple[str, str | None]]:
    return [(m.group(1), m.group(2)) for s in strings(yaml.safe_load(COMPOSE.read_text())) for m in _VAR.finditer(s)
            if m.group(1)]  # fmt: skip


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comment lines dropped first, then continuations joined, as Docker does."""
    lines = [ln for ln in DOCKERFILE.read_text().splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1].strip()) for ln in joined.splitlines() if ln.strip()]


def start_commands(config: dict) -> list[str]:
    return [
        " ".join(c.split()) for key in ("head_start_ray_commands", "worker_start_ray_commands") for c in config[key]
    ]


# ------------------------------------------------------------------------------- parsing
@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_parses(path):
    parsed = docs(path)
    assert parsed, f"{path} is empty"
    assert all(isinstance(d, dict) for d in parsed)


def test_the_deploy_files_exist():
    for rel in ("Dockerfile", "README.md", "ray/cluster.yaml", "kuberay/raycluster.yaml", "kuberay/rayjob.yaml",
                "mlflow/compose.yaml", "mlflow/.env.example", "mlflow/basic_auth.ini"):  # fmt: skip
        assert (DEPLOY / rel).is_file(), rel
    assert set(k8s_objects()) >= {"RayCluster", "RayJob", "NetworkPolicy"}


# ------------------------------------------------------------------------------- schemas
@pytest.mark.parametrize("path", RAY_CONFIGS, ids=lambda p: p.name)
def test_ray_cluster_config_passes_ray_validation(path):
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load(path.read_text())
    validate_config(prepare_config(config))  # what `ray up` runs before touching any machine
    if config["provider"]["type"] != "local":
        types = config["available_node_types"]
        assert config["head_node_type"] in types
        assert types[config["head_node_type"]]["resources"].get("CPU") == 0, "the head runs no trials"
        assert any(name != config["head_node_type"] and t.get("min_workers", 0) >= 1 for name, t in types.items())


def test_compose_passes_compose_spec_schema():
    jsonschema = pytest.importorskip("jsonschema")
    pytest.importorskip("check_jsonschema")
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads(vendor.joinpath("compose-spec.json").read_text())
    jsonschema.validate(compose(), schema)
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):  # a missing secret stops compose, not a default
        compose({})


def test_compose_reads_every_variable_from_env_example():
    used = {name for name, _ in compose_variables()}
    assert used <= set(env_example()), f"not in .env.example: {sorted(used - set(env_example()))}"
    required = {name for name, op in compose_variables() if op == ":?"}
    assert {"POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "MLFLOW_ADMIN_PASSWORD"} <= required


def test_kuberay_manifests_match_the_crds():
    objs = k8s_objects()
    for kind in ("RayCluster", "RayJob"):
        assert objs[kind]["apiVersion"] == "ray.io/v1"
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", objs[kind]["metadata"]["name"])
    job = objs["RayJob"]["spec"]
    assert set(job) <= RAYJOB_SPEC, set(job) - RAYJOB_SPEC
    assert job["submissionMode"] in SUBMISSION_MODES
    assert shlex.split(job["entrypoint"])[:2] == ["phasesweep", "-m"]
    for kind, spec in cluster_specs():
        assert set(spec) <= RAYCLUSTER_SPEC, (kind, set(spec) - RAYCLUSTER_SPEC)
        assert set(spec["authOptions"]) <= AUTH_OPTIONS
        head = spec["headGroupSpec"]
        assert set(head) <= HEAD_GROUP, (kind, set(head) - HEAD_GROUP)
        groups = spec["workerGroupSpecs"]
        assert len({g["groupName"] for g in groups}) == len(groups)
        for group in [head, *groups]:
            assert all(isinstance(v, str) for v in group["rayStartParams"].values()), "rayStartParams: strings only"
            assert group["template"]["spec"]["containers"], "the Ray container comes first"
        for g in groups:
            assert set(g) <= WORKER_GROUP, (kind, set(g) - WORKER_GROUP)
            assert g["minReplicas"] <= g["replicas"] <= g["maxReplicas"]
            ray = g["template"]["spec"]["containers"][0]
            gpus = ray["resources"]["limits"].get("nvidia.com/gpu")
            assert gpus and int(gpus) >= 1, f"{kind} worker group {g['groupName']}: no nvidia.com/gpu limit"
            assert ray["resources"]["requests"].get("nvidia.com/gpu", gpus) == gpus, "GPU requests must equal limits"


def test_kubernetes_parts_pass_kubernetes_schemas():
    kv = pytest.importorskip("kubernetes_validate")
    objs = k8s_objects()
    kv.validate(objs["NetworkPolicy"], "1.33.0", strict=True)
    for kind, spec in cluster_specs():
        for i, group in enumerate([spec["headGroupSpec"], *spec["workerGroupSpecs"]]):
            wrapper = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": f"{kind.lower()}-{i}"}}
            kv.validate(wrapper | {"template": group["template"]}, "1.33.0", strict=True)


def test_network_policy_selects_the_ray_pods():
    policy = k8s_objects()["NetworkPolicy"]["spec"]
    selector = policy["podSelector"]["matchLabels"]
    for _, spec in cluster_specs():
        for group in [spec["headGroupSpec"], *spec["workerGroupSpecs"]]:
            labels = group["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items(), "a Ray pod outside the network policy"
    assert "Ingress" in policy["policyTypes"]
    dashboard_only = [r for r in policy["ingress"] if "ports" in r]
    assert all({p["port"] for p in r["ports"]} == {PORTS["dashboard"]} for r in dashboard_only)


# --------------------------------------------------------------------------- consistency
def test_one_image_name_everywhere():
    images = {p.relative_to(DEPLOY): set(IMAGE_RE.findall(p.read_text())) for p in TEXT_FILES}
    found = set().union(*images.values())
    assert len(found) == 1, f"image names disagree: {images}"
    image = found.pop()
    for rel in ("Dockerfile", "README.md", "ray/cluster.yaml", "mlflow/compose.yaml"):
        assert images[Path(rel)] == {image}, rel
    for _, spec in cluster_specs():
        for group in [spec["headGroupSpec"], *spec["workerGroupSpecs"]]:
            assert group["template"]["spec"]["containers"][0]["image"] == image
    assert compose()["services"]["sweep"]["image"] == image
    assert f"docker build -f deploy/Dockerfile -t {image} ." in README.read_text()


def test_versions_agree():
    args = dict(a.split("=", 1) for i, a in dockerfile() if i == "ARG" and "=" in a)
    ray, torch = args["RAY_VERSION"], args["TORCH_VERSION"]
    assert tuple(int(x) for x in ray.split(".")[:2]) >= MIN_TOKEN_AUTH_RAY
    for _, spec in cluster_specs():
        assert spec["rayVersion"] == ray
    for path in [*RAY_CONFIGS, README]:
        text = path.read_text()
        assert f"ray[default]=={ray}" in text and f"torch=={torch}" in text, path.name
    pyproject = (REPO / "pyproject.toml").read_text()
    lo, hi = re.search(r'"torch>=([\d.]+),<([\d.]+)"', pyproject).groups()
    as_tuple = lambda v: tuple(int(x) for x in v.split("."))  # noqa: E731
    assert as_tuple(lo) <= as_tuple(torch) < as_tuple(hi), "the image's torch is outside the project's range"


def test_ports_agree():
    exposed = {int(p) for i, a in dockerfile() if i == "EXPOSE" for p in a.split()}
    assert exposed == set(PORTS.values())
    for _, spec in cluster_specs():
        head = spec["headGroupSpec"]
        ports = {p["name"]: p["containerPort"] for p in head["template"]["spec"]["containers"][0]["ports"]}
        assert ports == PORTS
        assert head["rayStartParams"].get("dashboard-port", "8265") == str(PORTS["dashboard"])
    for path in RAY_CONFIGS:
        head = next(c for c in start_commands(yaml.safe_load(path.read_text())) if "--head" in c)
        assert f"--port={PORTS['gcs-server']}" in head and f"--dashboard-port={PORTS['dashboard']}" in head
        assert f"--ray-client-server-port={PORTS['client']}" in head
    readme = README.read_text()
    assert "svc/phasesweep-head-svc 8265:8265" in readme and "8265:127.0.0.1:8265" in readme
    mlflow = compose()["services"]["mlflow"]
    assert "--port=5000" in mlflow["command"] and mlflow["ports"] == ["127.0.0.1:5000:5000"]
    assert "5000:127.0.0.1:5000" in readme and "http://127.0.0.1:5000" in readme


def test_dockerfile_builds_the_worker_image():
    steps = dockerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")
    runs = [a for i, a in steps if i == "RUN"]
    torch_step = next(n for n, a in enumerate(runs) if "torch==" in a)
    project_step = next(n for n, a in enumerate(runs) if re.search(r"pip install .* \.(\s|$)", a))
    assert torch_step < project_step, "install torch before the project"
    assert ("ENTRYPOINT", '["phasesweep"]') in steps
    assert [a for i, a in steps if i == "USER"] == ["ray"], "the image runs as a non-root user"
    copied = {a.split()[0] for i, a in steps if i == "COPY"}
    packages = re.search(r"include = \[([^\]]*)\]", (REPO / "pyproject.toml").read_text()).group(1)
    for pattern in re.findall(r'"(\w+)\*"', packages):
        assert pattern in copied, f"the image misses the package {pattern}"


# ------------------------------------------------------------------------------ security
def test_token_auth_is_on_in_every_deploy_file():
    for path in RAY_CONFIGS:
        config = yaml.safe_load(path.read_text())
        assert all("RAY_AUTH_MODE=token" in c for c in start_commands(config) if "ray start" in c), path.name
        assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token", path.name
    for _, spec in cluster_specs():
        assert spec["authOptions"]["mode"] == "token"
    assert any(i == "ENV" and "RAY_AUTH_MODE=token" in a.split() for i, a in dockerfile())
    assert compose()["services"]["sweep"]["environment"]["RAY_AUTH_MODE"] == "token"
    assert "RAY_AUTH_MODE=token" in README.read_text()
    mlflow = compose()["services"]["mlflow"]["command"]
    assert "--app-name=basic-auth" in mlflow and any(a.startswith("--allowed-hosts=") for a in mlflow)


def test_no_dashboard_or_service_is_public():
    for path in TEXT_FILES:
        for host in re.findall(r"dashboard[-_]host\W{1,4}([\w.:]+)", path.read_text()):
            assert host in ("127.0.0.1", "localhost"), f"{path.name}: dashboard-host {host}"
    for path in RAY_CONFIGS:
        head = next(c for c in start_commands(yaml.safe_load(path.read_text())) if "--head" in c)
        assert "--dashboard-host=127.0.0.1" in head, path.name
    for kind, spec in cluster_specs():
        head = spec["headGroupSpec"]
        assert head.get("serviceType", "ClusterIP") == "ClusterIP", kind
        assert head.get("headService", {}).get("spec", {}).get("type", "ClusterIP") == "ClusterIP", kind
        assert head.get("enableIngress", False) is False, kind
    objs = [d for p in KUBERAY for d in docs(p)]
    assert not [d for d in objs if d["kind"] == "Ingress"]
    assert not [d for d in objs if d["kind"] == "Service" and d["spec"].get("type") in ("LoadBalancer", "NodePort")]
    required_only = {name: "dummy" for name, op in compose_variables() if op == ":?"}  # compose's own defaults
    for defaults_only in (compose(), compose(required_only)):
        for name, service in defaults_only["services"].items():
            for port in service.get("ports", []):
                assert str(port).startswith("127.0.0.1:"), f"compose {name} publishes {port} beyond loopback"


SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b(\w*(?:password|passwd|secret|token|access_key)\w*)[ \t]*[:=][ \t]*['\"]?([^\s'\"#,}]+)"
)
REFERENCE_KEY = re.compile(r"(?i)(ref|name|path|_file|mode)$")  # secretKeyRef, secretName, RAY_AUTH_TOKEN_PATH
REFERENCE_VALUE = re.compile(r"^([$<~/.?-]|phasesweep-mlflow$)")
HIGH_ENTROPY = re.compile(r"\b[0-9a-fA-F]{32,}\b|\b[A-Za-z0-9+/]{40,}={0,2}")


def committed_secrets(text: str) -> list[str]:
    """Literal secret values: a secret-named key assigned a password-like value on the same line,
    key material, or long random-looking strings. References ($VAR, ${VAR}, <placeholder>,
    paths, Secret names) and prose pass."""
    found = [
        m.group(0)
        for m in SECRET_ASSIGNMENT.finditer(text)
        if not REFERENCE_KEY.search(m.group(1))
        and not REFERENCE_VALUE.match(m.group(2))
        and len(m.group(2)) >= 8
        and (re.search(r"\d", m.group(2)) or len(m.group(2)) >= 16)
    ]
    found += HIGH_ENTROPY.findall(text)
    found += re.findall(r"AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----", text)
    return found


def test_the_secret_scanner_catches_secrets():
    assert committed_secrets("POSTGRES_PASSWORD=hunter2hunter2")
    assert committed_secrets("  admin_password = password1234")
    assert committed_secrets(f"RAY_AUTH_TOKEN: {'ab12' * 16}")
    assert committed_secrets("aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert not committed_secrets("MLFLOW_TRACKING_PASSWORD: ${MLFLOW_TRACKING_PASSWORD:-}\nPOSTGRES_PASSWORD=\n")
    assert not committed_secrets('-u "admin:$MLFLOW_ADMIN_PASSWORD" RAY_AUTH_TOKEN_PATH=~/.ray/phasesweep-k8s.token')


@pytest.mark.parametrize("path", TEXT_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_no_secret_is_committed(path):
    assert committed_secrets(path.read_text()) == []
    assert not [d for d in (docs(path) if path.suffix == ".yaml" else []) if d.get("kind") == "Secret"]


def test_secrets_only_from_the_environment():
    secret_keys = [k for k in env_example() if re.search(r"PASSWORD|SECRET", k)]
    assert secret_keys and all(env_example()[k] == "" for k in secret_keys), ".env.example holds values"
    for name, service in yaml.safe_load(COMPOSE.read_text())["services"].items():
        for key, value in (service.get("environment") or {}).items():
            credentials = str(value).split("@")[0] if "@" in str(value) else str(value)
            if re.search(r"PASSWORD|SECRET|ACCESS_KEY", key) or "@" in str(value):
                assert "${" in credentials, f"compose {name}.{key}: a literal credential"
    auth = configparser.ConfigParser()
    auth.read(DEPLOY / "mlflow" / "basic_auth.ini")
    assert "admin_password" not in auth["mlflow"], "the admin password comes from MLFLOW_AUTH_ADMIN_PASSWORD"
    env_names = {e.get("name") for _, s in cluster_specs() for g in [s["headGroupSpec"], *s["workerGroupSpecs"]]
                 for e in g["template"]["spec"]["containers"][0].get("env", [])}  # fmt: skip
    assert not env_names & {"RAY_AUTH_TOKEN", "MLFLOW_TRACKING_PASSWORD"}, "secrets come from Secrets, not env values"
    ignored = (DEPLOY / "mlflow" / ".gitignore").read_text().split()
    assert ".env" in ignored
