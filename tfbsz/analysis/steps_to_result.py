"""Steps to result (Shallue et al. 2018) and its search-luck interval (bootstrap over trials).

*Steps to result* of a batch size is the smallest `step`, over all measurements of its COMPLETE
trials, whose metric strictly beats the threshold (`<` when minimising, `>` when maximising);
`None` when no trial got there. It equals the minimum over trials of each trial's first
goal-reaching step (Shallue et al.'s `measurement_utils.compute_steps_to_result` over the trials
their loader reads by default). The rule itself lives in `tfbsz.records.summary` (one definition
for summary.json, the report, the analysis and the dashboard); this module adds the statistics.

Because it is a minimum over a metaparameter search, it carries the luck of that search.
`bootstrap_steps_to_result` measures that luck with the smoothed bootstrap of
`tfbsz.analysis.search_luck` (trials resampled with replacement, each resampled log first step
jittered by a kernel bandwidth, minimum taken) and returns the spread of those minima centred on
the point estimate (`search_luck.centered_interval`): the *90% search-luck interval*. Its lower
end lies below the point estimate whenever the trials that reached the goal have a spread: a
luckier search of the same size could have been faster. The resampled trials (`first_steps`)
are the COMPLETE and the INFEASIBLE (diverged) ones, a diverged trial never reaching the goal;
INCOMPLETE trials (stopped before their budget for some reason) are left out.

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

from tfbsz.analysis.inputs import check_confidence, check_resamples
from tfbsz.analysis.search_luck import bandwidths, centered_interval, resample_log_minima
from tfbsz.core.errors import ConfigError
from tfbsz.records import results
from tfbsz.records.summary import best_result, first_step_reaching

__all__ = [
    "first_step_reaching",
    "first_steps",
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


def resampled_trials(trials):
    """The trials that make up a search for the statistics: all but the INCOMPLETE ones."""
    return [t for t in trials if t.status != results.STATUS_INCOMPLETE]


def first_steps(trials, target):
    """The trials a search's luck is resampled from, as a float array of first goal-reaching steps.

    COMPLETE trials give their first step beating the target (inf when they never did), INFEASIBLE
    (diverged) ones inf; INCOMPLETE ones are left out. Raises ConfigError when trials have
    measurements but none has the target's column.
    """
    trials = list(trials)
    _check_metric(trials, target)
    drawn = resampled_trials(trials)
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
    """Steps to result with its search-luck interval (`low`, `high`); `high` is `inf` when
    resamples can miss the goal."""

    steps: int
    low: float
    high: float
    confidence: float
    n_trials: int
    n_reached: int
    bandwidth: float = 0.0   # smoothing of the bootstrap, in log steps


def bootstrap_steps_to_result(trials, target, confidence=0.9, n_resamples=2000, seed=0, bandwidth=None):
    """Steps to result and its search-luck interval (smoothed bootstrap, centred on the estimate).

    Args:
        trials: all trials of one batch size.
        target: a `Target`.
        confidence: interval coverage in (0, 1). Defaults to 0.9.
        n_resamples: bootstrap resamples (>= 100). Defaults to 2000.
        seed: seed of the NumPy generator, so the interval is reproducible. Defaults to 0.
        bandwidth: smoothing in log steps; defaults to Silverman's rule on these trials
            (`tfbsz.analysis.search_luck.bandwidths`).

    Returns:
        `StepsEstimate`, or None when no COMPLETE trial reached the target.

    Example:

    >>> from tfbsz.analysis import Target, Trial
    >>> trials = [Trial(i, {}, "COMPLETE", {"step": [s], "loss": [0.0]})
    ...           for i, s in enumerate([100, 120, 150, 400])]
    >>> est = bootstrap_steps_to_result(trials, Target("loss", 1.0), seed=1)
    >>> est.steps, est.low < est.steps < est.high
    (100, True)
    """
    confidence = check_confidence(confidence)
    n_resamples = check_resamples(n_resamples)
    firsts = first_steps(trials, target)
    if firsts.size == 0 or not np.isfinite(firsts).any():
        return None
    minima = resample_log_minima([firsts], n_resamples, seed, bandwidth)[:, 0]
    low, high = centered_interval(minima, math.log(firsts.min()), confidence)
    return StepsEstimate(
        steps=int(firsts.min()),
        low=low,
        high=high,
        confidence=confidence,
        n_trials=int(firsts.size),
        n_reached=int(np.isfinite(firsts).sum()),
        bandwidth=float(bandwidths([firsts])[0] if bandwidth is None else bandwidth),
    )
