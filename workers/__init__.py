"""Trial execution: `run_trial(spec) -> TrialResult`, the one training loop, and the MLflow sink.

Ray tasks wrap `run_trial` and nothing more; a single run calls it in-process.
Heavy imports (torch, mlflow) are deferred so that config tooling stays fast.
"""

__all__ = ["TrialResult", "TrialSpec", "run_trial"]


def __getattr__(name: str):
    if name in __all__:
        from workers import trial

        return getattr(trial, name)
    raise AttributeError(name)
