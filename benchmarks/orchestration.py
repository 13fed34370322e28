"""Orchestration overhead: the same sleeping trials through `phasesweep -m` and through bare Ray tasks.

A trial here does nothing but sleep (`benchmarks/sleep_family.py`, 0.05 s a step), so whatever a run
takes beyond the sleeping is orchestration: imports, composing and checking the sweep, starting Ray,
the MLflow run tree, the workers' imports, logging, artifacts, the sweep analysis and the shutdown.
The reference is the least a Ray program can do for the same work: `ray.init` with the same options
phasesweep passes (`address="local"`, the same `num_cpus`, `include_dashboard=False`, 127.0.0.1 with
Ray's single-machine mode so that it listens there only, quiet logging), one task per trial that sleeps
the same steps and returns its own clock, `ray.shutdown()`.
Both run as a fresh process timed from launch to exit, so imports and interpreter shutdown count for
both; each phasesweep run has its own fresh temporary working directory, so its sqlite store
(`mlflow.db`) is new, as a new user's. The two sides alternate within one run (bare Ray first, then
phasesweep, per repeat), and the table compares them side by side: absolute times on a shared
machine are noise, their ratio is the measurement.

Two scenarios:

(a) one trial of 0.5 s: `phasesweep -m … seed=0` against one bare task;
(b) `--trials` trials (32) of `--seconds` (2 s) on `--slots` (2) slots: `resources.cpus=1`,
    `cluster.num_cpus=2`, so two trials run at a time.

When each trial's work ran is read, for phasesweep, from the MLflow store the run wrote (the family
logs `bench/sleep_start`, `bench/sleep_end`, `bench/pid` from its own clock; the driver's run
start/end times give the breakdown), and for bare Ray from what each task returns. With `launch` and
`exit` the subprocess's wall-clock start and end, `first`/`last` the earliest sleep start and the
latest sleep end, W = ceil(trials / slots) the trials each slot runs in turn, and `work` = trials ×
seconds (nominal sleep):

    start-up          = first − launch                   (launch → first trial starts its work)
    wall              = exit − launch
    tail              = exit − last                       (after the last trial's work: its own
                                                           end, summary, analysis, shutdown)
    overhead / trial  = (last − first − W × seconds) / W  (the time each trial adds to its slot's
                                                           chain beyond its sleep: between and
                                                           inside trials, start-up and tail excluded)
    slot use          = work / (slots × (wall − start-up))   (tail included)

The acceptance targets are printed next to the measured values, PASS/FAIL, never asserted:
(a) phasesweep's wall ≤ 1.2 × bare Ray's; (b) phasesweep's overhead per trial ≤ 0.1 s and its
slot use ≥ 85%. Medians over `--repeats` when it is more than 1.

    python benchmarks/orchestration.py                            # (a) + 32 × 2 s on 2 slots, ≈ 3.5 min
    python benchmarks/orchestration.py --trials 4 --seconds 0.5   # quick look, ≈ 1.5 min
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from sleep_family import SLEEP_PER_STEP_S  # noqa: E402

TARGET_WALL_RATIO = 1.2
TARGET_OVERHEAD_S = 0.1
TARGET_SLOT_USE = 0.85

BARE_RAY = """
import json, logging, os, sys, time
t_start = time.time()
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # as phasesweep's embedded Ray: on 127.0.0.1 only
import ray
t_import = time.time()
trials, steps, per_step, slots = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
ray.init(address="local", num_cpus=slots, num_gpus=None, include_dashboard=False, dashboard_host="127.0.0.1",
         _node_ip_address="127.0.0.1", logging_level=logging.WARNING, log_to_driver=False)
t_init = time.time()

@ray.remote
def sleep_trial(steps, per_step):
    start = time.time()
    for _ in range(steps):
        time.sleep(per_step)
    return start, time.time(), os.getpid()

times = ray.get([sleep_trial.options(num_cpus=1).remote(steps, per_step) for _ in range(trials)])
t_done = time.time()
ray.shutdown()
print(json.dumps({"times": times, "python": t_start, "import": t_import, "init": t_init, "done": t_done,
                  "shutdown": time.time()}))
"""


@dataclass
class Run:
    """One measured process: its launch and exit, and each trial's work (start, end, worker pid)."""

    launch: float
    exit: float
    trials: list[tuple[float, float, int]]
    events: dict[str, float] = field(default_factory=dict)
    """Named instants of the process's own (Unix time), for the breakdown."""
    post: list[float] = field(default_factory=list)
    """Per trial: its work's end → its run's end in MLflow (the trial's own closing work)."""

    def metrics(self, slots: int, seconds: float) -> dict[str, float]:
        first = min(t[0] for t in self.trials)
        last = max(t[1] for t in self.trials)
        waves = math.ceil(len(self.trials) / slots)
        wall = self.exit - self.launch
        startup = first - self.launch
        return {
            "start-up": startup,
            "wall": wall,
            "tail": self.exit - last,
            "overhead/trial": (last - first - waves * seconds) / waves,
            "slot use": len(self.trials) * seconds / (slots * (wall - startup)),
            "gap in worker": _median_gap(self.trials),
            **({"post": statistics.median(self.post)} if self.post else {}),
            **{name: t - self.launch for name, t in self.events.items()},
        }


def _median_gap(trials: list[tuple[float, float, int]]) -> float:
    """Median time from one trial's work ending to the next one's starting in the same worker process."""
    by_pid: dict[int, list[tuple[float, float, int]]] = {}
    for t in trials:
        by_pid.setdefault(t[2], []).append(t)
    gaps = [b[0] - a[1] for ts in by_pid.values() for a, b in itertools.pairwise(sorted(ts))]
    return statistics.median(gaps) if gaps else float("nan")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH")) if p)
    return env


def _check(out: subprocess.CompletedProcess, what: str) -> None:
    if out.returncode != 0:
        sys.exit(f"{what} exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")


def bare_ray(trials: int, steps: int, slots: int) -> Run:
    args = [sys.executable, "-c", BARE_RAY, str(trials), str(steps), str(SLEEP_PER_STEP_S), str(slots)]
    with tempfile.TemporaryDirectory(prefix="bare-ray-") as cwd:
        launch = time.time()
        out = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True)
        end = time.time()
    _check(out, "bare Ray")
    got = json.loads(out.stdout.strip().splitlines()[-1])
    events = {"ray.init done": got["init"], "shutdown done": got["shutdown"]}
    return Run(launch, end, [tuple(t) for t in got["times"]], events)


def phasesweep_cmd(trials: int, steps: int, slots: int) -> list[str]:
    return [
        "-m",
        "model.family=sleep_family:SleepFamily",
        f"train.steps={steps}",
        f"train.observe_every={10**6}",
        f"cluster.num_cpus={slots}",
        "resources.cpus=1",
        "seed=0" if trials == 1 else f"seed=range({trials})",
    ]


def phasesweep(trials: int, steps: int, slots: int, keep: bool) -> Run:
    from mlflow.tracking import MlflowClient

    cwd = Path(tempfile.mkdtemp(prefix="phasesweep-bench-"))
    try:
        launch = time.time()
        out = subprocess.run(
            [sys.executable, "-m", "pipelines.main", *phasesweep_cmd(trials, steps, slots)],
            cwd=cwd,
            env=_env(),
            capture_output=True,
            text=True,
        )
        end = time.time()
        _check(out, f"phasesweep (in {cwd})")
        client = MlflowClient(tracking_uri=f"sqlite:///{cwd / 'mlflow.db'}")
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=10_000)
        children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        if len(children) != trials:
            sys.exit(f"phasesweep (in {cwd}): {len(children)} child runs, expected {trials}")
        work = [
            (r.data.metrics["bench/sleep_start"], r.data.metrics["bench/sleep_end"], int(r.data.metrics["bench/pid"]))
            for r in children
        ]
        events = {
            "parent run opened": parent.info.start_time / 1e3,
            "first run created": min(r.info.start_time for r in children) / 1e3,
            "last run ended": max(r.info.end_time for r in children) / 1e3,
            "parent run ended": parent.info.end_time / 1e3,
        }
        post = [r.info.end_time / 1e3 - r.data.metrics["bench/sleep_end"] for r in children]
        return Run(launch, end, work, events, post)
    finally:
        if keep:
            print(f"  (kept {cwd})")
        else:
            shutil.rmtree(cwd, ignore_errors=True)


def measure(trials: int, seconds: float, slots: int, repeats: int, keep: bool):
    steps = max(1, round(seconds / SLEEP_PER_STEP_S))
    bare, ps = [], []
    for _ in range(repeats):
        bare.append(bare_ray(trials, steps, slots).metrics(slots, steps * SLEEP_PER_STEP_S))
        ps.append(phasesweep(trials, steps, slots, keep).metrics(slots, steps * SLEEP_PER_STEP_S))
    return _median(bare), _median(ps)


def _median(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def table(bare: dict[str, float], ps: dict[str, float], keys: list[str]) -> None:
    print(f"  {'':<22} {'bare Ray':>10} {'phasesweep':>11} {'ratio':>8}")
    for key in keys:
        b, p = bare.get(key), ps.get(key)
        if key == "slot use":
            print(f"  {key:<22} {b:>9.1%} {p:>10.1%} {p / b:>8.2f}")
            continue
        fb = f"{b:9.3f}s" if b is not None else f"{'-':>10}"
        ratio = f"{p / b:8.2f}" if b and b > 0 and not math.isnan(b) else f"{'-':>8}"
        print(f"  {key:<22} {fb} {p:10.3f}s {ratio}")


def breakdown(run: dict[str, float], names: list[str]) -> str:
    return ", ".join(f"{n} +{run[n]:.2f}s" for n in names if n in run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=32, help="trials of scenario (b)")
    parser.add_argument("--seconds", type=float, default=2.0, help="sleep of each trial of (b), in 0.05 s steps")
    parser.add_argument("--one-seconds", type=float, default=0.5, help="sleep of the one trial of (a)")
    parser.add_argument("--slots", type=int, default=2, help="Ray CPUs; each trial takes one")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each side per scenario (medians)")
    parser.add_argument("--keep", action="store_true", help="keep phasesweep's working directories")
    args = parser.parse_args()

    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs here; Ray num_cpus={args.slots}; "
        f"repeats={args.repeats}"
    )
    shown = " ".join(phasesweep_cmd(args.trials, round(args.seconds / SLEEP_PER_STEP_S), args.slots))
    print(f"phasesweep: PYTHONPATH={HERE} python -m pipelines.main {shown}  (for (b); (a) runs seed=0)")

    one_steps = max(1, round(args.one_seconds / SLEEP_PER_STEP_S))
    print(f"\n(a) one trial of {one_steps * SLEEP_PER_STEP_S:g} s")
    bare, ps = measure(1, args.one_seconds, args.slots, args.repeats, args.keep)
    table(bare, ps, ["start-up", "wall", "tail"])
    ratio = ps["wall"] / bare["wall"]
    print(f"  target: wall ≤ {TARGET_WALL_RATIO}× bare Ray: {ratio:.2f}×  {verdict(ratio <= TARGET_WALL_RATIO)}")
    print(
        "  phasesweep from launch: "
        + breakdown(ps, ["parent run opened", "first run created", "start-up"])
        + f" (work), then {breakdown(ps, ['last run ended', 'parent run ended', 'wall'])} (exit)"
    )
    print("  bare Ray from launch:   " + breakdown(bare, ["ray.init done", "start-up", "shutdown done", "wall"]))

    steps = max(1, round(args.seconds / SLEEP_PER_STEP_S))
    seconds = steps * SLEEP_PER_STEP_S
    print(
        f"\n(b) {args.trials} trials of {seconds:g} s on {args.slots} slots "
        f"(ideal: {math.ceil(args.trials / args.slots) * seconds:g} s of work per slot)"
    )
    bare, ps = measure(args.trials, args.seconds, args.slots, args.repeats, args.keep)
    table(bare, ps, ["start-up", "wall", "tail", "overhead/trial", "gap in worker", "slot use"])
    over, use = ps["overhead/trial"], ps["slot use"]
    print(f"  target: overhead per trial ≤ {TARGET_OVERHEAD_S} s: {over:.3f} s  {verdict(over <= TARGET_OVERHEAD_S)}")
    print(f"  target: slot use ≥ {TARGET_SLOT_USE:.0%}:            {use:.1%}  {verdict(use >= TARGET_SLOT_USE)}")
    print(f"  phasesweep: a trial's work end → its run ended: median {ps['post']:.3f} s")
    print("  bare Ray from launch:   " + breakdown(bare, ["ray.init done", "start-up", "shutdown done", "wall"]))
    print(
        "  phasesweep from launch: "
        + breakdown(ps, ["parent run opened", "first run created", "start-up"])
        + f" (work), then {breakdown(ps, ['last run ended', 'parent run ended', 'wall'])} (exit)"
    )


if __name__ == "__main__":
    main()
