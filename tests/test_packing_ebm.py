"""Population packing of deep EBMs (issue 14): trials at different seeds, learning rates, Langevin step
sizes and temperatures trained as one batched model. Bit-identity with the lone Langevin sampler and the
lone family, whatever shares the pack; checkpoints that cross between the two forms; a diverging member
left behind; the driver packing ebm trials into one task."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
import torch

from models.ebm import EnergyMLP, population_energy, population_langevin, stack_parameters
from models.mcmc.langevin import langevin
from tests.conftest import cli
from tests.test_packing import assert_one_pack, learned, run
from workers.families.ebm.config import EBMModelConfig, EBMTrainConfig, LangevinSamplerConfig, Synthetic2DDataConfig
from workers.families.ebm.family import EBMFamily
from workers.families.ebm.population import EBMPopulation
from workers.loop import Solo

CPU = torch.device("cpu")
STEPS, EVERY = 10, 5


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def spec(seed: int, T: float = 0.25, eps: float = 0.01, lr: float = 3e-3, width: int = 8, **options):
    """A tiny ebm trial; `options` go to the train or the sampler config, whichever has the key."""
    train = {k: v for k, v in options.items() if k in EBMTrainConfig.__dataclass_fields__}
    sampler = {k: v for k, v in options.items() if k in LangevinSamplerConfig.__dataclass_fields__}
    return SimpleNamespace(
        seed=seed,
        model=EBMModelConfig(width=width),
        data=Synthetic2DDataConfig(n=128, n_heldout=32, mmd_bandwidth=options.get("bandwidth", 0.2)),
        train=EBMTrainConfig(
            **dict(steps=STEPS, lr=lr, batch_size=16, eval_chains=32, observe_every=EVERY, checkpoint_every=0) | train
        ),
        sampler=LangevinSamplerConfig(
            **dict(temperature=T, step_size=eps, steps=3, eval_steps=3, long_run_factor=2, buffer_size=64) | sampler
        ),
    )


OTHERS = [
    spec(0),
    spec(1, T=0.0, eps=0.05),  # noiseless: draws no Langevin noise
    spec(2, lr=1e-2, alpha=0.1, beta1=0.5),
    spec(3, clip=1.0, reinit_prob=0.5, cosine_decay=False, grad_clip=0.0),
    spec(4, T=1.0, eps=0.1, divergence_patience=1),
    spec(5, T=4.0, bandwidth=None),
    spec(6, lr=3e-2),
]


def params_equal(a: EBMFamily, b: EBMFamily) -> bool:
    one, two = a.model.state_dict(), b.model.state_dict()
    return one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)


def roundtrip(state):
    """Through torch.save / torch.load(weights_only=True), as a checkpoint goes."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_population_langevin_is_each_lone_chain_bit_for_bit():
    """P energy MLPs at once, each with its own ε, T, box and generator, end where the lone sampler does."""
    models = [EnergyMLP(2, 16, generator=torch.Generator().manual_seed(s)) for s in range(3)]
    eps, T, box = [0.05, 0.1, 0.02], [0.5, 0.0, 2.0], [3.0, 1.0, 0.5]
    x0 = torch.rand(3, 20, 2, generator=torch.Generator().manual_seed(9)) * 4 - 2
    gens = [torch.Generator().manual_seed(s) for s in (5, 6, 7)]
    with torch.no_grad():
        params = stack_parameters(models)
    x = population_langevin(
        lambda y: population_energy(models[0], params, y),
        x0,
        steps=8,
        step_size=eps,
        temperature=T,
        generators=gens,
        clip_x=box,
    )
    for p, model in enumerate(models):
        gen = torch.Generator().manual_seed(5 + p)
        lone = langevin(model, x0[p], steps=8, step_size=eps[p], temperature=T[p], generator=gen, clip_x=box[p])
        assert torch.equal(x[p], lone), p
        assert torch.equal(gens[p].get_state(), gen.get_state()), p
    assert all(p.grad is None for m in models for p in m.parameters())


def test_a_member_is_its_lone_twin_with_3_or_with_7_others():
    """Every metric and the final parameters of every member equal its unpacked twin's, bit for bit, in a
    pack of 8; and a member computes the same in a pack of 4 at another position."""
    me = spec(7, T=0.5, eps=0.02, lr=5e-3)
    specs = [*OTHERS[:5], me, *OTHERS[5:]]
    twins = [Solo(EBMFamily(s, CPU)) for s in specs]
    lone = [run(twin, steps=STEPS, observe_every=EVERY)[0] for twin in twins]
    large = EBMPopulation(specs, CPU)
    packed = run(large, steps=STEPS, observe_every=EVERY)
    small = EBMPopulation([OTHERS[6], me, OTHERS[1], OTHERS[3]], CPU)
    mine = run(small, steps=STEPS, observe_every=EVERY)[1]
    for i, (alone, member) in enumerate(zip(lone, packed, strict=True)):
        assert learned(member.history) == learned(alone.history), i
        assert params_equal(large.members[i], twins[i].family), i
    assert learned(mine.history) == learned(packed[5].history)
    assert params_equal(small.members[1], large.members[5])
    assert len(lone[5].history["obs/mmd"]) == 3 and len(lone[5].history["train/loss"]) == STEPS
    assert len({h.history["train/loss"][-1] for h in packed}) == len(specs), "the members differ"


def test_member_states_cross_between_a_pack_and_a_lone_trial():
    """A member checkpointed in a pack at step 5 goes on alone, and a lone one goes on in a pack (alone in
    its calls: the other member is left out and untouched), each bit-identical to the uninterrupted pack,
    its figures included."""
    specs = [spec(0), spec(1, T=0.5, eps=0.03, lr=1e-2), spec(2, T=0.1)]
    pack, whole = EBMPopulation(specs, CPU), EBMPopulation(specs, CPU)
    for step in range(5):
        pack.step(step, [0, 1, 2])
        whole.step(step, [0, 1, 2])
    alone = EBMFamily(specs[1], CPU)
    alone.load_state_dict(roundtrip(pack.member_state(1)))
    back = EBMPopulation([spec(9), specs[1]], CPU)
    back.load_member_state(1, roundtrip(alone.state_dict()))
    untouched = back.member_state(0)
    drawn = [alone.figures({}), whole.figures(1, {}), back.figures(1, {})]
    scatters = [f["samples.png"].axes[0].collections[1].get_offsets() for f in drawn]
    assert all((s == scatters[0]).all() for s in scatters)
    assert len({f["samples.png"].texts[0].get_text() for f in drawn}) == 1
    for step in range(5, STEPS):
        want = whole.step(step, [0, 1, 2])[1]
        assert alone.step(step) == want == back.step(step, [1])[0]
    assert alone.observe(STEPS) == whole.observe(STEPS, [1])[0] == back.observe(STEPS, [1])[0]
    assert params_equal(alone, whole.members[1]) and params_equal(back.members[1], whole.members[1])
    assert all(torch.equal(untouched["model"][k], v) for k, v in back.member_state(0)["model"].items())


def test_a_diverging_member_is_frozen_and_the_others_go_on_unchanged():
    bad = spec(1, lr=1e38)  # Adam's first step moves every weight by ~1e38: the next energies overflow
    good = [spec(0), spec(2, T=0.5)]
    with_bad = run(EBMPopulation([good[0], bad, good[1]], CPU), steps=STEPS, observe_every=EVERY)
    without = run(EBMPopulation(good, CPU), steps=STEPS, observe_every=EVERY)
    assert with_bad[1].outcome.diverged and with_bad[1].outcome.step <= 2
    assert not with_bad[0].outcome.diverged and with_bad[0].outcome.step == STEPS
    assert learned(with_bad[0].history) == learned(without[0].history)
    assert learned(with_bad[2].history) == learned(without[1].history)
    assert max(s for s, _ in with_bad[1].history["train/grad_norm"]) <= with_bad[1].outcome.step


def test_a_pack_refuses_members_of_another_shape():
    with pytest.raises(ValueError, match=r"shares model\.width"):
        EBMPopulation([spec(0), spec(1, width=16)], CPU)
    with pytest.raises(ValueError, match=r"sampler\.steps"):
        EBMPopulation([spec(0), spec(1, steps=4)], CPU)


@pytest.mark.slow  # Ray and MLflow start-up is most of its ~25 s; the default tier is near its budget
def test_the_driver_packs_ebm_trials_into_one_task(workdir):
    tiny = ["model.width=8", "data.n=128", "data.n_heldout=32", "train.steps=4", "train.batch_size=16"]
    tiny += ["train.eval_chains=32", "train.observe_every=2", "train.checkpoint_every=0"]
    tiny += ["sampler.steps=2", "sampler.eval_steps=2", "sampler.buffer_size=64"]
    grid = ["sampler.temperature=0.1,0.5", "sampler.step_size=0.01,0.05"]
    out = cli("-m", "experiment=ebm_langevin", *tiny, *grid, "pack.size=4", cwd=workdir)
    assert_one_pack(out, workdir, ["obs/mmd", "train/energy_gap"])
