"""`MomentumSGD`: Keras's SGD update, with the momentum in a variable (schedulable, no retrace).

The update is exactly Keras's `keras.optimizers.SGD` (keras/src/optimizers/sgd.py),
in the variable's dtype:

```
momentum 0:  w = w - learning_rate * g
heavy ball:  v = momentum * v - learning_rate * g ;  w = w + v
Nesterov:    v = momentum * v - learning_rate * g ;  w = w + momentum * v - learning_rate * g
```

The only difference is where `momentum` lives: Keras's SGD reads a Python float
when the train function is traced, so changing it (one-cycle momentum through
`tfbsz.training.schedules.MomentumSchedule`) forces a retrace; `MomentumSGD` keeps it in a
scalar float32 optimizer variable created by `build()`, and
`optimizer.momentum = x` assigns that variable (see
`tfbsz.optimizers.variable_momentum`). It is a subclass of Keras's `SGD`: same
arguments, defaults, `get_config` keys, and learning-rate schedules are called
with the micro-batch counter as in Keras. The factory names `momentum` and
`nesterov` build it; `sgd` (momentum fixed at 0) stays Keras's `SGD`.

Example:

>>> import keras, numpy as np
>>> from tfbsz.optimizers import MomentumSGD
>>> w = keras.Variable(np.zeros(1, "float32"))
>>> opt = MomentumSGD(learning_rate=0.5, momentum=0.9, nesterov=True)
>>> opt.apply([np.ones(1, "float32")], [w])     # v = -0.5; w += 0.9 * v - 0.5
>>> [round(x, 6) for x in w.numpy().tolist()]
[-0.95]
>>> keras.saving.serialize_keras_object(opt)["registered_name"]
'tfbsz>MomentumSGD'
"""

import keras
from keras import ops

from tfbsz.optimizers.variable_momentum import VariableMomentum

__all__ = ["MomentumSGD"]


@keras.saving.register_keras_serializable(package="tfbsz")
class MomentumSGD(VariableMomentum, keras.optimizers.SGD):
    """Keras's SGD (heavy-ball or Nesterov momentum) with a schedulable momentum variable.

    Args:
        learning_rate: a float, a `LearningRateSchedule` (called with the
            micro-batch counter, as Keras's SGD does) or a callable. Defaults to 0.01.
        momentum: a float in [0, 1], as for Keras's SGD. Defaults to 0.0. Held in
            `momentum_variable` from `build()` on; 0 at build time creates no
            velocity (and cannot be raised later).
        nesterov: Nesterov momentum. Defaults to False.
        **kwargs: Keras's base optimizer arguments (`weight_decay`, `clipnorm`,
            `clipvalue`, `global_clipnorm`, `use_ema`, `ema_momentum`,
            `ema_overwrite_frequency`, `loss_scale_factor`,
            `gradient_accumulation_steps`, `name`).

    Raises:
        ValueError: `momentum` is not a float in [0, 1] (Keras's own check).
    """

    momentum_high_open = False  # Keras's SGD accepts momentum 1.0

    def build(self, variables):
        """Creates the momentum variable and one velocity per variable (none at momentum 0)."""
        if self.built:
            return
        super(keras.optimizers.SGD, self).build(variables)  # skips SGD.build
        self.momentums = []
        if self._build_momentum_variable():
            self.momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        """Keras's SGD update step, reading the momentum from its variable."""
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if not self.momentums:
            self.assign_sub(variable, ops.multiply(gradient, learning_rate))
            return
        m = self.momentums[self._get_variable_index(variable)]
        momentum = self.momentum_tensor(variable.dtype)
        self.assign(
            m,
            ops.subtract(ops.multiply(m, momentum), ops.multiply(gradient, learning_rate)),
        )
        if self.nesterov:
            self.assign_add(
                variable,
                ops.subtract(ops.multiply(m, momentum), ops.multiply(gradient, learning_rate)),
            )
        else:
            self.assign_add(variable, m)
