"""The MLflow UI on a real sweep, in a real browser: a 4-trial sweep through the CLI, a real
`mlflow server` over its sqlite store, and Debian's Chromium driven headless by Playwright.

What a user browsing the results sees (README, "Browse the results"):

a. the experiment's runs table lists the parent run with an expander and its 4 child runs under it;
b. the parent's Overview shows the sweep's description, with its "Transition estimates" section;
c. a child's artifacts view renders `plots/training_curves.png`;
d. the link the sweep prints opens the experiment in model-training mode (runs, models), not GenAI mode
   (judges, sessions, ...);

plus a screenshot of the parent's `plots/summary.png`. Every check runs and leaves a screenshot in
a `phasesweep-ui-*` temp folder (listed in its `ui-screenshots.txt`) whether it passes or not; the
test fails at the end with every failed check. (Screenshots are full-page, but the UI scrolls inside
its own panes, so they show the 1600x1000 viewport.) The browser may reach 127.0.0.1
only: any other host is aborted by a route on the browser context and, behind it, Chromium's proxy
is a closed local port.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import cli

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
TEMPERATURES = ("1.8", "2.1", "2.4", "2.7")
SWEEP = [
    "-m",
    "experiment=ising_mc",
    f"data.temperature={','.join(TEMPERATURES)}",
    "data.L=8",
    "train.steps=30",
    "train.chains=8",
    "data.burn_in=20",
]
NO_PHONING_HOME = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "RAY_USAGE_STATS_ENABLED": "0"}
# The experiment sidebar of MLflow 3.x: model-training mode lists Runs, Models (and Traces, in both
# modes); GenAI mode lists Overview, Traces, Sessions, Judges, Review, Datasets, Evaluation runs,
# Playground, Prompts, Agent versions.
TRAINING_ITEMS = ("Runs", "Models")
GENAI_ITEMS = ("Sessions", "Judges", "Review", "Evaluation runs", "Prompts", "Agent versions")
# The UI's assistant panel opens itself on a first visit and covers a third of the page.
QUIET_ASSISTANT = """
try {
  localStorage.setItem("mlflow.assistant.fab.autoOpenedOnFirstLoad_v1", "true");
  localStorage.setItem("mlflow.assistant.panelOpen_v1", "false");
} catch (e) {}
"""
TIMEOUT_MS = 60_000  # a cold UI under a loaded CI machine takes several seconds a page


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def png_width(path: Path) -> int:
    """The width in a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">I", head[16:20])[0]


@contextlib.contextmanager
def mlflow_server(workdir: Path, backend_uri: str, artifact_uris: list[str]):
    """`mlflow server` on 127.0.0.1:<free port> over the sweep's store, serving its runs' artifacts.

    Runs whose artifact_uri is a local path are served by the server's `get-artifact` endpoint from
    that path (`--no-serve-artifacts`); `mlflow-artifacts:` URIs need the artifact proxy and its
    destination, which for a local store is ./mlartifacts.
    """
    port = free_port()
    log = workdir / "mlflow-server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env |= {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **NO_PHONING_HOME}
    if any(uri.startswith("mlflow-artifacts:") for uri in artifact_uris):
        artifacts = ["--serve-artifacts", "--artifacts-destination", str(workdir / "mlartifacts")]
    else:
        artifacts = ["--no-serve-artifacts", "--default-artifact-root", str(workdir / "mlruns")]
    cmd = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--backend-store-uri", backend_uri, *artifacts]  # fmt: skip
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError):
                if http_status(f"{base}/health") == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not come up (rc={proc.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(20)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # its uvicorn worker, if SIGTERM left it behind
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)


class Checks:
    """Each check on a page of its own (a cold load of the single-page app, as a user's new tab; a
    hash-only navigation can leave the previous run's state on screen), run to the end and
    screenshotted full-page whether it passes or not."""

    def __init__(self, context, folder: Path):
        self.context = context
        self.folder = folder
        self.shots: list[Path] = []
        self.results: dict[str, str] = {}

    @contextlib.contextmanager
    def page(self, name: str, *, check: bool = True):
        page = self.context.new_page()
        try:
            yield page
        except Exception as err:
            if not check:
                raise
            detail = "".join(traceback.format_exception_only(type(err), err)).strip()
            self.results[name] = f"FAILED: {detail} (page: {page.url})"
        else:
            if check:
                self.results[name] = "passed"
        finally:
            path = self.folder / f"{name}.png"
            try:
                page.screenshot(path=str(path), full_page=True)
                self.shots.append(path)
            except Exception as err:  # a failed screenshot must not hide the check's own result
                print(f"screenshot {name} failed: {err}")
            page.close()

    @property
    def failures(self) -> list[str]:
        return [f"{name}: {result}" for name, result in self.results.items() if result != "passed"]


def test_mlflow_ui_shows_the_sweep(workdir: Path, record_property):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is absent: pip install -e '.[test]'")
    expect = sync_api.expect

    started = time.monotonic()
    out = cli(*SWEEP, cwd=workdir, env=NO_PHONING_HOME)
    assert out.returncode == 0, out.stdout + out.stderr
    print(f"sweep: {time.monotonic() - started:.0f}s")

    backend = f"sqlite:///{workdir / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=backend)
    experiment = client.get_experiment_by_name("ising_mc")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1, [r.info.run_name for r in parents]
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == len(TEMPERATURES)
    parent_name = parent.data.tags["phasesweep.sweep_name"]
    assert parent.info.run_name == parent_name
    child_names = sorted(child.info.run_name for child in children)
    child = min(children, key=lambda r: r.info.run_name)
    assert experiment.tags.get("mlflow.experimentKind") == "custom_model_development"
    note = parent.data.tags.get("mlflow.note.content")
    curves = Path(client.download_artifacts(child.info.run_id, "plots/training_curves.png", str(workdir)))
    parent_files = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}

    folder = Path(tempfile.mkdtemp(prefix="phasesweep-ui-"))
    exp = f"#/experiments/{experiment.experiment_id}"
    blocked: list[str] = []

    def local_only(route):
        if urlparse(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with (
        mlflow_server(workdir, backend, [r.info.artifact_uri for r in runs]) as base,
        sync_api.sync_playwright() as p,
    ):
        # Behind the route below: a proxy nobody listens on for anything that is not loopback
        # (Chromium never proxies loopback), so not even a worker's request can leave the machine.
        fence = [f"--proxy-server=http://127.0.0.1:{free_port()}", "--proxy-bypass-list=127.0.0.1;localhost"]
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *fence])
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            context.set_default_timeout(TIMEOUT_MS)
            context.route("**/*", local_only)
            context.add_init_script(QUIET_ASSISTANT)
            checks = Checks(context, folder)

            # d. The link the sweep prints opens the experiment in model-training mode, on its runs.
            # (The bare experiment page opens in GenAI mode: MLflow 3.17's UI takes its mode from the
            # URL's ?workflowType= or the browser's saved toggle, whatever mlflow.experimentKind says.)
            printed = re.search(r"open http://127\.0\.0\.1:5000/(\S+)", " ".join(out.stdout.split()))
            assert printed, f"the sweep prints no link into the UI: {out.stdout[-600:]}"
            with checks.page("d_sidebar_mode") as page:
                page.goto(f"{base}/{printed[1]}")
                # By CSS, not role: GenAI mode's "Detect Issues" tour popover hides the rest of the
                # page from the accessibility tree.
                sidebar = page.locator("aside nav")
                expect(sidebar).to_contain_text(experiment.name)
                page.wait_for_timeout(1000)  # let a late mode switch land before judging the sidebar
                got_it = page.get_by_role("button", name="Got it")  # that tour's popover, for the screenshot
                if got_it.count():
                    got_it.first.click()
                shown = sidebar.inner_text().split("\n")
                genai = [item for item in GENAI_ITEMS if item in shown]
                missing = [item for item in TRAINING_ITEMS if item not in shown]
                assert not genai and not missing, (
                    f"the printed link {printed[1]} opened at {page.url} with sidebar {shown}: "
                    f"GenAI items {genai} present, model-training items {missing} missing"
                )

            # a. The runs table: the parent with an expander; expanded, its 4 children under it.
            with checks.page("a_runs_table") as page:
                page.goto(f"{base}/{exp}/runs?workflowType=machine_learning")
                parent_link = page.get_by_role("link", name=parent_name, exact=True)
                expect(parent_link).to_be_visible()
                for name in child_names:
                    expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
                # The expander is an icon-only button (no accessible name) in the parent's Run Name cell.
                expander = page.get_by_role("gridcell").filter(has=parent_link).get_by_role("button")
                expect(expander).to_have_count(1)
                expander.click()
                top = parent_link.bounding_box()["y"]
                for name in child_names:
                    link = page.get_by_role("link", name=name, exact=True)
                    expect(link).to_be_visible()
                    assert link.bounding_box()["y"] > top, f"child {name!r} is not under the parent row"
                expect(page.get_by_text(f"{1 + len(children)} matching runs")).to_be_visible()

            # b. The parent's Overview: its description (the run's note), "Transition estimates" section.
            with checks.page("b_parent_description") as page:
                assert note and "Transition estimates" in note, f"the parent's mlflow.note.content is {note!r}"
                page.goto(f"{base}/{exp}/runs/{parent.info.run_id}?workflowType=machine_learning")
                expect(page.get_by_role("heading", name=parent_name)).to_be_visible()
                heading = page.get_by_role("heading", name="Transition estimates")
                expect(heading).to_be_attached()
                # A long description shows its first lines only, behind "Show more" (accessible name
                # "Expand description"). The clipped rest is in the DOM and "visible" to Playwright
                # all the same; being in the viewport (clipping counted) tells that it shows.
                expand = page.get_by_role("button", name="Expand description")
                if expand.count():
                    expand.click()
                expect(heading).to_be_in_viewport()

            # c. A child's artifacts view renders its training curves.
            with checks.page("c_child_training_curves") as page:
                page.goto(
                    f"{base}/{exp}/runs/{child.info.run_id}/artifacts/plots/training_curves.png"
                    "?workflowType=machine_learning"
                )
                image = page.get_by_role("img", name="plots/training_curves.png", exact=True)
                expect(image).to_be_visible()
                image.evaluate("img => img.decode()")  # rejects unless the image loads and decodes
                width = image.evaluate("img => img.naturalWidth")
                assert width == png_width(curves), f"naturalWidth {width}, the PNG is {png_width(curves)} wide"

            # The parent's summary figure: a screenshot only, not a check.
            with checks.page("e_parent_summary", check=False) as page:
                page.goto(
                    f"{base}/{exp}/runs/{parent.info.run_id}/artifacts/plots/summary.png?workflowType=machine_learning"
                )
                with contextlib.suppress(sync_api.Error):
                    if "plots/summary.png" in parent_files:
                        summary = page.get_by_role("img", name="plots/summary.png", exact=True)
                        summary.evaluate("img => img.decode()", timeout=20_000)
                    else:
                        expect(page.get_by_text("Path:")).to_be_visible(timeout=20_000)
        finally:
            browser.close()

    listing = folder / "ui-screenshots.txt"
    listing.write_text("".join(f"{shot}\n" for shot in checks.shots))
    record_property("ui_screenshots", ", ".join(map(str, checks.shots)))
    print(f"UI screenshots ({listing}):")
    for shot in checks.shots:
        print(f"  {shot}")
    for name, result in checks.results.items():
        print(f"{name}: {result}")
    if blocked:
        print("requests to other hosts, aborted:", *blocked, sep="\n  ")
    print(f"total: {time.monotonic() - started:.0f}s")
    assert not checks.failures, "\n".join(checks.failures)
