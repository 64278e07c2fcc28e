"""Search luck: resampling the trials of each batch size, the basis of every interval in the analysis.

Steps to result is a minimum over a metaparameter search: another search of the same size would
have drawn other trials and found another minimum. We measure that luck with a **stratified
smoothed bootstrap** over trials:

* each batch size is resampled on its own (trials with replacement, as many as it has), so the
  number of trials per batch size stays what it was;
* every resampled trial's log first-goal-reaching step gets Gaussian noise of standard deviation
  `h` (its batch size's *bandwidth*), and a trial that missed the goal stays missed (infinite);
* the resample's steps to result is the minimum.

Intervals take their spread from these resampled minima and their centre from the point estimate
(`centered_interval`): the minimum over trials is median-unbiased for the steps a search of that
size finds, while resampled minima are not centred on it.

Without the noise a resampled minimum can never fall below the observed one, so a plain
bootstrap interval always starts at the point estimate (the best trial is in about 63% of
resamples), and says nothing about how much luckier a search could have been. The noise is a
kernel density estimate of the per-trial distribution (Silverman's rule of thumb on the log steps
of the trials that reached the goal, ``h = 0.9 min(sd, IQR / 1.34) m^(-1/5)``); batch sizes with
fewer than two reaching trials (or no spread) borrow the median bandwidth of the others.
docs/analysis.md section 3 gives the coverage this achieves on simulated studies.

Example:

>>> import numpy as np
>>> minima = resample_log_minima([np.array([100., 120., 150., np.inf])], n_resamples=1000, seed=0)
>>> minima.shape
(1000, 1)
>>> low, high = percentile_interval(np.exp(minima[:, 0]), 0.9)
>>> bool(low < 100 < high)
True
"""

import math

import numpy as np

__all__ = ["bandwidths", "resample_log_minima", "percentile_interval", "centered_interval"]


def _silverman(log_steps):
    finite = np.sort(log_steps[np.isfinite(log_steps)])
    if finite.size < 2:
        return math.nan
    sd = float(np.std(finite, ddof=1))
    q75, q25 = np.percentile(finite, [75, 25])
    spread = min(sd, (q75 - q25) / 1.34) if q75 > q25 else sd
    return 0.9 * spread * finite.size ** -0.2 if spread > 0 else math.nan


def bandwidths(first_steps):
    """Bandwidth (in log steps) of each batch size's smoothing, from a list of first-step arrays.

    `first_steps[k]` holds each trial's first goal-reaching step at batch size k (inf: missed).
    Batch sizes without a spread of their own take the median of the others; 0 when none has one.
    """
    own = np.array([_silverman(np.log(np.asarray(f, float))) for f in first_steps], float)
    known = own[np.isfinite(own)]
    fill = float(np.median(known)) if known.size else 0.0
    return np.where(np.isfinite(own), own, fill)


def resample_log_minima(first_steps, n_resamples=2000, seed=0, bandwidth=None):
    """Log steps to result of `n_resamples` smoothed bootstrap resamples, shape (n_resamples, K).

    Args:
        first_steps: list of K arrays, each trial's first goal-reaching step (inf: missed) at one
            batch size.
        n_resamples: resamples.
        seed: seed; batch size k draws from its own stream ``default_rng([seed, k])``, so a batch
            size's resamples do not depend on how many others there are.
        bandwidth: per-batch-size bandwidths; defaults to `bandwidths(first_steps)`.

    Returns:
        float array; +inf where no resampled trial reached the goal.
    """
    h = bandwidths(first_steps) if bandwidth is None else np.broadcast_to(np.asarray(bandwidth, float), (len(first_steps),))
    out = np.full((n_resamples, len(first_steps)), math.inf)
    for k, steps in enumerate(first_steps):
        log_steps = np.log(np.asarray(steps, float))
        if log_steps.size == 0:
            continue
        rng = np.random.default_rng([seed, k])
        draws = log_steps[rng.integers(0, log_steps.size, size=(n_resamples, log_steps.size))]
        if h[k] > 0:
            draws = draws + h[k] * rng.standard_normal(draws.shape)
        out[:, k] = draws.min(axis=1)
    return out


def percentile_interval(samples, confidence):
    """(low, high) percentile interval of `samples` (NaN ignored; ends on sample values, inf kept)."""
    samples = np.asarray(samples, float)
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return (math.nan, math.nan)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [alpha, 1.0 - alpha], method="inverted_cdf")
    return (float(low), float(high))


def centered_interval(log_samples, log_estimate, confidence):
    """(low, high), on the linear scale, of log samples re-centred so that their median is the estimate.

    The minimum over a search's trials is a median-unbiased estimate of the steps a search of that
    size finds (the best of 2n trials is equally likely to be in either half), but resampled minima
    are not centred on it: duplicated trials push them up, the smoothing pulls them down. So the
    bootstrap provides the spread and the point estimate the centre:
    ``[estimate * exp(q_low - median), estimate * exp(q_high - median)]``. Infinite quantiles
    (resamples that missed the goal) stay infinite.

    >>> import numpy as np
    >>> low, high = centered_interval(np.log([90., 100., 110., 120., 130.]), np.log(100.), 0.5)
    >>> round(low, 1), round(high, 1)
    (90.9, 109.1)
    """
    log_samples = np.asarray(log_samples, float)
    log_samples = log_samples[~np.isnan(log_samples)]
    if log_samples.size == 0:
        return (math.nan, math.nan)
    median = float(np.quantile(log_samples, 0.5, method="inverted_cdf"))
    low, high = percentile_interval(log_samples, confidence)
    if not math.isfinite(median):  # most resamples missed: no centre to move, plain percentiles
        return (math.exp(low) if math.isfinite(low) else math.inf, math.inf)
    return tuple(math.exp(log_estimate + v - median) if math.isfinite(v) else (math.inf if v > 0 else 0.0)
                 for v in (low, high))
