"""The perfect-scaling line and the three regimes of a steps-to-result curve (Shallue et al. 2018).

Shallue et al. read the regimes off plots; tfbsz states two numeric rules (see docs/analysis.md):

* **Perfect-scaling line**: ``steps[0] * batch_sizes[0] / B``, through the smallest batch size
  that reached the goal (as in their `plot_utils.plot_steps_to_result`).
* **Perfect scaling**: the leading run of batch sizes whose steps stay within
  ``(1 + tolerance)`` of that line. `tolerance` defaults to 0.2, the 20% step overhead that
  Zhang et al. (2024) use to define the critical batch size.
* **Maximal useful batch size**: the smallest measured B such that no larger measured batch size
  needs fewer than ``(1 - min_reduction)`` times its steps; `min_reduction` defaults to 0.1, i.e.
  beyond it, more parallelism buys less than 10% fewer steps. Comparing with *every* larger batch
  (not only the next one) keeps one noisy point from ending the curve early. When that batch size
  is the largest one measured, the limit lies beyond the measured range and is reported as None.
* **Diminishing returns**: everything between the two.

Example:

>>> r = classify_regimes([32, 64, 128, 256, 512, 1024], [1000, 500, 260, 170, 160, 158])
>>> r.regimes
['perfect', 'perfect', 'perfect', 'diminishing', 'beyond_max_useful', 'beyond_max_useful']
>>> r.max_useful_batch_size
256
"""

import dataclasses
import math

from tfbsz.core.errors import ConfigError

__all__ = ["perfect_scaling_line", "Regimes", "classify_regimes", "clean_curve"]

PERFECT = "perfect"
DIMINISHING = "diminishing"
BEYOND = "beyond_max_useful"


def clean_curve(batch_sizes, steps, what="steps"):
    """Checks a (batch size, steps) curve and drops batch sizes whose steps are None or NaN.

    Returns (batch_sizes, steps, dropped) with the kept points sorted by batch size and
    `dropped` the batch sizes that missed the goal. Raises ConfigError on non-positive values.
    """
    batch_sizes, steps = list(batch_sizes), list(steps)
    if len(batch_sizes) != len(steps):
        raise ConfigError(
            f"batch_sizes and {what}: expected the same length, got {len(batch_sizes)} and {len(steps)}"
        )
    kept, dropped = [], []
    for b, s in zip(batch_sizes, steps):
        if not isinstance(b, (int, float)) or not b > 0:
            raise ConfigError(f"batch_sizes: expected positive numbers, got {b!r}")
        if s is None or (isinstance(s, float) and math.isnan(s)):
            dropped.append(b)
            continue
        if not isinstance(s, (int, float)) or not s > 0 or math.isinf(s):
            raise ConfigError(f"{what}: expected positive finite numbers or None, got {s!r} at batch size {b}")
        kept.append((b, s))
    kept.sort()
    return [b for b, _ in kept], [s for _, s in kept], dropped


def perfect_scaling_line(batch_sizes, steps, reference_batch_size=None):
    """Steps that perfect scaling predicts at each of `batch_sizes`, from the reference point.

    The reference is the smallest batch size with steps (or `reference_batch_size`).

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


@dataclasses.dataclass(frozen=True)
class Regimes:
    """Regime of each batch size that reached the goal, and the two boundaries."""

    batch_sizes: list
    steps: list
    regimes: list                     # "perfect" | "diminishing" | "beyond_max_useful"
    perfect_line: list
    efficiency: list                  # perfect line / steps: 1 = perfect scaling
    last_perfect_batch_size: float
    max_useful_batch_size: float      # None when beyond the measured range
    dropped: list                     # batch sizes that missed the goal
    tolerance: float
    min_reduction: float


def classify_regimes(batch_sizes, steps, tolerance=0.2, min_reduction=0.1):
    """Applies the documented rules (module docstring) to a steps-to-result curve.

    Args:
        batch_sizes: batch sizes (any order).
        steps: steps to result per batch size; None (missed the goal) is dropped.
        tolerance: perfect scaling while steps <= (1 + tolerance) * perfect line. Defaults to 0.2.
        min_reduction: larger batches must cut steps by at least this fraction to be useful.
            Defaults to 0.1.

    Returns:
        `Regimes`.
    """
    if not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise ConfigError(f"tolerance: expected a number >= 0, got {tolerance!r}")
    if not isinstance(min_reduction, (int, float)) or not 0 < min_reduction < 1:
        raise ConfigError(f"min_reduction: expected a number in (0, 1), got {min_reduction!r}")
    bs, ss, dropped = clean_curve(batch_sizes, steps)
    if len(bs) < 2:
        raise ConfigError(f"steps: expected at least 2 batch sizes that reached the goal, got {len(bs)}")
    line = [ss[0] * bs[0] / b for b in bs]
    efficiency = [p / s for p, s in zip(line, ss)]

    max_useful_index = len(bs) - 1
    for i in range(len(bs)):
        if all(ss[j] >= (1.0 - min_reduction) * ss[i] for j in range(i + 1, len(bs))):
            max_useful_index = i
            break
    last_perfect_index = 0
    for i in range(1, max_useful_index + 1):
        if ss[i] > (1.0 + tolerance) * line[i]:
            break
        last_perfect_index = i

    regimes = []
    for i in range(len(bs)):
        if i <= last_perfect_index:
            regimes.append(PERFECT)
        elif i <= max_useful_index:
            regimes.append(DIMINISHING)
        else:
            regimes.append(BEYOND)
    reached_limit = max_useful_index < len(bs) - 1
    return Regimes(
        batch_sizes=bs,
        steps=ss,
        regimes=regimes,
        perfect_line=line,
        efficiency=efficiency,
        last_perfect_batch_size=bs[last_perfect_index],
        max_useful_batch_size=bs[max_useful_index] if reached_limit else None,
        dropped=dropped,
        tolerance=float(tolerance),
        min_reduction=float(min_reduction),
    )
