"""The ising_blockspin family: Swendsen–Wang samples blocked level by level, logged with step = level.

Small lattices (L = 16), a few hundred configurations: determinism, the shape of the per-level history,
the direction of the flow on either side of T_c, the refusal of a lattice the blocks do not tile, and one
real CLI run into a real sqlite MLflow store.
"""

from __future__ import annotations

import pytest
import torch

from tests.conftest import cli
from workers.families import load_family
from workers.families.base import IsingDataConfig
from workers.families.ising_blockspin import config as blockspin
from workers.families.ising_blockspin.family import OBSERVABLES
from workers.loop import train
from workers.spec import TrialSpec


def make(*, L=16, T=2.269, b=2, min_size=4, samples=20, chains=16, burn_in=30, steps=12, seed=0):
    model = blockspin.BlockSpinModelConfig(block=b, min_size=min_size)
    data = IsingDataConfig(L=L, temperature=T, burn_in=burn_in)
    cfg = blockspin.BlockSpinTrainConfig(steps=steps, samples=samples, chains=chains)
    return load_family("ising_blockspin")(TrialSpec("blockspin", seed, model, data, cfg), torch.device("cpu"))


class Sink:
    """What the loop calls of a tracking sink, keeping the history in memory."""

    def __init__(self) -> None:
        self.history: dict[str, list[tuple[int, float]]] = {}

    def __call__(self, step: int, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.history.setdefault(key, []).append((step, value))


def flow(**kwargs) -> dict[str, list[tuple[int, float]]]:
    family = make(**kwargs)
    sink = Sink()
    outcome = train(family, sink, steps=family.cfg.steps, observe_every=1)
    assert not outcome.diverged, outcome.bad_keys
    return sink.history


def test_same_seed_same_flow_other_seed_differs():
    a, b, other = (make(samples=8, chains=4, seed=seed) for seed in (0, 0, 1))
    first, second, third = ([f.step(s) for s in range(3)] for f in (a, b, other))
    assert first == second
    assert first != third
    assert torch.equal(a.generator.get_state(), b.generator.get_state())


def test_history_has_one_entry_per_level_with_step_equal_to_level():
    history = flow(L=16, min_size=2, b=2, steps=6, samples=8, chains=4)  # sides 16, 8, 4, 2, then nothing
    sides = [16, 8, 4, 2]
    for name in OBSERVABLES:
        assert [s for s, _ in history[f"rg/{name}"]] == list(range(len(sides))), name
        assert [s for s, _ in history[f"rg/{name}_err"]] == list(range(len(sides))), name
        for level in range(len(sides)):
            assert history[f"obs/{name}_l{level}"] == [(level, history[f"rg/{name}"][level][1])]
        assert f"obs/{name}_l{len(sides)}" not in history
    assert history["rg/L"] == [(k, float(side)) for k, side in enumerate(sides)]
    assert [s for s, _ in history["chain/tau_energy"]] == [0]


def test_block_size_three():
    history = flow(L=12, b=3, min_size=4, steps=3, samples=8, chains=4)  # sides 12, 4
    assert history["rg/L"] == [(0, 12.0), (1, 4.0)]


@pytest.mark.parametrize(("T", "direction"), [(1.8, 1), (3.0, -1)])
def test_nn_correlation_flows_to_order_below_tc_and_to_disorder_above(T, direction):
    """Below T_c blocking orders the spins (G_nn → 1), above T_c it disorders them (G_nn → 0): each level
    moves G_nn by more than three standard errors in that direction."""
    history = flow(L=16, T=T, min_size=4, samples=20, chains=16)  # 320 configurations, sides 16, 8, 4
    values = [v for _, v in history["rg/nn_correlation"]]
    errors = [e for _, e in history["rg/nn_correlation_err"]]
    assert len(values) == 3
    for k in range(len(values) - 1):
        step = direction * (values[k + 1] - values[k])
        assert step > 3 * (errors[k] ** 2 + errors[k + 1] ** 2) ** 0.5, (T, values, errors)


BAD = [
    (20, 3, 4, "data.L=20 with model.block=3"),
    (24, 2, 4, "data.L=24 with model.block=2"),  # 24 → 12 → 6: stops short of 4
    (4, 2, 4, "data.L=4 with model.block=2"),  # nothing to block
    (16, 1, 4, "model.block=1"),
    (16, 2, 1, "model.min_size=1"),
]


@pytest.mark.parametrize(("L", "b", "min_size", "names"), BAD)
def test_a_lattice_the_blocks_do_not_tile_is_refused_in_one_line(L, b, min_size, names):
    model, data = blockspin.BlockSpinModelConfig(block=b, min_size=min_size), IsingDataConfig(L=L)
    why = blockspin.refusal(model, data)
    assert why is not None and why.startswith(names) and "\n" not in why
    with pytest.raises(ValueError, match="^" + names):  # before any configuration is sampled
        make(L=L, b=b, min_size=min_size)


@pytest.mark.parametrize(("L", "b", "sides"), [(16, 2, [16, 8, 4]), (64, 2, [64, 32, 16, 8, 4]), (36, 3, [36, 12, 4])])
def test_lattices_that_block_down_to_min_size_pass(L, b, sides):
    model = blockspin.BlockSpinModelConfig(block=b)
    assert blockspin.refusal(model, IsingDataConfig(L=L)) is None
    assert blockspin.level_sides(L, b, model.min_size) == sides


def test_the_cli_refuses_a_bad_lattice_before_anything_runs(tmp_path):
    out = cli("experiment=ising_blockspin", "data.L=20", "model.block=3", cwd=tmp_path)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2
    assert len(lines) == 1 and lines[0].startswith("phasesweep: error: data.L=20 with model.block=3"), out.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_cli_run_logs_the_flow_with_step_equal_to_level(tmp_path):
    from mlflow.tracking import MlflowClient

    out = cli(
        "experiment=ising_blockspin",
        "data.L=16",
        "data.burn_in=20",
        "train.samples=32",
        "train.chains=8",
        "train.steps=4",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    [run] = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.data.tags["phasesweep.status"] == "finished"
    history = client.get_metric_history(run.info.run_id, "rg/nn_correlation")
    assert sorted(m.step for m in history) == [0, 1, 2]  # sides 16, 8, 4; step 3 has nothing to block
    by_step = {m.step: m.value for m in history}
    for level in range(3):
        assert run.data.metrics[f"obs/nn_correlation_l{level}"] == pytest.approx(by_step[level])
        assert f"obs/nn_correlation_l{level}_err" in run.data.metrics
    assert run.data.metrics["rg/L"] == 4.0
    assert "plots/rg_flow.png" in [a.path for a in client.list_artifacts(run.info.run_id, "plots")]
