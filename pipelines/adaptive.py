"""Adaptive sweeps: rounds of trials placed where the transition is, until its location is known.

A uniform grid spends most of its trials far from a transition. `AdaptiveSweep` (behind
`hydra/sweeper=adaptive`) runs a sweep in rounds instead, all under one parent run:

1. Round 1 puts `initial` evenly spaced values of the refined axis (in ln x with `log`) on the grid of the
   held keys (sizes, seeds, a second axis), and launches them through the launcher.
2. After each round the results are read back from MLflow and the configured estimator (`binder`,
   `peak:<observable>` or `steepest:<observable>`, as `pipelines.analyze.locate` runs them) locates the
   transition for every combination of the held keys other than sizes and seeds, with its bootstrap CI.
3. Where an estimate is not yet at `target`, the next round's values are the quantiles
   μ + σ·Φ⁻¹((j + ½)/m), j = 0…m−1, of a normal centred on the estimate μ with σ = max(CI half-width,
   target): the points spread over where the bootstrap says the transition may be, densest at its centre,
   and never on a value already run (a value taken moves to the nearest free step of `resolution`). Where
   no estimate exists yet (too few points, no crossing), the widest gaps between the values run are halved.
4. It stops when every half-width ≤ target, or when the budget of trials is spent, and says which.

So refining a second axis too (a phase boundary in a plane) is a grid along that axis with the first axis
refined in each row: the trials gather along the boundary, and `plots/adaptive_<a>_<b>.png` draws it.

Each round's values are written to the parent (tag `phasesweep.adaptive.round.<k>`) before it starts,
and its estimates after it ends (metrics `adaptive/location…`, `adaptive/half_width…` at step k). Running
the same command again re-runs any round left unfinished and goes on from the last one: no trial runs
twice, since a trial's run is found by its key (`pipelines.runtree.place`).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

from pipelines.adaptive_settings import Axis, Settings
from pipelines.analyze import _label, locate
from pipelines.driver import command_line, console
from pipelines.sweep import ROUND_TAG, Round, analyze_parent
from pipelines.sweepdata import REPLICA_AXIS, load_sweep
from pipelines.validate import fail
from workers import tracking

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

ROUND_VALUES_TAG = "phasesweep.adaptive.round."
"""Parent tag `phasesweep.adaptive.round.<k>`: round k's axis values per estimate, JSON."""
EVALUATED_TAG = "phasesweep.adaptive.evaluated"
"""The last round whose estimates are logged on the parent."""
STOP_TAG = "phasesweep.adaptive.stop"


@dataclass
class Unit:
    """One estimate the sweep refines: a combination of the held keys (other than size and seed), and the
    grid entries (sizes × seeds) every axis value of it is run with."""

    combo: dict[str, str]
    members: list[list[str]]
    values: list[float]
    """Axis values run so far (every round, every command)."""
    estimate: Any = None
    """The last `TransitionEstimate`, or None."""
    why: str = ""
    """Why there is no estimate yet."""

    @property
    def label(self) -> str:
        return _label(self.combo) or "all"

    @property
    def half_width(self) -> float:
        e = self.estimate
        return (e.ci_high - e.ci_low) / 2 if e is not None and math.isfinite(e.ci_high - e.ci_low) else math.inf

    @property
    def settled(self) -> bool:
        """Whether the interval can end the sweep: it counts the data's noise only, so an estimate still
        limited by the grid (a step between two values, `grid_limited`) or interpolated because its fit
        window holds too few points (`fit_points`) guides the next round but never stops the sweep."""
        details = self.estimate.details if self.estimate is not None else {}
        coarse = any(isinstance(v, str) for v in (details.get("fit_points") or {}).values())
        return self.estimate is not None and not details.get("grid_limited") and not coarse


class AdaptiveSweep:
    """The rounds of one adaptive sweep; `run()` does them all (see the module docstring)."""

    def __init__(self, settings: Settings, grid: list[list[str]], launcher):
        self.s, self.launcher = settings, launcher
        self.out = console()
        try:
            first = launcher.compose([*grid[0], f"{settings.axis}={settings.low:g}"], 0)
        except Exception as err:  # Hydra's composition errors span lines; the first names the key
            fail(f"hydra.sweeper.axis={settings.axis}: {str(err).strip().splitlines()[0]}")
        self.cfg = first
        self._check(first, grid)
        self.size_axis = first.analysis.get("size_axis") or "data.L"
        if self.s.method == "binder":
            self.observable = first.analysis.get("binder")
        else:
            self.observable = self.s.observable
        self.units = self._units(grid)
        self.per_point = len(self.units[0].members)
        self.sweep_name = first.get("sweep_name") or self._default_name(first.experiment_name, grid)
        self.job = 0

    # ---- checks and naming --------------------------------------------------------------------------
    def _check(self, cfg, grid: list[list[str]]) -> None:
        s = self.s
        value = OmegaConf.select(cfg, s.axis, default=None)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(
                f"hydra.sweeper.axis={s.axis}: not a numeric key of this config (its value is {value!r}); refine "
                "a number such as data.temperature, train.lr or model.width"
            )
        integer = isinstance(value, int)
        step = s.resolution or (1.0 if integer else (0.01 if s.log else s.target / 5))
        self.axis = Axis(s.low, s.high, step, log=s.log, integer=integer)
        if s.method == "binder":
            size_axis = cfg.analysis.get("size_axis") or "data.L"
            sizes = {o for g in grid for o in g if o.startswith(f"{size_axis}=")}
            if not cfg.analysis.get("binder"):
                fail(f"hydra.sweeper.estimator=binder: experiment {cfg.experiment_name} sets no analysis.binder")
            if len(sizes) < 2:
                fail(
                    f"hydra.sweeper.estimator=binder compares system sizes: hold {size_axis} at two or more "
                    f"values, e.g. {size_axis}=8,16"
                )
        units = len({tuple(o for o in g if not self._is_member_key(o, cfg)) for g in grid})
        first_round = s.initial * len(grid)
        if s.budget < first_round:
            fail(
                f"hydra.sweeper.budget={s.budget}: smaller than the first round's {first_round} trials "
                f"({s.initial} initial values × {len(grid) // units} sizes and seeds × {units} estimates)"
            )

    def _is_member_key(self, override: str, cfg) -> bool:
        key = override.split("=", 1)[0]
        return key == REPLICA_AXIS or (self.s.method == "binder" and key == (cfg.analysis.get("size_axis") or "data.L"))

    def _units(self, grid: list[list[str]]) -> list[Unit]:
        units: dict[tuple[str, ...], Unit] = {}
        for g in grid:
            held = tuple(o for o in g if not self._is_member_key(o, self.cfg))
            combo = {k: self._as_param(k, v) for k, _, v in (o.partition("=") for o in held) if _varies(k, grid)}
            units.setdefault(held, Unit(combo, [], [])).members.append(g)
        return list(units.values())

    def _as_param(self, key: str, text: str) -> str:
        """`text` as the trial's MLflow param writes the key's value (`0` of a float key is `0.0`), which is
        what the sweep's data is matched on."""
        value = OmegaConf.select(self.cfg, key.lstrip("+~"), default=None)
        try:
            return repr(float(text)) if isinstance(value, float) else str(int(text)) if isinstance(value, int) else text
        except ValueError:
            return text

    def _default_name(self, experiment: str, grid: list[list[str]]) -> str:
        """`<experiment>-adaptive-<hash>` of the held grid and the refined axis, so the same command continues
        the same sweep (a changed target, budget or batch still does)."""
        identity = {"grid": sorted(map(sorted, grid)), "axis": self.s.axis}
        digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:8]
        return f"{experiment}-adaptive-{digest}"

    # ---- one round ------------------------------------------------------------------------------------
    def _jobs(self, plan: dict[str, list[float]]) -> list[list[str]]:
        jobs = []
        for unit in self.units:
            for value in plan.get(unit.label, []):
                jobs += [[*member, f"{self.s.axis}={self.axis.text(value)}"] for member in unit.members]
        return jobs

    def _launch(self, number: int, plan: dict[str, list[float]]) -> None:
        jobs = self._jobs(plan)
        if not jobs:
            return
        self.launcher.launch_round(jobs, self.job, Round(self.sweep_name, number, axes=(self.s.axis,)))
        self.job += len(jobs)

    def _evaluate(self, client: MlflowClient, parent_id: str) -> int:
        """Read the sweep back, re-locate every unit; returns the trials the sweep holds."""
        from models import transitions as tr

        sweep = load_sweep(client, parent_id)
        runs = self._children(client, parent_id)
        held = {r.data.tags.get("phasesweep.trial_key") for r in runs}
        for unit in self.units:
            unit.values = sorted(
                {float(r.data.params[self.s.axis]) for r in runs if _matches(r.data.params, unit.combo)}
            )
            try:
                unit.estimate, unit.why = (
                    locate(sweep, self.s.axis, self.s.method, self.observable, unit.combo, rng=0),
                    "",
                )
            except (tr.TooFewPointsError, tr.NoCrossingError, ValueError, KeyError) as err:
                unit.estimate, unit.why = None, str(err).split(";")[0]
        return len(held)

    def _log_round(self, client: MlflowClient, parent_id: str, number: int, used: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric("adaptive/trials", used, now, number)]
        for unit in self.units:
            suffix = "" if len(self.units) == 1 else "/" + unit.label
            if unit.estimate is not None:
                e = unit.estimate
                metrics.append(Metric(f"adaptive/location{suffix}", e.location, now, number))
                if math.isfinite(unit.half_width):
                    metrics.append(Metric(f"adaptive/half_width{suffix}", unit.half_width, now, number))
        for chunk in tracking.chunks(metrics, tracking.MAX_METRICS_PER_BATCH):
            client.log_batch(parent_id, metrics=chunk)
        tracking.set_tags(client, parent_id, {EVALUATED_TAG: str(number)})

    def _say(self, number: int, used: int) -> None:
        s = self.s
        shown = []
        for unit in self.units[:4]:
            where = "" if len(self.units) == 1 else f"{unit.label}: "
            if unit.estimate is None:
                shown.append(f"{where}no estimate yet ({unit.why})")
            else:
                coarse = "" if unit.settled else " (not yet resolved by the grid)"
                shown.append(f"{where}{unit.estimate.location:.4g} ± {unit.half_width:.2g}{coarse}")
        more = f" (+{len(self.units) - 4} more)" if len(self.units) > 4 else ""
        self.out.print(
            f"[bold]adaptive[/] round {number}: {used}/{s.budget} trials of the budget · "
            f"{s.axis} by {s.method}{':' + s.observable if s.observable else ''}: "
            + " · ".join(shown)
            + more
            + f" (target ± {s.target:g})"
        )

    # ---- the loop -------------------------------------------------------------------------------------
    def run(self) -> list:
        from mlflow.tracking import MlflowClient

        s = self.s
        uri = tracking.resolve_tracking_uri(self.cfg.tracking.uri)
        self.out.print(
            f"[bold]adaptive sweep[/] {self.sweep_name}: {s.axis} in [{s.low:g}, {s.high:g}] by {s.method}"
            f"{':' + s.observable if s.observable else ''}, target ± {s.target:g}, budget {s.budget} trials, "
            f"{len(self.units)} estimate(s) × {self.per_point} trials per value"
        )
        try:
            self._launch(1, {u.label: self.axis.initial(self.s.initial) for u in self.units})
            client = MlflowClient(tracking_uri=uri)
            parent = tracking.find_sweep(client, [self._experiment_id(client)], self.sweep_name)
            parent_id, self.experiment_id = parent.info.run_id, parent.info.experiment_id
            tags = parent.data.tags
            if f"{ROUND_VALUES_TAG}1" not in tags:
                self._record(client, parent_id, 1, {u.label: self.axis.initial(self.s.initial) for u in self.units})
            recorded = sorted(int(k[len(ROUND_VALUES_TAG) :]) for k in tags if k.startswith(ROUND_VALUES_TAG))
            number = max(recorded, default=1)
            if number > 1:
                self.out.print(f"continuing: rounds 1-{number} are recorded on parent run {parent_id}")
            for k in range(2, number + 1):  # finish recorded rounds (skips every trial already FINISHED)
                if not self._complete(client, parent_id, k, json.loads(tags[f"{ROUND_VALUES_TAG}{k}"])):
                    self._launch(k, json.loads(tags[f"{ROUND_VALUES_TAG}{k}"]))
            evaluated = int(tags.get(EVALUATED_TAG, 0))
            while True:
                used = self._evaluate(client, parent_id)
                if number > evaluated:
                    self._log_round(client, parent_id, number, used)
                self._say(number, used)
                reason = self._stop_reason(number, used)
                if reason:
                    break
                plan = self._plan(used)
                if not any(plan.values()):
                    reason = f"every value of {s.axis} within the interval is run, {self.axis.step:g} apart"
                    break
                number += 1
                self._record(client, parent_id, number, plan)
                self._launch(number, plan)
            self.out.print(f"[bold]adaptive[/] stopped after round {number}: {reason}")
            self._finish(client, parent_id, number, reason)
        finally:
            import ray

            if ray.is_initialized():
                ray.shutdown()
        return []

    def _experiment_id(self, client: MlflowClient) -> str:
        return client.get_experiment_by_name(self.cfg.tracking.experiment or self.cfg.experiment_name).experiment_id

    def _children(self, client: MlflowClient, parent_id: str) -> list:
        """Every child run of the sweep, whatever its round or status."""
        return list(tracking.child_runs(client, self.experiment_id, parent_id))

    def _record(self, client: MlflowClient, parent_id: str, number: int, plan: dict[str, list[float]]) -> None:
        tracking.set_tags(client, parent_id, {f"{ROUND_VALUES_TAG}{number}": json.dumps(plan)})

    def _complete(self, client: MlflowClient, parent_id: str, number: int, plan: dict[str, list[float]]) -> bool:
        runs = self._children(client, parent_id)
        done = sum(r.data.tags.get(ROUND_TAG) == str(number) and r.info.status == "FINISHED" for r in runs)
        return done >= len(self._jobs(plan))

    def _stop_reason(self, number: int, used: int) -> str:
        s = self.s
        if all(u.settled and u.half_width <= s.target for u in self.units):
            return f"target reached: every CI half-width <= {s.target:g} ({used} trials)"
        if used + self.per_point > s.budget:
            return f"budget spent: {used} of {s.budget} trials; the half-width is still above {s.target:g}"
        if s.max_rounds is not None and number >= s.max_rounds:
            return f"hydra.sweeper.max_rounds={s.max_rounds} reached; rerun with a larger value to continue"
        return ""

    def _plan(self, used: int) -> dict[str, list[float]]:
        """The next round's values: `batch` trials (default: Ray's slots) over the units not yet at target."""
        open_units = [u for u in self.units if not (u.settled and u.half_width <= self.s.target)]
        batch = self.s.batch or self._slots()
        per_unit = max(1, round(batch / (self.per_point * len(open_units))))
        plan: dict[str, list[float]] = {}
        room = (self.s.budget - used) // self.per_point
        for unit in open_units:
            m = min(per_unit, room)
            if m <= 0:
                break
            plan[unit.label] = self.axis.propose(unit.values, unit.estimate, m, self.s.target)
            room -= len(plan[unit.label])
        return plan

    def _slots(self) -> int:
        import ray

        cpus = float(ray.cluster_resources().get("CPU", 1))
        return max(1, int(cpus // max(float(self.cfg.resources.cpus), 1e-3)))

    def _finish(self, client: MlflowClient, parent_id: str, number: int, reason: str) -> None:
        runs = self._children(client, parent_id)
        statuses = [r.data.tags.get("phasesweep.status", "") for r in runs]
        counts = {k: sum(st == k for st in statuses) for k in ("finished", "diverged", "failed")}
        tracking.set_tags(
            client,
            parent_id,
            {f"phasesweep.{k}": v for k, v in counts.items()}
            | {"phasesweep.n_trials": len(runs), STOP_TAG: reason, "phasesweep.command": command_line()},
        )
        analyze_parent(client, parent_id, self.out)
        from pipelines import adaptive_plots

        sweep = load_sweep(client, parent_id)
        rounds = {r.info.run_id: int(r.data.tags.get(ROUND_TAG, 1)) for r in runs}
        estimates = [(u.label, u.combo, u.estimate) for u in self.units]
        size_axis = self.size_axis if self.s.method == "binder" else None
        figures = {
            f"plots/adaptive_{_short(self.s.axis)}.png": adaptive_plots.rounds_figure(
                sweep, self.s.axis, self.observable, rounds, estimates, size_axis=size_axis, log=self.s.log
            )
        }
        others = [k for k in self.units[0].combo if len(self.units) > 1]
        if len(others) == 1:
            figures[f"plots/adaptive_{_short(self.s.axis)}_{_short(others[0])}.png"] = adaptive_plots.boundary_figure(
                sweep, self.s.axis, others[0], self.observable, estimates, log=self.s.log
            )
        import matplotlib.pyplot as plt

        for name, fig in figures.items():
            client.log_figure(parent_id, fig, name)
            plt.close(fig)
        note = client.get_run(parent_id).data.tags.get("mlflow.note.content", "")
        client.set_tag(parent_id, "mlflow.note.content", (self._note(number, reason) + "\n\n" + note)[:8000])
        if counts["failed"]:
            raise SystemExit(1)

    def _note(self, number: int, reason: str) -> str:
        lines = [f"**Adaptive sweep** of `{self.s.axis}` by `{self.s.method}`: {number} rounds; {reason}.", ""]
        for unit in self.units:
            where = "" if len(self.units) == 1 else f" at {unit.label}"
            if unit.estimate is not None:
                lines.append(f"- {unit.estimate.location:.4g} ± {unit.half_width:.2g}{where}")
        lines.append(f"\nSee `plots/adaptive_{_short(self.s.axis)}.png` (points coloured by round).")
        return "\n".join(lines)


def _short(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _varies(key: str, grid: list[list[str]]) -> bool:
    return len({o for g in grid for o in g if o.split("=", 1)[0] == key}) > 1


def _matches(values: dict[str, str], combo: dict[str, str]) -> bool:
    return all(values.get(k) == v for k, v in combo.items())
