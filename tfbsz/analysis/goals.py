"""Goal sensitivity: steps to result for several targets from the same measurements.

Shallue et al. report that the shape of the steps-to-result curve is robust to the goal, while
McCandlish et al. find B_crit grows as the goal gets harder; `goal_sensitivity` lets a user check
both on their own study without re-running anything. `default_goals` picks the thresholds the
report uses when none are given: the target, and two easier and two harder goals spaced by a
third of the margin between the target and the best value every batch size that reached the
target achieved (so the harder goals are still reached by all of them).

Example (given a loaded `workload`)::

    curves = goal_sensitivity(workload, "val/classification_error", [0.05, 0.03, 0.02])
    curves[0.03]   # {batch_size: steps or None}
"""

import math

from tfbsz.analysis.inputs import is_number
from tfbsz.analysis.steps_to_result import steps_to_result
from tfbsz.analysis.study_files import Target, default_direction
from tfbsz.core.errors import ConfigError

__all__ = ["default_goals", "goal_sensitivity", "workload_steps"]


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


def _best_value(study, target):
    """The best value of `target.metric` over all measurements of `study`'s trials (or None)."""
    values = [v for t in study.trials if t.counts_toward_result
              for v in t.column(target.metric) if is_number(v) and math.isfinite(v)]
    if not values:
        return None
    return min(values) if target.direction == "min" else max(values)


def default_goals(workload, target):
    """Five thresholds around `target.threshold`, from easiest to hardest (module docstring).

    The margin is the distance from the threshold to the *worst* best value among the batch sizes
    that beat the threshold; with no margin (or no batch size reaching it), 10% of the threshold
    (or 0.1 when it is 0) is used instead.

    >>> from tfbsz.analysis import BatchSizeStudy, Target, Trial, Workload
    >>> t = lambda v: Trial(0, {}, "COMPLETE", {"step": [1, 2], "err": [0.5, v]})
    >>> w = Workload("r", "d", "m", "o", [BatchSizeStudy(8, [t(0.02)]), BatchSizeStudy(16, [t(0.05)])])
    >>> [round(g, 4) for g in default_goals(w, Target("err", 0.08))]
    [0.1, 0.09, 0.08, 0.07, 0.06]
    """
    sign = 1.0 if target.direction == "min" else -1.0
    reached = [v for v in (_best_value(s, target) for s in workload.studies) if v is not None and target.beats(v)]
    margin = min((sign * (target.threshold - v) for v in reached), default=0.0)
    if not margin > 0:
        margin = 0.1 * abs(target.threshold) or 0.1
    step = margin / 3.0
    return [float(target.threshold + sign * k * step) for k in (2, 1, 0, -1, -2)]
