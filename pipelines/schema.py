"""Register the typed schemas of `workers.config` in Hydra's ConfigStore.

Each YAML file under `conf/<group>/` starts from its schema, e.g. `conf/model/rbm.yaml`:

    defaults:
      - /schema/model@_here_: rbm

so a value of the wrong type or a misspelled key fails at composition, before anything runs.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from workers import config as c

SCHEMAS = {
    "model": {
        "base": c.ModelConfig,
        "rbm": c.RBMConfig,
        "bayes": c.BayesModelConfig,
        "ising_mc": c.IsingMCModelConfig,
        "hopfield": c.HopfieldModelConfig,
        "ebm": c.EBMModelConfig,
    },
    "data": {
        "base": c.DataConfig,
        "ising": c.IsingDataConfig,
        "digits": c.DigitsDataConfig,
        "regression": c.RegressionDataConfig,
        "patterns": c.PatternsDataConfig,
        "synthetic2d": c.Synthetic2DDataConfig,
        "clustered": c.ClusteredDataConfig,
    },
    "train": {
        "base": c.TrainConfig,
        "rbm": c.RBMTrainConfig,
        "sgld": c.SGLDTrainConfig,
        "mc": c.MCTrainConfig,
        "glauber": c.GlauberTrainConfig,
        "ebm": c.EBMTrainConfig,
    },
    "sampler": {"langevin": c.LangevinSamplerConfig},
    "tracking": {"default": c.TrackingConfig},
    "cluster": {"default": c.ClusterConfig},
    "resources": {"default": c.ResourcesConfig},
    "analysis": {"default": c.AnalysisConfig},
}


def register(extra: dict[str, dict[str, type]] | None = None) -> None:
    """Store every schema as `schema/<group>/<name>`; idempotent."""
    cs = ConfigStore.instance()
    for group, entries in {**SCHEMAS, **(extra or {})}.items():
        for name, node in entries.items():
            cs.store(group=f"schema/{group}", name=name, node=node)


register()
