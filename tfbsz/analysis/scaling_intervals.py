"""Intervals that include search luck: B_crit, S_min, the regime boundaries and every batch size's steps.

One stratified smoothed bootstrap over trials (`tfbsz.analysis.search_luck`) drives all of them:
each resample redraws the trials of every batch size, takes each batch size's minimum (its steps
to result), **refits the whole curve** S(B) = S_min (1 + B_crit / B) (`fit_log_curves`) and
reapplies the regime rules against that resample's own fitted small-batch limit
(`regime_boundaries`). The intervals answer "how different could the answer have been with
another search of the same size?": for steps, B_crit and S_min, the spread of the resampled
values (log scale) centred on the point estimate (`centered_interval`); for the regime
boundaries, which take few values, plain percentiles of the resampled boundaries.

Names used in the report for each interval (all at `confidence`, 90% by default):

* steps per batch size: *search-luck interval* (smoothed bootstrap percentile interval);
* B_crit, S_min: *bootstrap interval over trials, curve refitted*; 0 or inf mark an open end
  (the fit ran into the bounds of `fit_bounds`);
* regime boundaries: *bootstrap interval over trials*; a last perfect batch size of 0 means "no
  batch size scales perfectly", a maximal useful batch size of inf "beyond the measured range".

Estimands (what the intervals cover, docs/analysis.md section 3): the steps to result that a search
of this many trials finds at each batch size (the median over repeated searches; the minimum
over trials is a median-unbiased estimate of it), and B_crit and S_min of the curve through those.

Example:

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> sizes = [16, 32, 64, 128, 256, 512]
>>> trials = [1000 * (1 + 128 / b) * np.exp(np.abs(rng.normal(0, 0.3, 8))) for b in sizes]
>>> iv = scaling_intervals(sizes, trials, n_resamples=500)
>>> bool(iv.b_crit[0] < 128 < iv.b_crit[1]), iv.fitted
(True, 1.0)
"""

import dataclasses
import math

import numpy as np

from tfbsz.analysis.critical_batch import best_log_b_crit, fit_bounds, fit_log_curves
from tfbsz.analysis.inputs import check_confidence, check_resamples, is_number
from tfbsz.analysis.regimes import REFERENCES, regime_boundaries
from tfbsz.analysis.search_luck import bandwidths, centered_interval, percentile_interval, resample_log_minima
from tfbsz.core.errors import ConfigError

__all__ = ["ScalingIntervals", "scaling_intervals", "STEPS_INTERVAL", "CURVE_INTERVAL"]

STEPS_INTERVAL = "search-luck interval (smoothed bootstrap over trials)"
CURVE_INTERVAL = "bootstrap interval over trials, curve refitted"


@dataclasses.dataclass(frozen=True)
class ScalingIntervals:
    """Percentile intervals from one bootstrap over trials (module docstring)."""

    confidence: float
    n_resamples: int
    batch_sizes: list       # increasing
    steps: dict             # {batch size: (low, high)}; high = inf when resamples miss the goal
    b_crit: tuple           # (low, high), or None when no resample could be fitted
    s_min: tuple
    last_perfect: tuple     # (low, high) batch sizes; 0 = no batch size scales perfectly
    max_useful: tuple       # (low, high) batch sizes; inf = beyond the measured range
    fitted: float           # fraction of resamples with at least 3 batch sizes reaching the goal
    bandwidths: dict        # {batch size: smoothing bandwidth in log steps}


def _first_steps_array(steps):
    values = [math.inf if s is None or (is_number(s) and math.isnan(s)) else s for s in np.ravel(np.asarray(steps, object))]
    if any(not is_number(v) or not v > 0 for v in values):
        raise ConfigError(f"first_steps: expected positive numbers, inf or None per trial, got {list(values)!r}")
    return np.array(values, float)


def _index_interval(indices, values, confidence):
    indices = indices[indices >= -1]
    if indices.size == 0:
        return None
    low, high = percentile_interval(indices, confidence)
    return (values(int(low)), values(int(high)))


def scaling_intervals(batch_sizes, first_steps, confidence=0.9, n_resamples=2000, seed=0,
                      tolerance=0.2, min_reduction=0.1, reference="fit"):
    """Bootstrap intervals over trials for every quantity of the scaling analysis.

    Args:
        batch_sizes: the K batch sizes (Python or NumPy numbers, distinct).
        first_steps: K sequences, each trial's first goal-reaching step at that batch size
            (inf or None: the trial missed the goal), e.g. from `tfbsz.analysis.first_steps`.
        confidence: coverage of every interval, in (0, 1). Defaults to 0.9.
        n_resamples: bootstrap resamples (>= 100). Defaults to 2000.
        seed: bootstrap seed. Defaults to 0.
        tolerance, min_reduction, reference: the regime rules (`classify_regimes`).

    Returns:
        `ScalingIntervals`.
    """
    confidence = check_confidence(confidence)
    n_resamples = check_resamples(n_resamples)
    if reference not in REFERENCES:
        raise ConfigError(f"reference: expected one of {', '.join(REFERENCES)}, got {reference!r}")
    batch_sizes, first_steps = list(batch_sizes), list(first_steps)
    if len(batch_sizes) != len(first_steps):
        raise ConfigError(f"batch_sizes and first_steps: expected the same length, got "
                          f"{len(batch_sizes)} and {len(first_steps)}")
    if not batch_sizes or any(not is_number(b) or not b > 0 for b in batch_sizes) or len(set(batch_sizes)) < len(batch_sizes):
        raise ConfigError(f"batch_sizes: expected distinct positive numbers, got {batch_sizes!r}")
    order = sorted(range(len(batch_sizes)), key=lambda i: batch_sizes[i])
    sizes = [batch_sizes[i].item() if hasattr(batch_sizes[i], "item") else batch_sizes[i] for i in order]
    firsts = [_first_steps_array(first_steps[i]) for i in order]
    log_b = np.log(np.array(sizes, float))

    h = bandwidths(firsts)
    minima = resample_log_minima(firsts, n_resamples, seed, h)
    log_b_crit, log_s_min, _ = fit_log_curves(log_b, minima)
    log_e_min = log_b_crit + log_s_min if reference == "fit" else np.full(n_resamples, math.nan)
    last_perfect, max_useful = regime_boundaries(log_b, minima, log_e_min, tolerance, min_reduction)

    fitted = np.isfinite(log_b_crit)
    point = np.log([f.min() for f in firsts])
    b_crit = s_min = None
    enough_points = np.isfinite(point).sum() >= 3
    if enough_points and 1.0 - fitted.mean() > (1.0 - confidence) / 2:
        # More resamples than one tail's share could not fit a curve (a batch size missed the goal
        # in them: e.g. it has only one trial that reached it). Percentiles of the fitted ones alone
        # would describe only the lucky resamples (with one reaching trial per batch size and no
        # spread to smooth, they are all the same point): the interval is unbounded instead.
        b_crit, s_min = (0.0, math.inf), (0.0, math.inf)
    elif enough_points and fitted.any():
        low_bound, high_bound = fit_bounds(log_b)
        reached = np.isfinite(point)
        c0 = best_log_b_crit(log_b[reached], point[reached])
        s0 = float(np.mean(point[reached] - np.logaddexp(0.0, c0 - log_b[reached])))
        c_low, c_high = percentile_interval(log_b_crit[fitted], confidence)
        b_low, b_high = centered_interval(log_b_crit[fitted], c0, confidence)
        b_crit = (0.0 if c_low <= low_bound + 1e-3 else b_low, math.inf if c_high >= high_bound - 1e-3 else b_high)
        s_min = centered_interval(log_s_min[fitted], s0, confidence)
    k = len(sizes)
    return ScalingIntervals(
        confidence=confidence,
        n_resamples=n_resamples,
        batch_sizes=sizes,
        steps={b: centered_interval(minima[:, j], point[j], confidence) if np.isfinite(point[j]) else (math.inf, math.inf)
               for j, b in enumerate(sizes)},
        b_crit=b_crit,
        s_min=s_min,
        last_perfect=_index_interval(last_perfect, lambda i: 0 if i < 0 else sizes[i], confidence),
        max_useful=_index_interval(np.where(max_useful < 0, -2, max_useful), lambda i: math.inf if i >= k else sizes[i], confidence),
        fitted=float(fitted.mean()),
        bandwidths={b: float(v) for b, v in zip(sizes, h)},
    )
