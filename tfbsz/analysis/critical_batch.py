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

**Profile-likelihood interval (given the points).** With Gaussian errors of unknown variance
in log S, a parameter value is kept when the residual sum of squares with that value fixed (the
other parameter refitted) stays below ``RSS_min (1 + F(1, n-2; confidence) / (n-2))`` (Bates &
Watts, "Nonlinear Regression Analysis", ch. 6). It treats the measured points as the data: it is
deterministic and honestly asymmetric or open-ended (an upper end of `inf` for B_crit means the
points are consistent with perfect scaling over the whole measured range, a lower end of 0 that
they are consistent with no scaling at all), but it knows search luck only through the scatter
of the points. `tfbsz.analysis.scaling_intervals` gives the intervals that resample the trials
themselves; `fit_log_curves` is the vectorised fit both use.

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

from tfbsz.analysis.inputs import check_confidence, clean_curve
from tfbsz.core.errors import ConfigError

__all__ = ["CriticalBatchFit", "fit_critical_batch", "fit_log_curves", "fit_bounds", "small_batch_limit"]

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


def fit_bounds(log_b):
    """The search range of log B_crit: the measured batch sizes widened by BOUND_FACTOR each way."""
    return (float(np.min(log_b)) - math.log(BOUND_FACTOR), float(np.max(log_b)) + math.log(BOUND_FACTOR))


def _masked_rss(log_s, mask, shape):
    """RSS and best log S_min of each row of `log_s` (R, K) against each `shape` row (R or 1, G, K)."""
    weights = mask[:, None, :]
    diff = np.where(weights > 0, log_s[:, None, :], 0.0) - shape
    count = np.maximum(mask.sum(axis=1), 1.0)[:, None]
    log_s_min = (weights * diff).sum(axis=-1) / count
    rss = (weights * (diff - log_s_min[..., None]) ** 2).sum(axis=-1)
    return rss, log_s_min


GRID_POINTS = 241
REFINEMENTS = 3
CHUNK = 4096


def _grid_rss(log_s, mask, shapes):
    """RSS of each row of `log_s` (R, K) against every row of `shapes` (G, K): an (R, G) array.

    The sums expand into products over K, so no (R, G, K) array is built. `einsum` rather than
    `@`: with K this small, multithreaded BLAS is slower by 10-100x on a loaded machine.
    """
    values = np.where(mask > 0, log_s, 0.0)
    count = np.maximum(mask.sum(axis=1), 1.0)[:, None]
    total = values.sum(axis=1)[:, None] - np.einsum("rk,gk->rg", mask, shapes)    # sum of (log_s - shape)
    squares = ((values**2).sum(axis=1)[:, None] - 2.0 * np.einsum("rk,gk->rg", values, shapes)
               + np.einsum("rk,gk->rg", mask, shapes**2))
    return squares - total**2 / count


def fit_log_curves(log_b, log_steps):
    """Vectorised least-squares fits of ``log S = log S_min + log(1 + B_crit / B)``, one per row.

    Args:
        log_b: log batch sizes, shape (K,).
        log_steps: log steps, shape (R, K); non-finite entries (missed the goal) are left out.

    Returns:
        (log_b_crit, log_s_min, rss), each of shape (R,); NaN for rows with fewer than 3 points
        or fewer than 2 distinct batch sizes. A grid of `GRID_POINTS` over `fit_bounds`, then
        `REFINEMENTS` rounds of a 21-point grid ten times finer: log B_crit to about 1e-4.

    >>> import numpy as np
    >>> b = np.log([64., 256., 1024., 4096.])
    >>> c, s, _ = fit_log_curves(b, np.log([[1000 * (1 + 300 / x) for x in np.exp(b)]]))
    >>> round(float(np.exp(c[0]))), round(float(np.exp(s[0])))
    (300, 1000)
    """
    log_b = np.asarray(log_b, float)
    log_steps = np.atleast_2d(np.asarray(log_steps, float))
    mask = np.isfinite(log_steps).astype(float)
    low, high = fit_bounds(log_b)
    grid = np.linspace(low, high, GRID_POINTS)
    center = np.concatenate([grid[np.argmin(_grid_rss(log_steps[i:i + CHUNK], mask[i:i + CHUNK], _curve(grid[:, None], log_b)), axis=1)]
                             for i in range(0, log_steps.shape[0], CHUNK)])
    width = grid[1] - grid[0]
    rows = np.arange(log_steps.shape[0])
    for _ in range(REFINEMENTS):
        local = np.clip(center[:, None] + np.linspace(-width, width, 21)[None, :], low, high)
        rss, _ = _masked_rss(log_steps, mask, _curve(local[..., None], log_b))
        center = local[rows, np.argmin(rss, axis=1)]
        width /= 10.0
    rss, log_s_min = _masked_rss(log_steps, mask, _curve(center[:, None, None], log_b))
    masked_b = np.where(mask > 0, log_b, np.nan)
    with np.errstate(all="ignore"):
        usable = (mask.sum(axis=1) >= 3) & (np.nanmax(masked_b, axis=1, initial=-np.inf) > np.nanmin(masked_b, axis=1, initial=np.inf))
    nan = np.full(center.shape, math.nan)
    return np.where(usable, center, nan), np.where(usable, log_s_min[:, 0], nan), np.where(usable, rss[:, 0], nan)


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


def best_log_b_crit(log_b, log_s):
    """The least-squares log B_crit of one curve (all points finite), to about 1e-10.

    `fit_log_curves` brackets it; a bounded scalar minimisation polishes it.
    """
    bounds = fit_bounds(log_b)
    rough, _, rough_rss = fit_log_curves(log_b, log_s[None, :])
    step = (bounds[1] - bounds[0]) / (GRID_POINTS - 1) / 10.0 ** REFINEMENTS
    res = optimize.minimize_scalar(
        lambda c: _rss_given_b_crit(c, log_b, log_s)[0],
        bounds=(max(rough[0] - step, bounds[0]), min(rough[0] + step, bounds[1])),
        method="bounded", options={"xatol": 1e-10},
    )
    return float(res.x) if res.fun <= rough_rss[0] else float(rough[0])


def small_batch_limit(batch_sizes, steps):
    """E_min = S_min * B_crit of the least-squares fit (no intervals); batch sizes distinct, >= 3.

    >>> round(small_batch_limit([64, 256, 1024], [1000 * (1 + 300 / b) for b in [64, 256, 1024]]))
    300000
    """
    log_b, log_s = np.log(np.asarray(batch_sizes, float)), np.log(np.asarray(steps, float))
    log_b_crit = best_log_b_crit(log_b, log_s)
    return math.exp(log_b_crit + _rss_given_b_crit(log_b_crit, log_b, log_s)[1])


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
    confidence = check_confidence(confidence)
    bs, ss, dropped = clean_curve(batch_sizes, steps)
    notes = [f"dropped batch sizes that missed the goal: {dropped}"] if dropped else []
    if len(bs) < 3 or len(set(bs)) < 2:
        raise ConfigError(
            f"steps: expected at least 3 points over 2+ batch sizes that reached the goal, "
            f"got {len(bs)} point(s) at batch sizes {sorted(set(bs))}"
        )
    log_b, log_s = np.log(np.asarray(bs, float)), np.log(np.asarray(ss, float))
    bounds = fit_bounds(log_b)
    log_b_crit = best_log_b_crit(log_b, log_s)
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
