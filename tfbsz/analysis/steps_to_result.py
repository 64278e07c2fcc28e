"""Steps to result (Shallue et al. 2018) and its bootstrap confidence interval over trials.

*Steps to result* of a batch size is the smallest `step`, over all measurements of its COMPLETE
trials, whose metric strictly beats the threshold (`<` when minimising, `>` when maximising);
`None` when no trial got there. It equals the minimum over trials of each trial's first
goal-reaching step (Shallue et al.'s `measurement_utils.compute_steps_to_result` over the trials
their loader reads by default). The rule itself lives in `tfbsz.records.summary` (one definition
for summary.json, the report, the analysis and the dashboard); this module adds the statistics.

Because it is a minimum over a metaparameter search, it carries the luck of that search.
`bootstrap_steps_to_result` resamples the trials with replacement, recomputes the minimum and
returns a percentile interval (the Tuning Playbook's Figure 3 bootstraps a study the same way).
The resampled trials are the COMPLETE and the INFEASIBLE (diverged) ones, a diverged trial never
reaching the goal; INCOMPLETE trials (stopped before their budget for some reason) are left out.
The point estimate is the smallest possible resampled value, so the interval always starts at or
above it and reaches it whenever the best trial is drawn often enough (about 63% of resamples).

Example:

>>> from tfbsz.analysis import Target, first_step_reaching, Trial
>>> t = Trial("1", {}, "COMPLETE", {"step": [10, 20, 30],
...                                 "val/classification_error": [0.3, 0.1, 0.05]})
>>> first_step_reaching(t, Target("val/classification_error", 0.1))   # strict: 0.1 does not beat 0.1
30
"""

import dataclasses
import math

import numpy as np

from tfbsz.core.errors import ConfigError
from tfbsz.records import results
from tfbsz.records.summary import best_result, first_step_reaching

__all__ = [
    "first_step_reaching",
    "steps_to_result",
    "StepsEstimate",
    "bootstrap_steps_to_result",
]


def _check_metric(trials, target):
    measured = [t for t in trials if t.measurements]
    if measured and not any(target.metric in t.column_names for t in measured):
        columns = sorted({c for t in measured for c in t.column_names})
        raise ConfigError(f"target.metric: column {target.metric!r} is in no trial's measurements; "
                          f"columns are {columns}")


def _first_steps(trials, target):
    """Each resampled trial's first goal-reaching step (inf when it never reaches the goal)."""
    _check_metric(trials, target)
    drawn = [t for t in trials if t.status != results.STATUS_INCOMPLETE]
    return np.array(
        [s if t.counts_toward_result and (s := first_step_reaching(t, target)) is not None else math.inf
         for t in drawn],
        dtype=float,
    )


def steps_to_result(trials, target):
    """Smallest step at which any COMPLETE trial of `trials` strictly beats `target`; None when none does.

    Args:
        trials: iterable of `Trial` (all trials of one batch size).
        target: a `Target` (metric column, threshold, direction).

    Returns:
        int or None.
    """
    trials = list(trials)
    _check_metric(trials, target)
    found = best_result(trials, target)
    return None if found is None else found[0]


@dataclasses.dataclass(frozen=True)
class StepsEstimate:
    """Steps to result with a bootstrap interval; `high` is `inf` when resamples can miss the goal."""

    steps: int
    low: float
    high: float
    confidence: float
    n_trials: int
    n_reached: int


def bootstrap_steps_to_result(trials, target, confidence=0.9, n_resamples=2000, seed=0):
    """Steps to result and a percentile bootstrap interval over trials.

    Args:
        trials: all trials of one batch size.
        target: a `Target`.
        confidence: interval coverage in (0, 1). Defaults to 0.9.
        n_resamples: bootstrap resamples (>= 100). Defaults to 2000.
        seed: seed of the NumPy generator, so the interval is reproducible. Defaults to 0.

    Returns:
        `StepsEstimate`, or None when no trial reached the target.

    Example:

    >>> from tfbsz.analysis import Target, Trial
    >>> trials = [Trial(i, {}, "COMPLETE", {"step": [s], "loss": [0.0]})
    ...           for i, s in enumerate([100, 120, 150, 400])]
    >>> est = bootstrap_steps_to_result(trials, Target("loss", 1.0), seed=1)
    >>> est.steps, est.low <= est.steps <= est.high
    (100, True)
    """
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence: expected a number in (0, 1), got {confidence!r}")
    if not isinstance(n_resamples, int) or n_resamples < 100:
        raise ConfigError(f"n_resamples: expected an integer >= 100, got {n_resamples!r}")
    firsts = _first_steps(list(trials), target)
    if firsts.size == 0 or not np.isfinite(firsts).any():
        return None
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, firsts.size, size=(n_resamples, firsts.size))
    minima = firsts[picks].min(axis=1)
    alpha = (1.0 - confidence) / 2.0
    # "inverted_cdf" keeps interval ends on observed values (and handles inf without NaN).
    low, high = np.quantile(minima, [alpha, 1.0 - alpha], method="inverted_cdf")
    return StepsEstimate(
        steps=int(firsts.min()),
        low=float(low),
        high=float(high),
        confidence=confidence,
        n_trials=int(firsts.size),
        n_reached=int(np.isfinite(firsts).sum()),
    )
