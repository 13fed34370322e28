"""The shared contract every model family passes (in the spirit of Hydra's LauncherTestSuite).

For each family, at tiny sizes: metrics are finite floats with namespaced keys; the same seed
gives the same trajectory; and a checkpoint round-trip through torch.save/torch.load
(weights_only=True) continues exactly as the uninterrupted run does.
"""

from __future__ import annotations

import io
import math

import pytest
import torch

from workers.families import FAMILIES, base, load_family
from workers.families.ebm import config as ebm_config
from workers.families.fullbatch import config as fullbatch_config
from workers.families.hopfield import config as hopfield_config
from workers.families.ising_blockspin import config as blockspin_config
from workers.families.ising_mc import config as ising_mc_config
from workers.families.random_features import config as rf_config
from workers.families.rbm import config as rbm_config
from workers.families.rbm_flow import config as rbm_flow_config
from workers.families.rbm_stack import config as rbm_stack_config
from workers.families.sgld import config as sgld_config
from workers.spec import TrialSpec

TINY = {
    "rbm": (
        rbm_config.RBMConfig(width=4),
        base.IsingDataConfig(L=4, n_samples=64, burn_in=10),
        rbm_config.RBMTrainConfig(batch_size=16, sample_chains=8, sample_steps=3),
        None,
    ),
    "sgld-mlp": (
        sgld_config.BayesModelConfig(width=8),
        base.DigitsDataConfig(),
        sgld_config.SGLDTrainConfig(burn_in=2, thin=1),
        None,
    ),
    "sgld-linear": (
        sgld_config.BayesModelConfig(arch=sgld_config.BayesArch.linear),
        sgld_config.RegressionDataConfig(),
        sgld_config.SGLDTrainConfig(lr=1e-4, burn_in=2, thin=1, batch_size=50),
        None,
    ),
    "ising_mc": (
        ising_mc_config.IsingMCModelConfig(),
        base.IsingDataConfig(L=4, burn_in=5),
        ising_mc_config.MCTrainConfig(steps=10, chains=4),
        None,
    ),
    "ising_mc-wolff": (
        ising_mc_config.IsingMCModelConfig(),
        base.IsingDataConfig(L=4, burn_in=5, algorithm="wolff"),
        ising_mc_config.MCTrainConfig(steps=10, chains=4),
        None,
    ),
    "ising_blockspin": (
        blockspin_config.BlockSpinModelConfig(min_size=2),
        base.IsingDataConfig(L=16, burn_in=5),
        blockspin_config.BlockSpinTrainConfig(samples=8, chains=4),
        None,
    ),
    "rbm_flow": (
        rbm_flow_config.RBMFlowModelConfig(width=4),
        base.IsingDataConfig(L=4, burn_in=5),
        rbm_flow_config.RBMFlowTrainConfig(
            steps=6,
            temperatures=3,
            samples_per_T=20,
            epochs=1,
            batch_size=10,
            starts=[1.5, 4.0],
            flows=8,
            thermometer_samples=16,
            thermometer_step=0.5,
            stationary_steps=3,
        ),
        None,
    ),
    "rbm_stack": (
        rbm_stack_config.RBMStackModelConfig(width=16, deeper=[4]),
        base.IsingDataConfig(L=8, n_samples=40, burn_in=5),
        rbm_stack_config.RBMStackTrainConfig(steps=6, batch_size=8, chains=8, window=2, l1=1e-3),
        None,
    ),
    "rbm_stack-pcd": (
        rbm_stack_config.RBMStackModelConfig(width=16, deeper=[4]),
        base.IsingDataConfig(L=8, n_samples=40, burn_in=5),
        rbm_stack_config.RBMStackTrainConfig(steps=6, batch_size=8, chains=8, persistent=True, k=2),
        None,
    ),
    "hopfield": (
        hopfield_config.HopfieldModelConfig(width=64),
        hopfield_config.PatternsDataConfig(alpha=0.05),
        hopfield_config.GlauberTrainConfig(networks=3, temperature=0.3),
        None,
    ),
    "fullbatch-catapult": (
        fullbatch_config.MLPModelConfig(width=32),
        base.TeacherDataConfig(n_train=16, dim=4, n_test=20),
        fullbatch_config.GDTrainConfig(lr_scaled=3.0, steps=10, sharpness_every=3),
        None,
    ),
    "fullbatch-eos": (
        fullbatch_config.MLPModelConfig(width=8, depth=2, activation="tanh", parameterization="standard"),
        fullbatch_config.DigitsMSEDataConfig(n_train=40, n_test=20),
        fullbatch_config.GDTrainConfig(lr=0.1, steps=10, sharpness_every=2, dtype="float32"),
        None,
    ),
    "random_features-lstsq": (
        rf_config.RandomFeaturesModelConfig(width=30),
        base.TeacherDataConfig(n_train=20, dim=4, n_test=20, label_noise=0.1),
        rf_config.ReadoutTrainConfig(steps=10),
        None,
    ),
    "random_features-gd": (
        rf_config.RandomFeaturesModelConfig(width=30, solver="gd"),
        base.TeacherDataConfig(n_train=20, dim=4, n_test=20),
        rf_config.ReadoutTrainConfig(steps=10, lr_scaled=1.0),
        None,
    ),
    "ebm": (
        ebm_config.EBMModelConfig(width=16),
        ebm_config.Synthetic2DDataConfig(n=256, n_heldout=64),
        ebm_config.EBMTrainConfig(batch_size=16, eval_chains=32, steps=10),
        ebm_config.LangevinSamplerConfig(steps=3, eval_steps=5, buffer_size=64),
    ),
}


def make(case: str, seed: int = 0):
    model, data, train, sampler = TINY[case]
    spec = TrialSpec("contract", seed, model, data, train, sampler=sampler)
    return load_family(model.family)(spec, torch.device("cpu"))


def run(family, steps: range) -> list[dict[str, float]]:
    return [family.step(s) | (family.observe(s) if s % 2 == 0 else {}) for s in steps]


def roundtrip(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_every_registered_family_is_covered():
    assert {m.family for m, *_ in TINY.values()} == set(FAMILIES)


@pytest.mark.parametrize("case", sorted(TINY))
def test_metrics_are_finite_namespaced_floats(case):
    for metrics in run(make(case), range(4)):
        assert metrics, "a step returns at least one metric"
        for key, value in metrics.items():
            assert key.split("/", 1)[0] in {"train", "obs", "chain", "theory", "rg", "flow"}, key
            assert isinstance(value, float) and math.isfinite(value), (key, value)


@pytest.mark.parametrize("case", sorted(TINY))
def test_same_seed_same_trajectory_other_seed_differs(case):
    a, b, other = run(make(case), range(4)), run(make(case), range(4)), run(make(case, seed=1), range(4))
    assert a == b
    assert a != other


@pytest.mark.parametrize("case", sorted(TINY))
def test_checkpoint_round_trip_continues_exactly(case):
    straight = make(case)
    run(straight, range(3))
    expected = run(straight, range(3, 6))

    first = make(case)
    run(first, range(3))
    state = roundtrip(first.state_dict())
    resumed = make(case)
    run(resumed, range(5))  # scrambled parameters, chains and RNG: all must come from the checkpoint
    resumed.load_state_dict(state)
    assert run(resumed, range(3, 6)) == expected


def test_every_family_package_registers_its_schemas():
    """A family is its package: the registry finds it by folder and its `config.SCHEMAS` reach Hydra."""
    import importlib

    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    import pipelines.schema  # noqa: F401  (registers every schema)

    repo = ConfigStore.instance().repo["schema"]
    for name in FAMILIES:
        declared = importlib.import_module(f"workers.families.{name}.config").SCHEMAS
        assert declared, f"workers/families/{name}/config.py declares no SCHEMAS"
        for group, entries in declared.items():
            for key, node in entries.items():
                assert OmegaConf.get_type(repo[group][f"{key}.yaml"].node) is node, (name, group, key)
        family = load_family(name)
        assert family.headline_metric, name
        assert callable(family.step) and callable(family.observe), name


def test_composing_a_config_imports_no_family_code():
    """Schemas are torch-free, so `--help`, `--cfg job` and every validation probe stay fast."""
    import subprocess
    import sys

    probe = "import sys, pipelines.schema; print(sorted(m for m in ('torch', 'mlflow', 'ray') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_an_update_that_overflows_its_dtype_is_a_divergence_not_a_crash():
    """`train.lr=1e308` into a float32 update raises in torch; the loop reports it as diverged at that step."""
    from workers.loop import train

    class Sink(dict):
        def __init__(self):
            super().__init__()
            self.history = {}

        def __call__(self, step, metrics):
            self[step] = metrics

    family = make("rbm")
    family.optimizer.param_groups[0]["lr"] = 1e308
    outcome = train(family, Sink(), steps=5, observe_every=5)
    assert outcome.diverged and outcome.step == 0
    assert outcome.bad_keys[0].startswith("overflow: ")

    class Broken:
        def step(self, step):
            raise RuntimeError("a bug in the update")

    with pytest.raises(RuntimeError, match="a bug"):
        train(Broken(), Sink(), steps=5, observe_every=5)
