"""Argument checks shared by the public analysis functions, and the order of trial ids.

`trial_order_key` (the order of trial ids, numeric first) is the one of `tfbsz.records.summary`.

Every public function of `tfbsz.analysis` accepts Python and NumPy numbers alike
(`np.int64(32)`, `np.float32(0.9)`, elements of `np.array([16, 32])`); booleans are not numbers.

>>> import numpy as np
>>> is_number(np.int64(3)), is_number(np.float32(0.5)), is_number(True), is_number("3")
(True, True, False, False)
>>> sorted(["10", "9", "a", "02"], key=trial_order_key)
['02', '9', '10', 'a']
"""

import math
import numbers

from tfbsz.core.errors import ConfigError
from tfbsz.records.summary import trial_order_key

__all__ = ["is_number", "check_confidence", "check_resamples", "clean_curve", "trial_order_key"]


def is_number(value):
    """True for real numbers (Python or NumPy), False for booleans, None and everything else."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_confidence(confidence, name="confidence"):
    """`confidence` as a float in (0, 1), or a ConfigError naming `name`."""
    if not is_number(confidence) or not 0.0 < float(confidence) < 1.0:
        raise ConfigError(f"{name}: expected a number in (0, 1), got {confidence!r}")
    return float(confidence)


def check_resamples(n_resamples, name="n_resamples"):
    """`n_resamples` as an int >= 100, or a ConfigError naming `name`."""
    if not isinstance(n_resamples, numbers.Integral) or isinstance(n_resamples, bool) or n_resamples < 100:
        raise ConfigError(f"{name}: expected an integer >= 100, got {n_resamples!r}")
    return int(n_resamples)


def clean_curve(batch_sizes, steps, what="steps"):
    """Checks a (batch size, steps) curve and sets aside batch sizes whose steps are None or NaN.

    Returns (batch_sizes, steps, missed) with the kept points sorted by batch size and `missed`
    the batch sizes that missed the goal, in the order given. Numbers come back as Python floats
    or ints. Raises ConfigError on non-positive or non-numeric values and on mismatched lengths.

    >>> import numpy as np
    >>> clean_curve([np.int64(64), 16, 32], [100, None, np.float32(200.0)])
    ([32, 64], [200.0, 100], [16])
    """
    batch_sizes, steps = list(batch_sizes), list(steps)
    if len(batch_sizes) != len(steps):
        raise ConfigError(
            f"batch_sizes and {what}: expected the same length, got {len(batch_sizes)} and {len(steps)}"
        )
    kept, missed = [], []
    for b, s in zip(batch_sizes, steps):
        if not is_number(b) or not b > 0 or not math.isfinite(b):
            raise ConfigError(f"batch_sizes: expected positive numbers, got {b!r}")
        b = _plain(b)
        if s is None or (is_number(s) and math.isnan(s)):
            missed.append(b)
            continue
        if not is_number(s) or not s > 0 or math.isinf(s):
            raise ConfigError(f"{what}: expected positive finite numbers or None, got {s!r} at batch size {b}")
        kept.append((b, _plain(s)))
    kept.sort(key=lambda point: point[0])
    return [b for b, _ in kept], [s for _, s in kept], missed


def _plain(number):
    """A NumPy number as the Python int or float of the same value."""
    return int(number) if isinstance(number, numbers.Integral) else float(number)


