"""Register every typed schema in Hydra's ConfigStore as `schema/<group>/<name>`.

Each YAML file under `conf/<group>/` starts from its schema, e.g. `conf/model/rbm.yaml`:

    defaults:
      - /schema/model@_here_: rbm

so a value of the wrong type or a misspelled key fails at composition, before anything runs.
The schemas come from three places: the run-level ones (`workers.config`), the bases every family
shares (`workers.families.base`), and each family's own `config.SCHEMAS`, which the families
registry collects. Adding a family adds its schemas here without touching this file.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from workers import config as run_config
from workers.families import base, family_schemas


def all_schemas() -> dict[str, dict[str, type]]:
    """Every `schema/<group>/<name>` entry, by group."""
    schemas: dict[str, dict[str, type]] = {}
    for source in (run_config.SCHEMAS, base.SCHEMAS, family_schemas()):
        for group, entries in source.items():
            schemas.setdefault(group, {}).update(entries)
    return schemas


def register(extra: dict[str, dict[str, type]] | None = None) -> None:
    """Store every schema as `schema/<group>/<name>`; idempotent."""
    cs = ConfigStore.instance()
    for group, entries in {**all_schemas(), **(extra or {})}.items():
        for name, node in entries.items():
            cs.store(group=f"schema/{group}", name=name, node=node)


register()
