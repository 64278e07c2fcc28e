"""Which variables get weight decay and which get the layer-wise trust ratio.

LARS and LAMB take two independent settings, `exclude_from_weight_decay` and
`exclude_from_layer_adaptation`. Each is either

* `None` (the default): exclude biases and normalisation parameters, i.e. every
  variable of rank <= 1 (Dense/Conv biases, BatchNorm and LayerNorm gamma/beta);
* a list of regular expressions, searched (`re.search`) in the variable's
  *path* (`"encoder/layer_norm/gamma"`, not the short name `"gamma"`, which
  in Keras 3 no longer carries the layer name); `[]` excludes nothing.

The two settings never follow each other (tfa and Model Garden silently copied
the weight-decay list into the adaptation list). The decision is taken once per
variable in `build()` and kept in a table that `variable_treatments()` returns.

`tfbsz.optimizers.layerwise.LayerwiseOptimizer`, the base class of `LARS` and
`LAMB`, resolves both rules in `build()`.

Example:

>>> import keras
>>> from tfbsz.optimizers import LAMB
>>> layers = [keras.Input((3,)), keras.layers.Dense(2, name="out")]
>>> model = keras.Sequential(layers, name="sequential")
>>> opt = LAMB(learning_rate=0.01, weight_decay=0.01, exclude_from_layer_adaptation=[])
>>> opt.build(model.trainable_variables)
>>> print(opt.format_variable_treatments())
variable               shape   weight decay  layer adaptation
sequential/out/kernel  (3, 2)  yes           yes
sequential/out/bias    (2,)    no            yes
"""

import re
from typing import NamedTuple

from tfbsz.core import checks

__all__ = ["ExclusionRule", "VariableTreatment", "variable_path"]


def variable_path(variable):
    """The scoped path of a Keras variable; the name for a bare backend variable."""
    path = getattr(variable, "path", None)
    return path if path is not None else str(variable.name)


class ExclusionRule:
    """One exclusion setting: `None` (rank <= 1) or regexes searched in the path.

    Args:
        argument: the constructor argument this rule came from, for messages.
        patterns: `None`, one regex string, or a list of regex strings.

    Raises:
        ConfigError: `patterns` is not a list, or a pattern is not a string or not a
            valid regular expression (`tfbsz.core.checks.regex_list`).
    """

    def __init__(self, argument, patterns):
        self.argument = argument
        if isinstance(patterns, str):
            patterns = [patterns]
        self.patterns = checks.regex_list(patterns, argument, allow_none=True)

    def excludes(self, variable):
        """Whether this rule excludes `variable` (a Keras or backend variable)."""
        if self.patterns is None:
            return len(variable.shape) <= 1
        path = variable_path(variable)
        return any(re.search(pattern, path) for pattern in self.patterns)

    def describe(self):
        """One line saying what the rule excludes."""
        if self.patterns is None:
            return "variables of rank <= 1 (biases, normalisation parameters)"
        if not self.patterns:
            return "nothing"
        return "paths matching " + " | ".join(self.patterns)


class VariableTreatment(NamedTuple):
    """How one variable is updated: its path, shape and the two resolved decisions."""

    path: str
    shape: tuple
    weight_decay: bool
    layer_adaptation: bool
