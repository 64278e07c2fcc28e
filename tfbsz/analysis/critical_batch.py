"""Fitting McCandlish et al.'s steps/batch-size curve S(B) = S_min (1 + B_crit / B).

McCandlish et al. (2018, "An Empirical Model of Large-Batch Training") model the steps S needed
to reach a goal at batch size B as ``S = S_min (1 + B_crit / B)``: S_min is the fewest steps any
batch size can need, and B_crit = E_min / S_min the *critical batch size*, where training costs
twice the minimal steps and twice the minimal examples.

**Fit.** Least squares on log S, because steps vary over orders of magnitude and their noise is
relative (a 10% luckier search is 10% at any batch size). For a fixed B_crit the best log S_min is
a mean, so the fit is a one-dimensional search over log B_crit, bounded to
``[B_min / 1000, B_max * 1000]``. Open-ended intervals and a B_crit outside the measured batch
sizes are flagged in `notes`.

**Confidence intervals: profile likelihood on log scale.** With Gaussian errors of unknown
variance in log S, a parameter value is kept when the residual sum of squares with that value
fixed (the other parameter refitted) stays below ``RSS_min (1 + F(1, n-2; confidence) / (n-2))``
(Bates & Watts, "Nonlinear Regression Analysis", ch. 6). We chose it over a residual bootstrap
because studies have few batch sizes (5-15): resampling a handful of residuals is itself noisy,
whereas the profile interval is deterministic, needs no seed, and is honestly asymmetric or
open-ended: an upper end of `inf` for B_crit means the data are consistent with perfect scaling
over the whole measured range, a lower end of 0 that they are consistent with no scaling at all.

Example:

>>> bs = [16, 32, 64, 128, 256, 512, 1024, 2048]
>>> steps = [3000 * (1 + 256 / b) for b in bs]
>>> fit = fit_critical_batch(bs, steps)
>>> round(fit.b_crit), round(fit.s_min)
(256, 3000)
"""

import dataclasses
import math

import numpy as np
from scipy import optimize, stats

from tfbsz.analysis.regimes import clean_curve
from tfbsz.core.errors import ConfigError

__all__ = ["CriticalBatchFit", "fit_critical_batch"]

BOUND_FACTOR = 1000.0


@dataclasses.dataclass(frozen=True)
class CriticalBatchFit:
    """Result of `fit_critical_batch`. Intervals are (low, high); 0 or inf mean open-ended."""

    b_crit: float
    s_min: float
    b_crit_interval: tuple
    s_min_interval: tuple
    confidence: float
    batch_sizes: list
    steps: list
    residual_std: float           # standard deviation of log-steps residuals
    dropped: list                 # batch sizes given None steps (missed the goal)
    notes: list

    @property
    def e_min(self):
        """Fewest training examples to the goal: S_min * B_crit."""
        return self.s_min * self.b_crit

    def predict(self, batch_sizes):
        """Fitted steps S_min (1 + B_crit / B) at `batch_sizes` (NumPy array)."""
        return self.s_min * (1.0 + self.b_crit / np.asarray(batch_sizes, dtype=float))


def _curve(log_b_crit, log_b):
    return np.logaddexp(0.0, log_b_crit - log_b)  # log(1 + B_crit / B), overflow-safe


def _rss_given_b_crit(log_b_crit, log_b, log_s):
    shape = _curve(log_b_crit, log_b)
    log_s_min = float(np.mean(log_s - shape))
    return float(np.sum((log_s - log_s_min - shape) ** 2)), log_s_min


def _rss_given_s_min(log_s_min, log_b, log_s, bounds):
    res = optimize.minimize_scalar(
        lambda c: float(np.sum((log_s - log_s_min - _curve(c, log_b)) ** 2)),
        bounds=bounds, method="bounded", options={"xatol": 1e-6},
    )
    return float(res.fun)


def _crossing(f, inside, outside):
    """Where f (negative at `inside`) turns positive on the way to `outside`; None if never."""
    if f(outside) <= 0:
        return None
    return optimize.brentq(f, inside, outside, xtol=1e-8)


def fit_critical_batch(batch_sizes, steps, confidence=0.9):
    """Fits S(B) = S_min (1 + B_crit / B) in log space, with profile-likelihood intervals.

    Args:
        batch_sizes: batch sizes (positive numbers).
        steps: steps to result per batch size; None or NaN (missed the goal) is dropped with a note.
        confidence: interval coverage in (0, 1). Defaults to 0.9.

    Returns:
        `CriticalBatchFit` with `b_crit`, `s_min`, `b_crit_interval`, `s_min_interval`.

    Raises:
        ConfigError: fewer than 3 usable points, fewer than 2 distinct batch sizes,
            non-positive batch sizes or steps, or a bad `confidence`.
    """
    if not isinstance(confidence, float) or not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence: expected a number in (0, 1), got {confidence!r}")
    bs, ss, dropped = clean_curve(batch_sizes, steps)
    notes = [f"dropped batch sizes that missed the goal: {dropped}"] if dropped else []
    if len(bs) < 3 or len(set(bs)) < 2:
        raise ConfigError(
            f"steps: expected at least 3 points over 2+ batch sizes that reached the goal, "
            f"got {len(bs)} point(s) at batch sizes {sorted(set(bs))}"
        )
    log_b, log_s = np.log(np.asarray(bs, float)), np.log(np.asarray(ss, float))
    bounds = (log_b.min() - math.log(BOUND_FACTOR), log_b.max() + math.log(BOUND_FACTOR))

    grid = np.linspace(*bounds, 201)
    rss_grid = [_rss_given_b_crit(c, log_b, log_s)[0] for c in grid]
    k = int(np.argmin(rss_grid))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    res = optimize.minimize_scalar(
        lambda c: _rss_given_b_crit(c, log_b, log_s)[0],
        bounds=(lo, hi), method="bounded", options={"xatol": 1e-9},
    )
    log_b_crit = float(res.x) if res.fun <= rss_grid[k] else float(grid[k])
    rss_min, log_s_min = _rss_given_b_crit(log_b_crit, log_b, log_s)

    n = len(bs)
    dof = n - 2
    threshold = rss_min * (1.0 + stats.f.ppf(confidence, 1, dof) / dof) + 1e-12

    def over_b(c):
        return _rss_given_b_crit(c, log_b, log_s)[0] - threshold

    b_low = _crossing(over_b, log_b_crit, bounds[0])
    b_high = _crossing(over_b, log_b_crit, bounds[1])

    def over_s(a):
        return _rss_given_s_min(a, log_b, log_s, bounds) - threshold

    span = 30.0  # e^30: far beyond any plausible steps range
    s_low = _crossing(over_s, log_s_min, log_s_min - span)
    s_high = _crossing(over_s, log_s_min, log_s_min + span)

    if b_low is None:
        notes.append("B_crit interval open below: the data are consistent with no scaling (B_crit -> 0)")
    if b_high is None:
        notes.append("B_crit interval open above: the data are consistent with perfect scaling "
                     "over the measured range (B_crit -> inf)")
    if not min(bs) <= math.exp(log_b_crit) <= max(bs):
        notes.append("B_crit lies outside the measured batch sizes (extrapolated)")

    residuals = log_s - log_s_min - _curve(log_b_crit, log_b)
    return CriticalBatchFit(
        b_crit=math.exp(log_b_crit),
        s_min=math.exp(log_s_min),
        b_crit_interval=(0.0 if b_low is None else math.exp(b_low),
                         math.inf if b_high is None else math.exp(b_high)),
        s_min_interval=(0.0 if s_low is None else math.exp(s_low),
                        math.inf if s_high is None else math.exp(s_high)),
        confidence=confidence,
        batch_sizes=[float(b) for b in bs],
        steps=[float(x) for x in ss],
        residual_std=float(np.sqrt(np.sum(residuals**2) / max(dof, 1))),
        dropped=dropped,
        notes=notes,
    )
