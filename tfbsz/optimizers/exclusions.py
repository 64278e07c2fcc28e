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

`LayerwiseOptimizer` is the base class of `LARS` and `LAMB` that does this,
and the two things both need from Keras's optimizer base class: weight decay
is part of their update (never Keras's decoupled `w -= lr * wd * w`), and a
learning-rate schedule is called with the number of optimizer *updates*
(`optimizer.iterations`), also under `gradient_accumulation_steps`.

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

import math
import numbers
import re
from typing import NamedTuple

import keras
from keras.optimizers.schedules import LearningRateSchedule

from tfbsz.core.errors import ConfigError
from tfbsz.optimizers.fused_update import FusedUpdate
from tfbsz.optimizers.trust_ratio import l2_norms

__all__ = [
    "ExclusionRule",
    "VariableTreatment",
    "VariableUpdate",
    "LayerwiseOptimizer",
    "check_number",
    "check_bool",
]


def check_number(name, value, low=None, high=None, low_open=False, high_open=False):
    """`value` as a float, or a `ConfigError` naming `name`, the range and the value.

    >>> check_number("beta_1", 1.5, 0.0, 1.0, high_open=True)
    Traceback (most recent call last):
    ...
    tfbsz.core.errors.ConfigError: beta_1: expected a number in [0.0, 1.0), got 1.5
    """
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    lo = "-inf" if low is None else low
    hi = "inf" if high is None else high
    rule = f"a number in {left}{lo}, {hi}{right}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name}: expected {rule}, got {value!r}")
    value = float(value)
    bad = not math.isfinite(value)
    if low is not None:
        bad = bad or value < low or (low_open and value == low)
    if high is not None:
        bad = bad or value > high or (high_open and value == high)
    if bad:
        raise ConfigError(f"{name}: expected {rule}, got {value!r}")
    return value


def check_bool(name, value):
    """`value` if it is a bool, else a `ConfigError` naming `name` and the value."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: expected true or false, got {value!r}")
    return value


def _variable_path(variable):
    """The scoped path of a Keras variable; the name for a bare backend variable."""
    path = getattr(variable, "path", None)
    return path if path is not None else str(variable.name)


class ExclusionRule:
    """One exclusion setting: `None` (rank <= 1) or regexes searched in the path.

    Args:
        argument: the constructor argument this rule came from, for messages.
        patterns: `None`, one regex string, or a list of regex strings.

    Raises:
        ConfigError: a pattern is not a string or not a valid regular expression.
    """

    def __init__(self, argument, patterns):
        self.argument = argument
        if isinstance(patterns, str):
            patterns = [patterns]
        if patterns is not None:
            if not isinstance(patterns, (list, tuple)):
                raise ConfigError(
                    f"{argument}: expected null (rank <= 1 variables) or a list of "
                    f"regular expressions, got {patterns!r}"
                )
            for pattern in patterns:
                if not isinstance(pattern, str):
                    raise ConfigError(
                        f"{argument}: expected regular expressions (strings), got {pattern!r}"
                    )
                try:
                    re.compile(pattern)
                except re.error as err:
                    raise ConfigError(
                        f"{argument}: invalid regular expression {pattern!r} ({err})"
                    ) from None
            patterns = list(patterns)
        self.patterns = patterns

    def excludes(self, variable):
        """Whether this rule excludes `variable` (a Keras or backend variable)."""
        if self.patterns is None:
            return len(variable.shape) <= 1
        path = _variable_path(variable)
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


class VariableUpdate(NamedTuple):
    """A layer-wise optimizer's update of one variable, in two halves around the norms.

    `prepare(gradient, variable, slots, scalars) -> (carry, norm_inputs)`:
    everything that does not need the trust ratio; `norm_inputs` is the pair of
    tensors whose L2 norms the ratio needs (e.g. the weights and the update), or
    `None` when the variable is excluded from layer adaptation.
    `finish(carry, norms, scalars) -> (new_variable, new_slots)`: the rest,
    `norms` being the two L2 norms (float32 scalars) or `None`.
    """

    prepare: object
    finish: object


class LayerwiseOptimizer(keras.optimizers.Optimizer):
    """Base class of LARS and LAMB: exclusions, in-update weight decay, update-counting schedules.

    Subclasses call `super().__init__` with their `learning_rate`,
    `weight_decay`, the two exclusion settings and Keras's base keyword
    arguments, and describe their update as a pure per-variable function:

    * `_slots(i)`: the optimizer variables of variable `i` (a tuple);
    * `_step_scalars(learning_rate)`: tensors shared by all variables this step;
    * `_make_kernel(decay, adapt)`: returns a `VariableUpdate` (written with
      keras.ops only) for one combination of the resolved flags.

    All variables of a step are updated by one function: on GPUs and TPUs the
    norms of same-shape variables are taken in one reduction
    (`trust_ratio.l2_norms`), and on TensorFlow the function, assignments
    included, is one XLA computation (`fused_update.FusedUpdate`; with
    distributed variables it returns the new values, assigned per device).

    Attributes:
        schedule_counts_updates: True. A `LearningRateSchedule` given as
            `learning_rate` is called with the number of optimizer updates,
            `optimizer.iterations`, which under `gradient_accumulation_steps=k`
            is the micro-batch counter divided by k (Keras's own optimizers pass
            the micro-batch counter). Build schedules for these optimizers with
            `accumulation_steps=1`.
    """

    schedule_counts_updates = True

    def __init__(
        self,
        learning_rate,
        weight_decay=0.0,
        exclude_from_weight_decay=None,
        exclude_from_layer_adaptation=None,
        **kwargs,
    ):
        if isinstance(learning_rate, numbers.Real) and not isinstance(learning_rate, bool):
            learning_rate = check_number("learning_rate", learning_rate, 0.0, low_open=True)
        elif not (isinstance(learning_rate, LearningRateSchedule) or callable(learning_rate)):
            raise ConfigError(
                "learning_rate: expected a positive number, a LearningRateSchedule or a "
                f"callable, got {learning_rate!r}"
            )
        # Weight decay is part of the update: keep it away from Keras's base class.
        super().__init__(learning_rate=learning_rate, weight_decay=None, **kwargs)
        self.weight_decay = check_number("weight_decay", weight_decay, 0.0)
        # Static: whether the update has a weight-decay term at all. Its value is read
        # every step (and may be bound per trial, `per_trial.bind`), but a 0 here
        # leaves the term out of the compiled update.
        self._decay_enabled = self.weight_decay > 0
        self._decay_rule = ExclusionRule("exclude_from_weight_decay", exclude_from_weight_decay)
        self._adaptation_rule = ExclusionRule(
            "exclude_from_layer_adaptation", exclude_from_layer_adaptation
        )
        self._decays = []
        self._adapts = []
        self._treatments = []
        self._kernels = FusedUpdate()
        self._norms_of = l2_norms  # how the batched update takes its norms (benchmarks swap it)

    def build(self, var_list):
        """Resolves, once per variable, whether it gets weight decay and adaptation."""
        if self.built:
            return
        super().build(var_list)
        self._decays = [not self._decay_rule.excludes(v) for v in var_list]
        self._adapts = [not self._adaptation_rule.excludes(v) for v in var_list]
        self._treatments = [
            VariableTreatment(_variable_path(v), tuple(v.shape), d, a)
            for v, d, a in zip(var_list, self._decays, self._adapts)
        ]

    def variable_treatments(self):
        """The resolved table: one `VariableTreatment` per variable, in build order."""
        return list(self._treatments)

    def format_variable_treatments(self):
        """The resolved table as aligned text, one line per variable."""
        rows = [("variable", "shape", "weight decay", "layer adaptation")]
        for t in self._treatments:
            rows.append(
                (t.path, str(t.shape), "yes" if t.weight_decay else "no",
                 "yes" if t.layer_adaptation else "no")
            )
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
        return "\n".join(line.rstrip() for line in lines)

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Not supported: pass `exclude_from_weight_decay=[regex, ...]` to the constructor.

        Keras's method matches short names and is not saved by `get_config`;
        the constructor argument matches paths and is saved.
        """
        raise ConfigError(
            f"{type(self).__name__}: set exclusions with the constructor argument "
            "exclude_from_weight_decay=[regex, ...] (matched on variable paths, saved "
            "with the model), not with the exclude_from_weight_decay() method"
        )

    def _apply_weight_decay(self, variables):
        # Weight decay happens inside update_step; Keras's decoupled decay never runs.
        return

    # --- the update, written once for LARS and LAMB ------------------------------------
    def _kernel_key(self, index):
        return (self._decays[index] and self._decay_enabled, self._adapts[index])

    def update_step(self, gradient, variable, learning_rate):
        """Updates one variable (Keras's per-variable entry point)."""
        self._update_variables([gradient], [variable], learning_rate)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        # TensorFlow's own override all-reduces, then calls _distributed_tf_update_step;
        # elsewhere all variables go through one batched update.
        if keras.backend.backend() == "tensorflow":
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        self._update_variables(grads, trainable_variables, learning_rate)

    def _update_variables(self, grads, variables, learning_rate):
        indices = [self._get_variable_index(v) for v in variables]
        keys = tuple(self._kernel_key(i) for i in indices)
        self._kernels.apply(
            keys,
            lambda: self._make_batched_update(keys),
            grads,
            variables,
            [self._slots(i) for i in indices],
            self._step_scalars(learning_rate),
            assign=self.assign,
        )

    def _make_batched_update(self, keys):
        """The pure update of all variables: each kernel's `prepare`, every norm the
        trust ratios need through `self._norms_of` (`trust_ratio.l2_norms`: grouped
        by shape on accelerators), each `finish`."""
        kernels = [self._make_kernel(*key) for key in keys]
        norms_of = self._norms_of

        def update(grads, values, slot_values, scalars):
            prepared = [
                kernel.prepare(g, w, s, scalars)
                for kernel, g, w, s in zip(kernels, grads, values, slot_values)
            ]
            adapted = [i for i, (_, norm_inputs) in enumerate(prepared) if norm_inputs]
            norms = norms_of([tensor for i in adapted for tensor in prepared[i][1]])
            pairs = [None] * len(kernels)
            for n, i in enumerate(adapted):
                pairs[i] = (norms[2 * n], norms[2 * n + 1])
            return [
                kernel.finish(carry, pair, scalars)
                for kernel, (carry, _), pair in zip(kernels, prepared, pairs)
            ]

        return update

    def _distributed_tf_update_step(self, distribution, grads_and_vars, learning_rate):
        # TensorFlow backend only; Keras calls it with all-reduced gradients. One update
        # call (anchored on the first variable) runs every variable's update per device.
        grads = [g for g, _ in grads_and_vars]
        variables = [v for _, v in grads_and_vars]

        def update_all(_, grads, variables, learning_rate):
            self._update_variables(grads, variables, learning_rate)

        distribution.extended.update(
            variables[0], update_all, args=(grads, variables, learning_rate), group=False
        )

    def _get_current_learning_rate(self):
        if isinstance(self._learning_rate, LearningRateSchedule):
            return self._learning_rate(self.iterations)
        return super()._get_current_learning_rate()

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "weight_decay": self.weight_decay,
                "exclude_from_weight_decay": self._decay_rule.patterns,
                "exclude_from_layer_adaptation": self._adaptation_rule.patterns,
            }
        )
        return config
