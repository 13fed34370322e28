"""The statistics of a sweep: where an observable changes sharply, with confidence intervals.

This package face only re-exports. Its modules import downward:

- `bootstrap`: the replica bootstrap, `TransitionEstimate` and the replica table every estimator uses;
- `fits`: the curve fits, batched over bootstrap draws;
- `estimators`: `peak_location`, `steepest_change`, `onset_location`, `binder_crossing` and
  `aggregate_replicas`, across the trials of a sweep;
- `changepoints`: change points of an observable along one trial's training (`detect_change_points`).

Pure numpy and scipy, so the worker's in-trial change-point detection and the driver's sweep analysis
both import it from below.
"""

from models.transitions.bootstrap import TooFewPointsError, TransitionEstimate
from models.transitions.changepoints import (
    ChangePoint,
    MissingObservableError,
    detect_all,
    detect_change_points,
    robust_noise_scale,
)
from models.transitions.estimators import (
    COMBINE,
    SHAPES,
    NoCrossingError,
    NoOnsetError,
    aggregate_replicas,
    binder_crossing,
    onset_location,
    peak_location,
    steepest_change,
)

__all__ = [
    "COMBINE",
    "SHAPES",
    "ChangePoint",
    "MissingObservableError",
    "NoCrossingError",
    "NoOnsetError",
    "TooFewPointsError",
    "TransitionEstimate",
    "aggregate_replicas",
    "binder_crossing",
    "detect_all",
    "detect_change_points",
    "onset_location",
    "peak_location",
    "robust_noise_scale",
    "steepest_change",
]
