"""Goal sensitivity: steps to result for several targets from the same measurements.

Shallue et al. report that the shape of the steps-to-result curve is robust to the goal;
`goal_sensitivity` lets a user check that on their own study without re-running anything.

Example (given a loaded `workload`)::

    curves = goal_sensitivity(workload, "val/classification_error", [0.05, 0.03, 0.02])
    curves[0.03]   # {batch_size: steps or None}
"""

from tfbsz.analysis.steps_to_result import steps_to_result
from tfbsz.analysis.study_files import Target, default_direction
from tfbsz.core.errors import ConfigError

__all__ = ["goal_sensitivity", "workload_steps"]


def workload_steps(workload, target):
    """{batch_size: steps to result or None} for every batch size of `workload`."""
    return {study.batch_size: steps_to_result(study.trials, target) for study in workload.studies}


def goal_sensitivity(workload, metric, thresholds, direction=None):
    """{threshold: {batch_size: steps or None}} for each threshold on `metric`.

    Args:
        workload: a loaded `Workload`.
        metric: measurement column, e.g. "val/classification_error".
        thresholds: non-empty iterable of numbers.
        direction: "min" or "max"; defaults from the metric name (accuracy-like -> "max").
    """
    thresholds = list(thresholds)
    if not thresholds:
        raise ConfigError("thresholds: expected at least one number, got an empty list")
    direction = direction or default_direction(metric)
    return {t: workload_steps(workload, Target(metric, t, direction)) for t in thresholds}
