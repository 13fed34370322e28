"""Population packing of Ising Monte Carlo (issue 14): chains at different temperatures and seeds as one
batched system. Bit-identity with the lone sampler and the lone family, whatever shares the pack;
checkpoints that cross between the two forms; the driver packing Metropolis trials and refusing Wolff."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from models import ising
from tests.conftest import cli
from tests.test_packing import assert_one_pack, learned, run
from workers.families.base import IsingDataConfig
from workers.families.ising_mc.config import MCTrainConfig
from workers.families.ising_mc.family import IsingMCFamily
from workers.families.ising_mc.population import IsingMCPopulation
from workers.loop import Solo

CPU = torch.device("cpu")


def spec(seed: int, T: float, L: int = 4, **train) -> SimpleNamespace:
    data = IsingDataConfig(L=L, temperature=T, algorithm="metropolis", burn_in=20, cache_dir=None)
    options = dict(steps=30, chains=8, observe_every=10) | train
    return SimpleNamespace(seed=seed, data=data, train=MCTrainConfig(**options))


def start(seed: int, T: float, n: int = 16, L: int = 6) -> tuple[torch.Tensor, torch.Generator]:
    gen = torch.Generator().manual_seed(seed)
    up = torch.rand(n, 1, 1, generator=gen) < 0.5
    return torch.where(up, 1, -1).to(torch.int8).expand(n, L, L).contiguous(), gen


def test_a_population_sweep_is_each_lone_sweep_bit_for_bit():
    """Each system ends with the lone sampler's spins and generator state, at its own T and seed."""
    systems = [(3, 1.5), (1, ising.T_CRITICAL), (4, 3.5), (1, 2.0)]
    lone = []
    for seed, T in systems:
        spins, gen = start(seed, T)
        ising.metropolis_sweeps(spins, T, 25, gen)
        lone.append((spins, gen.get_state()))
    pairs = [start(seed, T) for seed, T in systems]
    spins = torch.stack([s for s, _ in pairs])
    gens = [g for _, g in pairs]
    ising.metropolis_sweeps_population(spins, [T for _, T in systems], 25, gens)
    for i, (want, state) in enumerate(lone):
        assert torch.equal(spins[i], want), i
        assert torch.equal(gens[i].get_state(), state), i
    assert len({float(ising.magnetization(s).abs().mean()) for s in spins}) > 1, "the systems differ"


@pytest.mark.parametrize(("shape", "message"), [((2, 4, 5, 5), "even L"), ((4, 6, 6), r"\(P, n, L, L\)")])
def test_a_population_sweep_refuses_shapes_it_cannot_batch(shape, message):
    spins = torch.ones(shape, dtype=torch.int8)
    with pytest.raises(ValueError, match=message):
        ising.metropolis_sweeps_population(spins, [2.0] * shape[0], 1, [torch.Generator()] * shape[0])


def test_a_member_is_its_lone_twin_with_3_or_with_7_others():
    """Every step and observe metric of a member equals the lone family's, bit for bit, in a pack of 4
    and in a pack of 8."""
    me = spec(7, 2.3)
    others = [spec(s, 1.6 + 0.25 * s) for s in range(7)]
    lone = run(Solo(IsingMCFamily(me, CPU)), steps=30)[0]
    small = run(IsingMCPopulation([others[0], me, others[1], others[2]], CPU), steps=30)[1]
    large = run(IsingMCPopulation([*others[:5], me, *others[5:]], CPU), steps=30)[5]
    assert learned(small.history) == learned(lone.history) == learned(large.history)
    assert len(lone.history["obs/binder"]) == 3 and "obs/binder_err" in lone.history


def test_member_states_cross_between_a_pack_and_a_lone_trial():
    """A member checkpointed in a pack at step 15 goes on alone, and a lone one goes on in a pack, each
    bit-identical to the uninterrupted pack; a member resumed later than the others takes part from its
    own step."""
    specs = [spec(s, 2.0 + 0.3 * s) for s in range(3)]
    pack, whole = IsingMCPopulation(specs, CPU), IsingMCPopulation(specs, CPU)
    for step in range(15):
        pack.step(step, [0, 1, 2])
        whole.step(step, [0, 1, 2])
    alone = IsingMCFamily(specs[1], CPU)
    alone.load_state_dict(pack.member_state(1))
    back = IsingMCPopulation([spec(9, 1.7), specs[1]], CPU)
    back.load_member_state(1, alone.state_dict())
    for step in range(15, 30):
        want = whole.step(step, [0, 1, 2])[1]
        assert alone.step(step) == want == back.step(step, [1])[0]
    assert alone.observe(29) == whole.observe(29, [1])[0] == back.observe(29, [1])[0]
    assert torch.equal(alone.spins, whole.spins[1]) and torch.equal(back.spins[1], whole.spins[1])


def test_a_wolff_checkpoint_is_refused_by_a_pack():
    pack = IsingMCPopulation([spec(0, 2.0)], CPU)
    state = pack.member_state(0) | {"updates_per_sweep": 3}
    with pytest.raises(ValueError, match="Wolff"):
        pack.load_member_state(0, state)


def test_the_driver_packs_metropolis_trials_into_one_task(workdir):
    """Metropolis trials pack; Wolff trials, which cannot, are the experiment's default and run one per task
    (`tests/test_packing.py`, `test_a_family_that_cannot_pack_says_so_in_one_line_and_runs_one_per_task`)."""
    sweep = ["-m", "experiment=ising_mc", "data.L=4", "train.steps=20", "train.observe_every=10"]
    out = cli(*sweep, "data.algorithm=metropolis", "data.temperature=2.0,3.0", "seed=0,1", "pack.size=4", cwd=workdir)
    assert_one_pack(out, workdir, ["obs/binder"])
