"""A study's target: a metric, a threshold and the direction in which the metric improves.

One rule decides a metric's direction from its name (`default_direction`), and one class
(`Target`) says whether a measurement beats the threshold and which of two is better. The
config, the training callback, the study files' readers, the analysis and the TensorBoard
plugin all use these, so they cannot disagree.

The rule reads the name's words (split at `/`, `_`, `.`, `-`, spaces and camelCase):

* higher is better when a word is one of `HIGHER_IS_BETTER` (accuracy, bleu, auc, ...);
* lower is better when a word is one of `LOWER_IS_BETTER` (error, loss, cross_entropy,
  perplexity, ...);
* a name with words of neither kind, or of both kinds (`accuracy_loss`), has no default:
  `default_direction` raises a `ConfigError` asking for the direction to be given. Guessing
  would silently turn "reached the target" into "missed it".

Example:

>>> from tfbsz.core.targets import Target, default_direction
>>> default_direction("val/bleu"), default_direction("val/classification_error")
('max', 'min')
>>> target = Target("val/accuracy", 0.9)
>>> target.direction, target.beats(0.93), target.beats(0.9), target.better(0.8, 0.7)
('max', True, False, True)
>>> str(Target("val/cross_entropy_error", 2.5))
'val/cross_entropy_error < 2.5'
>>> default_direction("val/wibble")
Traceback (most recent call last):
...
tfbsz.core.errors.ConfigError: target.direction: cannot tell from the name 'val/wibble' whether the metric improves up or down; set the direction to min (lower is better) or max (higher is better)
"""

import dataclasses
import math
import re

from tfbsz.core import checks
from tfbsz.core.errors import ConfigError

__all__ = ["Target", "default_direction", "DIRECTIONS", "HIGHER_IS_BETTER", "LOWER_IS_BETTER"]

DIRECTIONS = ("min", "max")

# Words (or word sequences joined by "_") that name a metric which grows as the model improves.
HIGHER_IS_BETTER = frozenset({
    "accuracy", "acc", "auc", "average_precision", "bleu", "dice", "f1", "iou", "map",
    "precision", "psnr", "recall", "rouge", "ssim",
})
# ... and one which shrinks as the model improves.
LOWER_IS_BETTER = frozenset({
    "cer", "cross_entropy", "crossentropy", "err", "error", "loss", "mae", "mse", "nll",
    "perplexity", "ppl", "rmse", "wer",
})
_LONGEST_PHRASE = max(len(p.split("_")) for p in HIGHER_IS_BETTER | LOWER_IS_BETTER)


def _words(metric):
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", metric)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def _phrases(words):
    for n in range(1, _LONGEST_PHRASE + 1):
        for i in range(len(words) - n + 1):
            yield "_".join(words[i: i + n])


def default_direction(metric, key="target.direction"):
    """`"max"` when the metric's name says higher is better, `"min"` when lower is.

    Args:
        metric: the metric's name, e.g. `"val/accuracy"` or `"valid/ce_loss"`.
        key: the key path (or flag) named in the error for a name without a default.

    Raises:
        ConfigError: the name has no higher-is-better or lower-is-better word, or has both.

    >>> [default_direction(m) for m in ("top_5_accuracy", "valAccuracy", "perplexity", "mean_squared_error")]
    ['max', 'max', 'min', 'min']
    """
    metric = checks.string(metric, "target.metric")
    phrases = set(_phrases(_words(metric)))
    higher, lower = phrases & HIGHER_IS_BETTER, phrases & LOWER_IS_BETTER
    if higher and not lower:
        return "max"
    if lower and not higher:
        return "min"
    why = (f"has both '{sorted(higher)[0]}' (higher is better) and '{sorted(lower)[0]}' (lower is better)"
           if higher else "names neither kind")
    raise ConfigError(
        f"{key}: cannot tell from the name {checks.describe(metric)} whether the metric improves up or down"
        + ("" if not higher else f" (it {why})")
        + "; set the direction to min (lower is better) or max (higher is better)"
    )


@dataclasses.dataclass(frozen=True)
class Target:
    """A goal on one measurement: `metric` strictly below (`min`) or above (`max`) `threshold`.

    Args:
        metric: the measurement's name, e.g. `"val/classification_error"`.
        threshold: a finite number (NumPy numbers accepted; stored as `float`).
        direction: `"min"` (lower is better) or `"max"`. Defaults to `default_direction(metric)`.

    Raises:
        ConfigError: naming `target.metric`, `target.threshold` or `target.direction`.

    >>> t = Target("val/classification_error", 0.1)
    >>> t.direction, t.beats(0.05), t.beats(float("nan")), t.beats(None)
    ('min', True, False, False)
    >>> sorted([0.3, 0.1, 0.2], key=t.rank_key)[0], Target("val/accuracy", 0.5).rank_key(0.7)
    (0.1, -0.7)
    >>> Target.from_dict({"metric": "val/accuracy", "threshold": 0.9}).to_dict()
    {'metric': 'val/accuracy', 'threshold': 0.9, 'direction': 'max'}
    """

    metric: str
    threshold: float
    direction: str = None

    def __post_init__(self):
        metric = checks.string(self.metric, "target.metric")
        threshold = float(checks.number(self.threshold, "target.threshold"))
        if self.direction is None:
            direction = default_direction(metric)
        else:
            direction = checks.choice(self.direction, "target.direction", DIRECTIONS)
        object.__setattr__(self, "metric", metric)
        object.__setattr__(self, "threshold", threshold)
        object.__setattr__(self, "direction", direction)

    @classmethod
    def from_dict(cls, mapping, key="target"):
        """A Target from `{"metric", "threshold", "direction"}` (direction optional).

        Shallue et al.-style spellings `name`, `value` and `mode` are read as well.
        Raises ConfigError naming `<key>.metric` etc. when a part is missing or wrong.
        """
        if not isinstance(mapping, dict):
            raise ConfigError(f"{key}: expected a mapping with metric and threshold, got {checks.describe(mapping)}")
        metric = mapping.get("metric", mapping.get("name"))
        threshold = mapping.get("threshold", mapping.get("value"))
        direction = mapping.get("direction", mapping.get("mode"))
        for part, value in (("metric", metric), ("threshold", threshold)):
            if value is None:
                raise ConfigError(f"{key}.{part}: required, but not set")
        try:
            return cls(metric, threshold, direction)
        except ConfigError as e:
            message = str(e)
            if key != "target" and message.startswith("target."):
                message = key + message[len("target"):]
            raise ConfigError(message) from None

    def to_dict(self):
        """`{"metric", "threshold", "direction"}`, as written into study files."""
        return {"metric": self.metric, "threshold": self.threshold, "direction": self.direction}

    @property
    def comparison(self):
        """`"<"` when lower is better, `">"` when higher is."""
        return "<" if self.direction == "min" else ">"

    def __str__(self):
        return f"{self.metric} {self.comparison} {self.threshold:g}"

    def beats(self, value):
        """Whether one measured `value` strictly beats the threshold (None, NaN, inf never do)."""
        if not _finite(value):
            return False
        return value < self.threshold if self.direction == "min" else value > self.threshold

    def beats_each(self, values):
        """A NumPy boolean array: which of `values` strictly beat the threshold (NaN never does)."""
        import numpy as np

        values = np.asarray(values, dtype=float)
        with np.errstate(invalid="ignore"):
            hits = values < self.threshold if self.direction == "min" else values > self.threshold
        return hits & np.isfinite(values)

    def better(self, a, b):
        """Whether value `a` is strictly better than `b`; any finite `a` beats `b=None` (nothing yet)."""
        if not _finite(a):
            return False
        if not _finite(b):
            return True
        return a < b if self.direction == "min" else a > b

    def rank_key(self, value):
        """A sort key that is smaller for better values (non-finite values sort last)."""
        if not _finite(value):
            return math.inf
        return float(value) if self.direction == "min" else -float(value)


def _finite(value):
    if not checks.is_number(value):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return True
