"""The body of a trial's Ray task, importable without torch: the driver hands Ray this function, and
only the worker that runs it imports the trial's code (torch, the family)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workers.spec import TrialResult, TrialSpec


def ray_trial(spec: TrialSpec) -> TrialResult:
    """See where Ray put us, then `workers.trial.run_trial`, leaving the training curves to the driver
    (`workers.curves.log_training_curves`), so the worker is free for its next trial sooner."""
    import ray

    from workers.families.base import Device
    from workers.trial import run_trial

    if spec.train.device is Device.auto and not ray.get_gpu_ids():
        spec.train.device = Device.cpu  # Ray gave this trial no GPU: don't take one
    node = ray.get_runtime_context().get_node_id()
    return run_trial(spec, tags={"phasesweep.ray_node": node}, draw_curves=False)


def ray_pack(specs: list[TrialSpec], label: str) -> list[TrialResult]:
    """`workers.trial.run_pack` for a pack of trials in one task; each member's run is tagged with its pack."""
    import ray

    from workers.families.base import Device
    from workers.trial import run_pack

    if specs[0].train.device is Device.auto and not ray.get_gpu_ids():
        for spec in specs:
            spec.train.device = Device.cpu
    node = ray.get_runtime_context().get_node_id()
    return run_pack(specs, tags={"phasesweep.ray_node": node, "phasesweep.pack": label}, draw_curves=False)
