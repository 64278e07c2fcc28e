"""Momentum held in an optimizer variable, so it can change between steps without a retrace.

Keras's `SGD` keeps `momentum` as a Python float: a compiled train function bakes
the value in, and changing it (one-cycle momentum, `tfbsz.training.schedules.MomentumSchedule`)
means rebuilding the train function. `VariableMomentum` is the mixin of tfbsz's
`LARS` and `MomentumSGD` that keeps the constructor's float API but, from
`build()` on, holds the coefficient in a scalar non-trainable float32 optimizer
variable (`momentum_variable`, one of `optimizer.variables`, so it is saved with
the optimizer and threaded through JAX's stateless steps):

* `optimizer.momentum` reads as a Python float (the value last set, or the
  variable's value when it was changed some other way, e.g. by loading weights);
* `optimizer.momentum = x` checks `x` and, once built, assigns the variable: the
  next step uses `x`, no retrace;
* the update multiplies by `momentum_tensor()`, never by the float.

Whether velocities exist is decided at `build()` from the momentum then (0 keeps
none, as in Keras); setting a non-zero momentum on an optimizer built with 0 is a
`ConfigError`.

Example:

>>> import keras, numpy as np
>>> from tfbsz.optimizers import MomentumSGD
>>> w = keras.Variable(np.zeros(2, "float32"))
>>> opt = MomentumSGD(learning_rate=1.0, momentum=0.5)
>>> opt.momentum_variable is None             # created by build()
True
>>> opt.apply([np.ones(2, "float32")], [w])   # v = -1
>>> opt.momentum = 0.25                        # assigns the variable
>>> float(opt.momentum_variable.numpy()), opt.momentum
(0.25, 0.25)
>>> opt.apply([np.ones(2, "float32")], [w])   # v = 0.25 * -1 - 1
>>> w.numpy().tolist()
[-2.25, -2.25]
"""

import keras
import numpy as np
from keras import ops

from tfbsz.core import checks
from tfbsz.core.errors import ConfigError

__all__ = ["VariableMomentum"]


class VariableMomentum:
    """Mixin for a `keras.optimizers.Optimizer` subclass: `momentum` as a settable property.

    The class lists it before its Keras base. Subclasses call
    `_build_momentum_variable()` in `build()` (after the base class's build) and
    use `momentum_tensor()` in their update. Class attribute
    `momentum_high_open` says whether 1.0 is out of range.
    """

    momentum_high_open = True
    _momentum_value = 0.0
    _momentum_variable = None
    _momentum_has_velocity = True

    @property
    def momentum(self):
        """The momentum coefficient, a Python float (settable, also during training)."""
        variable = self._momentum_variable
        if variable is None:
            return self._momentum_value
        try:
            current = np.float32(ops.convert_to_numpy(variable))
        except Exception:  # read while tracing (tf.function / jax.jit): the value last set
            return self._momentum_value
        if current == np.float32(self._momentum_value):
            return self._momentum_value  # the float as given, not its float32 rounding
        return float(current)

    @momentum.setter
    def momentum(self, value):
        value = float(checks.number(value, "momentum", 0, 1, high_open=self.momentum_high_open))
        if self._momentum_variable is not None:
            if value != 0.0 and not self._momentum_has_velocity:
                raise ConfigError(
                    f"momentum: {type(self).__name__} was built with momentum=0 and keeps no "
                    f"velocity, so momentum {value} cannot take effect; construct it with a "
                    "non-zero momentum"
                )
            self._momentum_variable.assign(value)
        self._momentum_value = value

    @property
    def momentum_variable(self):
        """The scalar float32 variable holding the momentum; None before `build()`."""
        return self._momentum_variable

    def momentum_tensor(self, dtype="float32"):
        """The momentum as a scalar tensor of `dtype`, read from the variable (built only)."""
        return ops.cast(self._momentum_variable, dtype)

    def _build_momentum_variable(self):
        """Creates the momentum variable holding the current value; returns whether the
        momentum is non-zero (then the subclass creates velocities)."""
        value = self._momentum_value
        variable = self.add_variable(
            shape=(),
            initializer=keras.initializers.Constant(value),
            dtype="float32",
            aggregation="only_first_replica",
            name="momentum_coefficient",
        )
        self._momentum_has_velocity = value != 0.0
        self._momentum_variable = variable
        return self._momentum_has_velocity
