"""Population packing of SGLD (issue 14): chains at different temperatures, step sizes, prior widths and
seeds as one batched model through `torch.func`. A member against its lone twin (to float32 rounding of
batched against single matrix products: 1e-5 relative) and against itself in another pack (bit for bit);
checkpoints that cross between the two forms; a diverging member isolated; the driver packing trials."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tests.conftest import cli
from tests.test_packing import assert_one_pack, learned, run
from workers.families.base import DigitsDataConfig
from workers.families.sgld.config import (
    BayesArch,
    BayesModelConfig,
    RegressionDataConfig,
    SGLDTrainConfig,
    StepScheduleName,
    pack_refusal,
)
from workers.families.sgld.family import SGLDFamily
from workers.families.sgld.population import SGLDPopulation
from workers.loop import Solo

CPU = torch.device("cpu")
REL = 1e-5
"""A member against its lone twin: the batched products `vmap` makes round apart from single ones."""


def spec(seed: int, T: float, arch: str = "linear", lr: float | None = None, prior_std: float = 1.0, **train):
    if arch == "linear":
        model = BayesModelConfig(arch=BayesArch.linear, prior_std=prior_std)
        data, options = RegressionDataConfig(n=40, dim=3), dict(lr=lr or 1e-3, batch_size=10)
    else:
        model = BayesModelConfig(width=6, prior_std=prior_std)
        data, options = DigitsDataConfig(), dict(lr=lr or 1e-4, batch_size=16)
    options |= dict(steps=30, burn_in=5, thin=2, observe_every=10, temperature=T) | train
    return SimpleNamespace(seed=seed, model=model, data=data, train=SGLDTrainConfig(**options), sampler=None)


def assert_close(got: dict, want: dict, rel: float = REL) -> None:
    """Histories with the same metrics at the same steps, each value within `rel`."""
    assert set(got) == set(want)
    for key in want:
        assert [s for s, _ in got[key]] == [s for s, _ in want[key]], key
        assert [v for _, v in got[key]] == pytest.approx([v for _, v in want[key]], rel=rel, abs=1e-9), key


CASES = [
    ("linear", {}),
    ("linear", dict(preconditioned=True, schedule=StepScheduleName.polynomial)),
    ("mlp", {}),
    ("mlp", dict(schedule=StepScheduleName.cyclical, n_cycles=2)),
]
IDS = ["linear", "linear-psgld-polynomial", "mlp", "mlp-cyclical"]


@pytest.mark.parametrize(("arch", "train"), CASES, ids=IDS)
def test_a_member_is_its_lone_twin_with_3_or_with_7_others(arch, train):
    """Every metric of a member equals its lone twin's to float rounding, and is bit-identical in a pack of
    4 and in a pack of 8, whatever temperatures, step sizes and prior widths share the pack."""
    me = spec(7, 0.3, arch, prior_std=0.7, **train)
    others = [spec(s, 0.5 + s, arch, lr=(1 + s % 3) * me.train.lr, prior_std=0.5 + s / 4, **train) for s in range(7)]
    lone_family = SGLDFamily(me, CPU)
    lone = run(Solo(lone_family), steps=30)[0]
    small_pack = SGLDPopulation([others[0], me, others[1], others[2]], CPU)
    small = run(small_pack, steps=30)[1]
    large = run(SGLDPopulation([*others[:5], me, *others[5:]], CPU), steps=30)[5]
    assert learned(small.history) == learned(large.history)
    assert_close(learned(small.history), learned(lone.history))
    for name, param in lone_family.model.named_parameters():
        torch.testing.assert_close(small_pack.params[name][1], param.detach(), rtol=REL, atol=1e-6)
    headline = "obs/cov_rel_error" if arch == "linear" else "obs/test_accuracy"
    assert small_pack.headline_metric == headline and len(lone.history[headline]) >= 3


@pytest.mark.parametrize(("arch", "train"), [CASES[1], CASES[2]], ids=[IDS[1], IDS[2]])
def test_member_states_cross_between_a_pack_and_a_lone_trial(arch, train):
    """A member checkpointed in a pack at step 15 goes on alone, and a lone one goes on in a pack: alone to
    rounding of the uninterrupted pack, in the other pack bit for bit; its samples and generator go along."""
    specs = [spec(s, 0.2 + 0.4 * s, arch, **train) for s in range(3)]
    pack = SGLDPopulation(specs, CPU)
    for step in range(15):
        pack.step(step, [0, 1, 2])
    alone = SGLDFamily(specs[1], CPU)
    alone.load_state_dict(pack.member_state(1))
    assert len(alone.collector) == 5
    back = SGLDPopulation([spec(9, 1.7, arch, **train), specs[1]], CPU)
    back.load_member_state(1, alone.state_dict())
    for step in range(15, 30):
        want = pack.step(step, [0, 1, 2])[1]
        assert alone.step(step) == pytest.approx(want, rel=REL)
        assert back.step(step, [1])[0] == want
    assert alone.observe(29) == pytest.approx(pack.observe(29, [1])[0], rel=REL)
    assert back.observe(29, [1])[0] == pack.observe(29, [1])[0]
    for name, param in alone.model.named_parameters():
        torch.testing.assert_close(param.detach(), pack.params[name][1], rtol=REL, atol=1e-6)
        assert torch.equal(back.params[name][1], pack.params[name][1])


def test_a_diverging_member_is_frozen_and_the_others_go_on_unchanged():
    """ε = 10 makes ελ_max far above 4: the chain grows about 800-fold a step and overflows float32."""
    bad = spec(1, 1.0, lr=10.0)
    good = [spec(0, 1.0), spec(2, 0.5)]
    with_bad = run(SGLDPopulation([good[0], bad, good[1]], CPU))
    without = run(SGLDPopulation(good, CPU))
    assert with_bad[1].outcome.diverged and 0 < with_bad[1].outcome.step < 30
    assert not with_bad[0].outcome.diverged and with_bad[0].outcome.step == 30
    assert learned(with_bad[0].history) == learned(without[0].history)
    assert learned(with_bad[2].history) == learned(without[1].history)


def test_psgld_packs_the_linear_model_only():
    def cfg(arch: str, preconditioned: bool):
        return SimpleNamespace(model={"arch": arch}, train={"preconditioned": preconditioned})

    assert pack_refusal(cfg("linear", True)) is None and pack_refusal(cfg("mlp", False)) is None
    assert "preconditioned" in pack_refusal(cfg("mlp", True))


@pytest.mark.slow  # Ray and MLflow start-up is most of its ~25 s; the default tier is near its budget
def test_the_driver_packs_four_sgld_trials_into_one_task(workdir):
    tiny = ["train.steps=20", "train.burn_in=5", "train.thin=2", "train.observe_every=10", "train.batch_size=20"]
    sweep = ["-m", "experiment=sgld_linear", "data.n=40", *tiny, "train.temperature=0.5,1.0", "seed=0,1"]
    out = cli(*sweep, "pack.size=4", cwd=workdir)
    assert_one_pack(out, workdir, ["obs/cov_rel_error"])
