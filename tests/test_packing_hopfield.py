"""Population packing of Hopfield networks (issue 14): trials at different seeds, temperatures and cue
corruptions as one batched system. Bit-identity with the lone dynamics and the lone family, whatever
shares the pack; checkpoints that cross between the two forms; the driver packing hopfield trials."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from models import hopfield
from tests.conftest import cli
from tests.test_packing import assert_one_pack, learned, run
from workers.families.hopfield.config import GlauberTrainConfig, HopfieldModelConfig, PatternsDataConfig
from workers.families.hopfield.family import HopfieldFamily
from workers.families.hopfield.population import HopfieldPopulation
from workers.loop import Solo

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def spec(seed: int, T: float, flip: float = 0.2, N: int = 24, **train) -> SimpleNamespace:
    options = dict(steps=12, networks=3, temperature=T, observe_every=4) | train
    return SimpleNamespace(
        seed=seed,
        model=HopfieldModelConfig(width=N),
        data=PatternsDataConfig(alpha=0.125, flip_fraction=flip),
        train=GlauberTrainConfig(**options),
    )


def test_a_population_sweep_is_each_lone_sweep_bit_for_bit():
    """Each system ends with the lone dynamics' states and generator state, at its own T and seed; a T = 0
    system that reaches a fixed point stops drawing as `glauber` does."""
    systems = [(3, 0.0), (1, 0.6), (4, 0.0), (1, 2.0)]
    patterns = torch.stack(
        [hopfield.random_patterns(2, 20, n_networks=2, generator=torch.Generator().manual_seed(s)) for s, _ in systems]
    )
    s0 = torch.where(torch.rand(4, 2, 3, 20, generator=torch.Generator().manual_seed(9)) < 0.5, 1.0, -1.0)
    gens = [torch.Generator().manual_seed(10 + seed) for seed, _ in systems]
    temps = [T for _, T in systems]
    s = hopfield.glauber_population(patterns, s0, sweeps=6, temperatures=temps, generators=gens)
    for k, (seed, T) in enumerate(systems):
        gen = torch.Generator().manual_seed(10 + seed)
        want = hopfield.glauber(hopfield.Hopfield(patterns[k]), s0[k], sweeps=6, temperature=T, generator=gen)
        assert torch.equal(s[k], want), k
        assert torch.equal(gens[k].get_state(), gen.get_state()), k
    spent = torch.Generator().manual_seed(13)
    for _ in range(6):
        torch.randperm(20, generator=spent)
    assert not torch.equal(gens[0].get_state(), spent.get_state()), "the T = 0 system stopped early"


def test_a_member_is_its_lone_twin_with_3_or_with_7_others():
    """Every step and observe metric and the final states of a member equal the lone family's, bit for
    bit, in a pack of 4 and in a pack of 8."""
    me = spec(7, 0.4, flip=0.25)
    others = [spec(s, (0.0, 0.3, 1.2)[s % 3], flip=0.1 * (s % 4)) for s in range(7)]
    lone = Solo(HopfieldFamily(me, CPU))
    small = HopfieldPopulation([others[0], me, others[1], others[2]], CPU)
    large = HopfieldPopulation([*others[:5], me, *others[5:]], CPU)
    histories = [run(p, steps=12, observe_every=4)[i].history for p, i in ((lone, 0), (small, 1), (large, 5))]
    assert learned(histories[0]) == learned(histories[1]) == learned(histories[2])
    assert len(histories[0]["obs/retrieved_fraction"]) == 4 and "train/energy_per_neuron" in histories[0]
    assert torch.equal(lone.family.state, small.state[1]) and torch.equal(lone.family.state, large.state[5])
    assert torch.equal(lone.family.model.patterns, large.model.patterns[5])
    assert torch.equal(lone.family.generator.get_state(), large.gens[5].get_state())


def test_member_states_cross_between_a_pack_and_a_lone_trial():
    """A member checkpointed in a pack at step 6 goes on alone, and a lone one goes on in a pack, each
    bit-identical to the uninterrupted pack; a member resumed later than the others takes part alone from
    its own step, and draws the lone family's figure."""
    specs = [spec(s, (0.0, 0.5, 0.8)[s], flip=0.1 + 0.1 * s) for s in range(3)]
    pack, whole = HopfieldPopulation(specs, CPU), HopfieldPopulation(specs, CPU)
    for step in range(6):
        pack.step(step, [0, 1, 2])
        whole.step(step, [0, 1, 2])
    alone = HopfieldFamily(specs[1], CPU)
    alone.load_state_dict(pack.member_state(1))
    back = HopfieldPopulation([spec(9, 0.2), specs[1]], CPU)
    back.load_member_state(1, alone.state_dict())
    for step in range(6, 12):
        want = whole.step(step, [0, 1, 2])[1]
        assert alone.step(step) == want == back.step(step, [1])[0]
    assert alone.observe(11) == whole.observe(11, [1])[0] == back.observe(11, [1])[0]
    assert torch.equal(alone.state, whole.state[1]) and torch.equal(back.state[1], whole.state[1])
    assert torch.equal(back.state[0], HopfieldPopulation([spec(9, 0.2)], CPU).state[0]), "left out: untouched"
    bars = [f["overlaps.png"].axes[0] for f in (alone.figures({}), back.figures(1, {}))]
    assert bars[0].get_title() == bars[1].get_title()
    assert [p.get_height() for p in bars[0].patches] == [p.get_height() for p in bars[1].patches]


def test_a_pack_refuses_members_or_checkpoints_of_another_shape():
    with pytest.raises(ValueError, match=r"shares model\.width"):
        HopfieldPopulation([spec(0, 0.0), spec(1, 0.0, N=32)], CPU)
    pack = HopfieldPopulation([spec(0, 0.0)], CPU)
    with pytest.raises(ValueError, match="cannot join a pack"):
        pack.load_member_state(0, HopfieldFamily(spec(0, 0.0, N=32), CPU).state_dict())


@pytest.mark.slow  # Ray and MLflow start-up is most of its ~25 s; the default tier is near its budget
def test_the_driver_packs_hopfield_trials_into_one_task(workdir):
    sweep = ["-m", "experiment=hopfield_capacity", "model.width=24", "train.networks=2", "train.steps=6"]
    out = cli(*sweep, "seed=0,1", "train.temperature=0.0,0.5", "pack.size=4", "analysis.steepest=[]", cwd=workdir)
    assert_one_pack(out, workdir, ["obs/overlap", "obs/retrieved_fraction"])
