"""The perfect-scaling reference and the three regimes of a steps-to-result curve (Shallue et al. 2018).

Shallue et al. read the regimes off plots; tfbsz states numeric rules (docs/analysis.md section 4):

* **Perfect-scaling reference**: the *fitted small-batch limit* ``E_min / B`` of McCandlish et
  al.'s curve S(B) = S_min (1 + B_crit / B) (E_min = S_min B_crit, the fewest examples), which
  every measured point helps to place. With fewer than 3 batch sizes that reached the goal (no
  fit) it falls back to Shallue et al.'s plotting convention, the line of slope -1 through the
  smallest batch size that reached the goal (`reference="smallest"` asks for it always).
* **Perfect scaling**: the leading run of batch sizes (from the smallest that reached the goal)
  whose steps stay within ``(1 + tolerance)`` of the reference. `tolerance` defaults to 0.2, the
  20% step overhead at which Zhang et al. (2024) define the critical batch size. On the fitted
  curve this is B <= tolerance * B_crit. None when even the smallest batch size is slower.
* **Maximal useful batch size**: the smallest batch size that reached the goal such that no
  larger measured batch size needs fewer than ``(1 - min_reduction)`` times its steps. A larger
  batch size that **missed** the goal counts as not faster (its steps exceed the budget), so it
  bounds the maximal useful batch size instead of vanishing. None only when that batch size is
  the largest one measured: the limit lies beyond the measured range.
* **Diminishing returns**: everything between the two.

`regime_boundaries` applies the rules to many curves at once (the bootstrap of
`tfbsz.analysis.scaling_intervals` uses it); `classify_regimes` to one.

Example:

>>> r = classify_regimes([32, 64, 128, 256, 512, 1024, 2048], [1400, 740, 450, 300, 230, 190, 180])
>>> r.regimes
['perfect', 'diminishing', 'diminishing', 'diminishing', 'diminishing', 'diminishing', 'beyond_max_useful']
>>> r.last_perfect_batch_size, r.max_useful_batch_size, r.reference
(32, 1024, 'fit')
>>> knee = classify_regimes([32, 64, 128, 256, 512], [1000, 500, 260, 170, 160], reference="smallest")
>>> knee.last_perfect_batch_size, knee.max_useful_batch_size
(128, 256)
>>> classify_regimes([32, 64, 128, 256], [1000, 500, 400, None]).max_useful_batch_size
128
"""

import dataclasses
import math

import numpy as np

from tfbsz.analysis.critical_batch import small_batch_limit
from tfbsz.analysis.inputs import clean_curve, is_number
from tfbsz.core.errors import ConfigError

__all__ = ["perfect_scaling_line", "Regimes", "classify_regimes", "regime_boundaries", "REFERENCES"]

PERFECT = "perfect"
DIMINISHING = "diminishing"
BEYOND = "beyond_max_useful"
REFERENCES = ("fit", "smallest")


def perfect_scaling_line(batch_sizes, steps, reference_batch_size=None):
    """Steps that perfect scaling predicts at each of `batch_sizes`, from one measured point.

    The line of slope -1 through the smallest batch size with steps (or `reference_batch_size`),
    as in Shallue et al.'s plots.

    >>> perfect_scaling_line([16, 32, 64], [800, 500, 300])
    [800.0, 400.0, 200.0]
    """
    bs, ss, _ = clean_curve(batch_sizes, steps)
    if not bs:
        raise ConfigError("steps: expected at least one batch size that reached the goal, got none")
    ref_b, ref_s = bs[0], ss[0]
    if reference_batch_size is not None:
        if reference_batch_size not in bs:
            raise ConfigError(
                f"reference_batch_size: expected one of {bs}, got {reference_batch_size!r}"
            )
        ref_b, ref_s = reference_batch_size, ss[bs.index(reference_batch_size)]
    return [float(ref_s) * ref_b / b for b in batch_sizes]


def regime_boundaries(log_b, log_steps, log_e_min, tolerance=0.2, min_reduction=0.1):
    """Regime boundaries of many curves at once, as indices into the batch sizes.

    Args:
        log_b: log batch sizes, increasing, shape (K,).
        log_steps: log steps to result, shape (R, K); +inf where the batch size missed the goal.
        log_e_min: log of each curve's small-batch limit E_min, shape (R,); NaN where a curve
            has no fit: its reference is then the line through its smallest reached batch size.
        tolerance, min_reduction: the rules' thresholds (module docstring).

    Returns:
        (last_perfect, max_useful), int arrays of shape (R,): `last_perfect` is -1 when no batch
        size scales perfectly; `max_useful` is K when the limit lies beyond the measured range;
        both are -1 for a curve where no batch size reached the goal.
    """
    log_b = np.asarray(log_b, float)
    log_steps = np.atleast_2d(np.asarray(log_steps, float))
    reached = np.isfinite(log_steps)
    count, k = log_steps.shape
    rows = np.arange(count)
    any_reached = reached.any(axis=1)
    first = np.argmax(reached, axis=1)

    # maximal useful: first reached i with every larger batch size at >= (1 - min_reduction) s_i
    later_min = np.full_like(log_steps, math.inf)
    if k > 1:
        later_min[:, :-1] = np.minimum.accumulate(log_steps[:, ::-1], axis=1)[:, ::-1][:, 1:]
    useful_end = reached & (later_min >= log_steps + math.log1p(-min_reduction) - 1e-12)
    max_useful = np.argmax(useful_end, axis=1)
    max_useful = np.where(max_useful == k - 1, k, max_useful)

    # perfect scaling: leading run within (1 + tolerance) of the reference line
    log_line_from_smallest = (log_steps[rows, first] + log_b[first])[:, None] - log_b[None, :]
    log_e_min = np.asarray(log_e_min, float).reshape(count)
    log_line = np.where(np.isfinite(log_e_min)[:, None], log_e_min[:, None] - log_b[None, :], log_line_from_smallest)
    with np.errstate(invalid="ignore"):  # inf - inf where a resample reached nothing: masked by `reached`
        within = reached & (log_steps - log_line <= math.log1p(tolerance) + 1e-12)
    index = np.arange(k)[None, :]
    limit = np.minimum(max_useful, k - 1)[:, None]
    breaks = (index >= first[:, None]) & ~within
    breaks |= index > limit
    first_break = np.where(breaks.any(axis=1), np.argmax(breaks, axis=1), k)
    last_perfect = first_break - 1
    last_perfect = np.where(last_perfect < first, -1, last_perfect)
    return np.where(any_reached, last_perfect, -1), np.where(any_reached, max_useful, -1)


@dataclasses.dataclass(frozen=True)
class Regimes:
    """Regime of each batch size that reached the goal, and the two boundaries."""

    batch_sizes: list                 # the batch sizes that reached the goal, increasing
    steps: list
    regimes: list                     # "perfect" | "diminishing" | "beyond_max_useful"
    perfect_line: list                # reference steps at `batch_sizes`
    efficiency: list                  # reference / steps: 1 = perfect scaling
    last_perfect_batch_size: float    # None when no batch size scales perfectly
    max_useful_batch_size: float      # None when beyond the measured range
    dropped: list                     # batch sizes that missed the goal (they bound max_useful)
    tolerance: float
    min_reduction: float
    reference: str = "fit"            # "fit" (E_min / B) or "smallest" (line through the smallest)
    small_batch_limit: float = None   # E_min = S_min * B_crit of the reference (steps x batch size)


def _check_rules(tolerance, min_reduction, reference):
    if not is_number(tolerance) or not tolerance >= 0:
        raise ConfigError(f"tolerance: expected a number >= 0, got {tolerance!r}")
    if not is_number(min_reduction) or not 0 < min_reduction < 1:
        raise ConfigError(f"min_reduction: expected a number in (0, 1), got {min_reduction!r}")
    if reference not in REFERENCES:
        raise ConfigError(f"reference: expected one of {', '.join(REFERENCES)}, got {reference!r}")


def classify_regimes(batch_sizes, steps, tolerance=0.2, min_reduction=0.1, reference="fit"):
    """Applies the documented rules (module docstring) to a steps-to-result curve.

    Args:
        batch_sizes: batch sizes (any order; Python or NumPy numbers).
        steps: steps to result per batch size; None or NaN where the goal was missed.
        tolerance: perfect scaling while steps <= (1 + tolerance) * reference. Defaults to 0.2.
        min_reduction: larger batches must cut steps by at least this fraction to be useful.
            Defaults to 0.1.
        reference: "fit" (the fitted small-batch limit E_min / B, falling back to "smallest"
            without a fit) or "smallest" (the line through the smallest reached batch size).

    Returns:
        `Regimes`.
    """
    _check_rules(tolerance, min_reduction, reference)
    bs, ss, missed = clean_curve(batch_sizes, steps)
    if len(set(bs + missed)) < len(bs + missed):
        raise ConfigError(f"batch_sizes: expected distinct batch sizes, got {sorted(bs + missed)}")
    if len(bs) < 2:
        raise ConfigError(f"steps: expected at least 2 batch sizes that reached the goal, got {len(bs)}")
    e_min, used = math.nan, "smallest"
    if reference == "fit" and len(bs) >= 3:
        e_min, used = small_batch_limit(bs, ss), "fit"
    everything = sorted([(b, math.log(s)) for b, s in zip(bs, ss)] + [(b, math.inf) for b in missed])
    log_b = np.log([b for b, _ in everything])
    log_s = np.array([[s for _, s in everything]])
    last_perfect, max_useful = regime_boundaries(log_b, log_s, np.array([math.log(e_min)]), tolerance, min_reduction)
    last_perfect, max_useful = int(last_perfect[0]), int(max_useful[0])
    all_sizes = [b for b, _ in everything]
    last_perfect_b = all_sizes[last_perfect] if last_perfect >= 0 else None
    max_useful_b = all_sizes[max_useful] if max_useful < len(all_sizes) else None
    line = [e_min / b for b in bs] if used == "fit" else [ss[0] * bs[0] / b for b in bs]
    regimes = []
    for b in bs:
        if last_perfect_b is not None and b <= last_perfect_b:
            regimes.append(PERFECT)
        elif max_useful_b is None or b <= max_useful_b:
            regimes.append(DIMINISHING)
        else:
            regimes.append(BEYOND)
    return Regimes(
        batch_sizes=bs,
        steps=ss,
        regimes=regimes,
        perfect_line=line,
        efficiency=[p / s for p, s in zip(line, ss)],
        last_perfect_batch_size=last_perfect_b,
        max_useful_batch_size=max_useful_b,
        dropped=missed,
        tolerance=float(tolerance),
        min_reduction=float(min_reduction),
        reference=used,
        small_batch_limit=e_min if used == "fit" else float(ss[0] * bs[0]),
    )
