"""The measured gradient noise scale B_simple of a workload, near the goal, to compare with B_crit.

When a study runs with `noise_scale.enabled: true`, every measurement row of every trial gets the
column `train/gradient_noise_scale`: the `GradientNoiseScale` callback's running estimate (a ratio
of moving averages; `inf` when the averaged |G|^2 estimate is not positive, i.e. the gradient
signal is still below the noise). McCandlish et al. (2018) predict that B_simple measured *at the
goal* approximates the critical batch size; the noise scale grows as training progresses, so the
value at the end of a run that kept going past the goal, or of a run that never reached it,
answers another question.

Rule (`measured_noise_scale`, docs/analysis.md section 9):

* per batch size, its **best trial** (the one that reached the goal first) contributes its noise
  scale **at the goal**: the value in the row where it first beat the target, or the last value
  written before it;
* **B_simple** is the median of those values over batch sizes; **infinite values stay in**: they
  are the largest estimates, and dropping them would bias the median low;
* its interval is the **distribution-free interval for the median** over those values: order
  statistics ``[x_(k), x_(n+1-k)]`` with the largest k whose binomial coverage
  ``P(k <= Binomial(n, 1/2) <= n - k)`` reaches `confidence`; `interval_coverage` is that exact
  coverage (with fewer than 5 values no k reaches 90%, and the interval is [min, max] with its
  own, smaller, coverage).

Keras-free (NumPy only). `summarize_noise_scale` takes plain numbers, so the TensorBoard plugin
applies the same rule.

>>> import numpy as np
>>> summary = summarize_noise_scale({16: 80.0, 32: 100.0, 64: np.inf, 128: 120.0, 256: 90.0})
>>> summary.b_simple, summary.interval, round(summary.interval_coverage, 4), summary.infinite
(100.0, (80.0, inf), 0.9375, 1)
"""

import dataclasses
import math

import numpy as np

from tfbsz.analysis.inputs import check_confidence
from tfbsz.analysis.metaparameters import best_trial

__all__ = ["NOISE_SCALE_COLUMN", "NoiseScaleSummary", "value_at_goal", "summarize_noise_scale",
           "measured_noise_scale", "median_interval"]

NOISE_SCALE_COLUMN = "train/gradient_noise_scale"
INTERVAL_NAME = "distribution-free interval for the median over the batch sizes' best trials"


@dataclasses.dataclass
class NoiseScaleSummary:
    """B_simple near the goal: median over batch sizes of each best trial's value at the goal."""

    b_simple: float            # inf when more than half of the values are inf
    trials: int                # best trials with a value (one per batch size)
    by_batch_size: dict        # {batch size: best trial's value at the goal}
    interval: tuple = (math.nan, math.nan)
    interval_coverage: float = math.nan   # exact coverage of `interval`
    infinite: int = 0          # values that are inf (signal below the noise)
    column: str = NOISE_SCALE_COLUMN
    interval_name: str = INTERVAL_NAME


def value_at_goal(steps, values, goal_step):
    """The last value at or before `goal_step` that is a number (inf kept; NaN, None, text skipped), or None."""
    found = None
    for step, value in zip(steps, values):
        try:
            step, value = float(step), float(value)
        except (TypeError, ValueError):
            continue
        if step <= goal_step and not math.isnan(value):
            found = value
    return found


def median_interval(values, confidence=0.9):
    """(low, high, coverage): the order-statistic interval for the median of `values` (inf kept)."""
    x = np.sort(np.asarray(values, float))
    n = x.size
    if n == 0:
        return (math.nan, math.nan, math.nan)
    pmf = np.array([math.comb(n, i) for i in range(n + 1)], float) / 2.0**n
    best = 1
    for k in range(1, n // 2 + 1):
        if pmf[k:n - k + 1].sum() >= confidence:
            best = k
    coverage = float(pmf[best:n - best + 1].sum())
    return (float(x[best - 1]), float(x[n - best]), coverage)


def summarize_noise_scale(values_by_batch_size, confidence=0.9, column=NOISE_SCALE_COLUMN):
    """A `NoiseScaleSummary` from {batch size: value at the goal}, or None when there is none."""
    confidence = check_confidence(confidence)
    values = {b: float(v) for b, v in values_by_batch_size.items() if v is not None and not math.isnan(float(v))}
    if not values:
        return None
    numbers = np.array(list(values.values()), float)
    low, high, coverage = median_interval(numbers, confidence)
    return NoiseScaleSummary(float(np.median(numbers)), len(values), dict(sorted(values.items())), (low, high), coverage,
                             int(np.isinf(numbers).sum()), column)


def measured_noise_scale(workload, target=None, confidence=0.9, column=NOISE_SCALE_COLUMN):
    """B_simple of `workload` near `target` (default: the workload's own), or None.

    None when there is no target, no batch size reached it, or no best trial logged `column`.
    """
    target = target or workload.target
    if target is None:
        return None
    values = {}
    for study in workload.studies:
        best = best_trial(study, target)
        if best is None:
            continue
        trial = next(t for t in study.trials if t.trial_id == best.trial_id)
        if column in trial.column_names:
            values[study.batch_size] = value_at_goal(trial.column("step"), trial.column(column), best.steps)
    return summarize_noise_scale(values, confidence, column)
