"""`LayerwiseOptimizer`: what LARS and LAMB share, so each of them is only its own rule.

A layer-wise optimizer moves each variable `w` along a direction `u` scaled by
the learning rate and a trust ratio `phi` taken from two L2 norms:

```
u, (a, b) = direction(g, w, slots)      # the subclass's rule: u and the tensors to norm
phi       = trust_ratio(||a||, ||b||)   # 1 for variables excluded from layer adaptation
w         = w - learning_rate * phi * u # this base class (LARS overrides it: momentum)
```

A subclass defines `_direction` (returning a `Direction` with named fields),
`_step_scalars` (its `NamedTuple` of per-step scalars: learning rate and
hyperparameters, read only through keras.ops in the update, so that
`tfbsz.optimizers.per_trial.bind` can make them per-trial tensors), `_slots`
and, when its ratio is not the plain `||a|| / ||b||`, `_trust_ratio`.

This class does the rest, once for both:

* which variables get weight decay and layer adaptation
  (`tfbsz.optimizers.exclusions`), resolved once per variable in `build()`;
* weight decay is part of the update, never Keras's decoupled
  `w -= lr * wd * w`;
* a learning-rate schedule is called with the number of optimizer *updates*
  (`optimizer.iterations`), also under `gradient_accumulation_steps`;
* all variables of a step are updated by one pure function: on GPUs and TPUs
  the norms of same-shape variables are taken in one reduction
  (`trust_ratio.l2_norms`), and on TensorFlow the function, assignments
  included, is one XLA computation (`fused_update.FusedUpdate`).

Keras hooks overridden, the fewest that this needs (each pinned by
`tests/optimizers/test_keras_hooks.py`, which fails if Keras changes it):
`_backend_update_step` (JAX: all variables in one update instead of Keras's
loop over `update_step`), `_distributed_tf_update_step` (TensorFlow: the same,
per device, after Keras's cross-replica sum), `_apply_weight_decay` (a no-op:
the decay is inside the update) and `_get_current_learning_rate` (schedules
see the update count).

Example (a subclass: plain SGD with the LAMB ratio ||w|| / ||g||):

>>> import keras, numpy as np
>>> from typing import NamedTuple
>>> from tfbsz.optimizers.layerwise import Direction, LayerwiseOptimizer, NormInputs
>>> class Step(NamedTuple):
...     learning_rate: object
>>> class TrustSGD(LayerwiseOptimizer):
...     def _slots(self, index):
...         return ()
...     def _step_scalars(self, learning_rate):
...         return Step(learning_rate=keras.ops.cast(learning_rate, "float32"))
...     def _direction(self, gradient, weight, slots, step, decay):
...         return Direction(update=gradient, norm_inputs=NormInputs(weight, gradient), slots=())
>>> w = keras.Variable(np.full((2, 2), 2.0, "float32"))       # ||w|| = 4
>>> TrustSGD(learning_rate=0.5).apply([np.full((2, 2), 10.0, "float32")], [w])
>>> w.numpy().tolist()                                        # 2 - 0.5 * (4 / 20) * 10
[[1.0, 1.0], [1.0, 1.0]]
"""

from typing import NamedTuple

import keras
from keras import ops
from keras.optimizers.schedules import LearningRateSchedule

from tfbsz.core import checks
from tfbsz.core.errors import ConfigError
from tfbsz.optimizers.exclusions import ExclusionRule, VariableTreatment, variable_path
from tfbsz.optimizers.fused_update import FusedUpdate
from tfbsz.optimizers.trust_ratio import guarded_ratio, l2_norms

__all__ = ["Direction", "NormInputs", "Norms", "VariableFlags", "LayerwiseOptimizer"]


class NormInputs(NamedTuple):
    """The two tensors whose L2 norms give a variable's trust ratio."""

    weight: object  # the variable (float32)
    other: object  # LAMB: the update; LARS: the gradient, or the gradient with decay


class Norms(NamedTuple):
    """The L2 norms (float32 scalars) of a `NormInputs`."""

    weight: object
    other: object


class Direction(NamedTuple):
    """A subclass's rule for one variable, everything before the trust ratio."""

    update: object  # u: the variable moves by learning_rate * trust_ratio * u
    norm_inputs: NormInputs  # unused for variables excluded from layer adaptation
    slots: tuple  # the variable's new optimizer slots, float32 (LARS: still the old ones)


class VariableFlags(NamedTuple):
    """The two static decisions for one variable (the key of its compiled update)."""

    weight_decay: bool  # switched on (weight_decay > 0 at construction), not excluded
    layer_adaptation: bool  # the trust ratio applies (not excluded)


class LayerwiseOptimizer(keras.optimizers.Optimizer):
    """Base class of LARS and LAMB (see the module docstring for the contract).

    Args:
        learning_rate: a positive float, a `LearningRateSchedule` (called with
            the number of optimizer updates) or a callable.
        weight_decay: >= 0. Part of the update. 0 leaves the decay term out of
            the compiled update (a static choice); a positive value is read
            every step and may be bound per trial.
        exclude_from_weight_decay: `None` (variables of rank <= 1) or regexes
            searched in variable paths.
        exclude_from_layer_adaptation: the same, for the trust ratio.
        **kwargs: Keras's base optimizer arguments.

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
        if checks.is_number(learning_rate):
            learning_rate = float(checks.number(learning_rate, "learning_rate", 0, low_open=True))
        elif not (isinstance(learning_rate, LearningRateSchedule) or callable(learning_rate)):
            raise ConfigError(
                "learning_rate: expected a positive number, a LearningRateSchedule or a "
                f"callable, got {checks.describe(learning_rate)}"
            )
        # Weight decay is part of the update: keep it away from Keras's base class.
        super().__init__(learning_rate=learning_rate, weight_decay=None, **kwargs)
        self.weight_decay = float(checks.number(weight_decay, "weight_decay", 0))
        self._decay_enabled = self.weight_decay > 0  # static, see `VariableFlags`
        self._decay_rule = ExclusionRule("exclude_from_weight_decay", exclude_from_weight_decay)
        self._adaptation_rule = ExclusionRule(
            "exclude_from_layer_adaptation", exclude_from_layer_adaptation
        )
        self._treatments = []
        self._flags = []
        self._kernels = FusedUpdate()
        self._norms_of = l2_norms  # how the batched update takes its norms (benchmarks swap it)

    # --- what a subclass defines --------------------------------------------------------
    def _slots(self, index):
        """The optimizer variables of variable `index`, a tuple (in `Direction.slots` order)."""
        raise NotImplementedError

    def _step_scalars(self, learning_rate):
        """This step's scalars, a NamedTuple with at least `learning_rate`."""
        raise NotImplementedError

    def _direction(self, gradient, weight, slots, step, decay):
        """One variable's `Direction` (float32 inputs; `decay`: static, decay applies)."""
        raise NotImplementedError

    def _with_gradients(self, step, grads):
        """`step` completed with what depends on all gradients (LAMB: the global norm)."""
        return step

    def _trust_ratio(self, norms, step, decay):
        """The trust ratio from a variable's `Norms`: ||a|| / ||b||, 1 when either is 0."""
        return guarded_ratio(norms.weight, norms.other)

    def _apply(self, weight, direction, scale, step):
        """(new weight, new slots) from `scale` = learning_rate * trust ratio."""
        return weight - scale * direction.update, direction.slots

    # --- exclusions -----------------------------------------------------------------------
    def build(self, var_list):
        """Resolves, once per variable, whether it gets weight decay and adaptation."""
        if self.built:
            return
        super().build(var_list)
        self._treatments = [
            VariableTreatment(
                variable_path(v),
                tuple(v.shape),
                not self._decay_rule.excludes(v),
                not self._adaptation_rule.excludes(v),
            )
            for v in var_list
        ]
        self._flags = [
            VariableFlags(t.weight_decay and self._decay_enabled, t.layer_adaptation)
            for t in self._treatments
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

    # --- the update of all variables --------------------------------------------------------
    def update_step(self, gradient, variable, learning_rate):
        """Updates one variable (Keras's per-variable entry point; Keras's own steps on
        JAX and TensorFlow update all variables at once, through the hooks below)."""
        self._update_variables([gradient], [variable], learning_rate)

    def _update_variables(self, grads, variables, learning_rate):
        indices = [self._get_variable_index(v) for v in variables]
        flags = tuple(self._flags[i] for i in indices)
        self._kernels.apply(
            flags,
            lambda: self._batched_update(flags),
            grads,
            variables,
            [self._slots(i) for i in indices],
            self._step_scalars(learning_rate),
            assign=self.assign,
        )

    def _batched_update(self, flags):
        """The pure update of all variables (one `VariableFlags` each): every direction,
        every norm the trust ratios need in one call of `self._norms_of`
        (`trust_ratio.l2_norms`: grouped by shape on accelerators), then each step."""

        def update(grads, values, slot_values, step):
            step = self._with_gradients(step, grads)
            weights = [ops.cast(w, "float32") for w in values]
            directions = [
                self._direction(
                    ops.cast(g, "float32"),
                    w,
                    tuple(ops.cast(s, "float32") for s in slots),
                    step,
                    f.weight_decay,
                )
                for g, w, slots, f in zip(grads, weights, slot_values, flags)
            ]
            adapted = [i for i, f in enumerate(flags) if f.layer_adaptation]
            flat = iter(self._norms_of([t for i in adapted for t in directions[i].norm_inputs]))
            norms = {i: Norms(weight=next(flat), other=next(flat)) for i in adapted}
            results = []
            for i, (value, weight, slots) in enumerate(zip(values, weights, slot_values)):
                scale = step.learning_rate
                if i in norms:
                    scale = scale * self._trust_ratio(norms[i], step, flags[i].weight_decay)
                new_weight, new_slots = self._apply(weight, directions[i], scale, step)
                results.append(
                    (
                        ops.cast(new_weight, value.dtype),
                        tuple(ops.cast(new, old.dtype) for new, old in zip(new_slots, slots)),
                    )
                )
            return results

        return update

    # --- Keras hooks (private; pinned by tests/optimizers/test_keras_hooks.py) --------------
    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        # Keras's default loops over update_step, one variable at a time. TensorFlow's
        # own version all-reduces and then calls _distributed_tf_update_step (below);
        # elsewhere (JAX) all variables go through one batched update here.
        if keras.backend.backend() == "tensorflow":
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        self._update_variables(grads, trainable_variables, learning_rate)

    def _distributed_tf_update_step(self, distribution, grads_and_vars, learning_rate):
        # TensorFlow backend only; Keras calls it with all-reduced gradients and would
        # call update_step per variable and device. One update call (anchored on the
        # first variable) runs every variable's update, per device.
        grads = [g for g, _ in grads_and_vars]
        variables = [v for _, v in grads_and_vars]

        def update_all(_, grads, variables, learning_rate):
            self._update_variables(grads, variables, learning_rate)

        distribution.extended.update(
            variables[0], update_all, args=(grads, variables, learning_rate), group=False
        )

    def _apply_weight_decay(self, variables):
        # Keras applies decoupled decay (w -= lr * wd * w) whenever self.weight_decay is
        # set; here the decay is part of the update.
        return

    def _get_current_learning_rate(self):
        # Keras calls a schedule with the micro-batch counter; these optimizers with the
        # update count (`iterations`, divided by the accumulation steps).
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

