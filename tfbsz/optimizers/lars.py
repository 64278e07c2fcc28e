"""LARS: momentum SGD with a layer-wise trust ratio (You, Gitman, Ginsburg 2017).

For each variable `w` with gradient `g` (Algorithm 1 of the paper):

```
d     = g + weight_decay * w                        # decay added to the gradient
ratio = trust_coefficient * ||w|| / (||g|| + weight_decay * ||w|| + epsilon)
            # trust_ratio_denominator="sum_of_norms" (the paper; default), or
ratio = trust_coefficient * ||w|| / (||g + weight_decay * w|| + epsilon)
            # trust_ratio_denominator="norm_of_sum" (Model Garden / SimCLR, optax)
ratio = 1   when ||w|| = 0, when the gradient norm is 0, or the variable is excluded

learning_rate_inside_momentum=True (classic; the paper, MLPerf, optax):
    v = momentum * v + learning_rate * ratio * d
    w = w - v                                        # nesterov: w - (momentum * v + lr * ratio * d)
learning_rate_inside_momentum=False (tf.contrib's placement):
    v = momentum * v + d
    w = w - learning_rate * ratio * v                # nesterov: ... * (momentum * v + d)
```

Weight decay is added to the gradient, scaled by the trust ratio and the
learning rate like the gradient. It never goes through Keras's decoupled
weight decay (`w -= learning_rate * weight_decay * w`), which with LARS's
large learning rates (10-30) would decay about 1000 times too strongly.
Excluded variables get ratio 1: plain momentum SGD at the raw learning rate,
as in the reference implementations. Norms are computed in float32.

Example: without momentum, each step moves a variable by
`learning_rate * trust_coefficient * ||w||` whatever the scale of its gradient:

>>> import keras, numpy as np
>>> from tfbsz.optimizers import LARS
>>> w = keras.Variable(np.full((2, 2), 5.0, "float32"))   # ||w|| = 10
>>> opt = LARS(learning_rate=2.0, momentum=0.0)
>>> opt.apply([np.full((2, 2), 1e4, "float32")], [w])
>>> round(float(np.linalg.norm(w.numpy() - 5.0)), 6)       # 2 * 0.001 * 10
0.02

References:
    You, Gitman, Ginsburg, "Large Batch Training of Convolutional Networks",
    arXiv:1708.03888 (2017).
"""

from typing import NamedTuple

import keras
from keras import ops

from tfbsz.core.errors import ConfigError
from tfbsz.optimizers.exclusions import (
    LayerwiseOptimizer,
    VariableUpdate,
    check_bool,
    check_number,
)
from tfbsz.optimizers.trust_ratio import guarded_ratio
from tfbsz.optimizers.variable_momentum import VariableMomentum

__all__ = ["LARS", "LarsStep", "TRUST_RATIO_DENOMINATORS"]

TRUST_RATIO_DENOMINATORS = ("sum_of_norms", "norm_of_sum")


class LarsStep(NamedTuple):
    """The scalars of one LARS step, shared by all variables (tensors or Python floats,
    possibly bound per trial by `tfbsz.optimizers.per_trial.bind`)."""

    learning_rate: object
    momentum: object
    weight_decay: object
    trust_coefficient: object
    epsilon: object


@keras.saving.register_keras_serializable(package="tfbsz")
class LARS(VariableMomentum, LayerwiseOptimizer):
    """Layer-wise Adaptive Rate Scaling (LARS) with heavy-ball or Nesterov momentum.

    Args:
        learning_rate: a positive float, a `LearningRateSchedule` (called with
            the number of optimizer updates) or a callable. LARS recipes use
            large values (MLPerf ResNet-50: 10-31). Defaults to 1.0.
        momentum: in [0, 1). Defaults to 0.9. From `build()` on it is held in a
            scalar optimizer variable (`momentum_variable`): setting
            `optimizer.momentum = x` assigns it, so a schedule
            (`tfbsz.training.schedules.MomentumSchedule`) changes it without a retrace.
            0 at build time creates no velocity (and cannot be raised later).
        nesterov: Nesterov momentum. Defaults to False.
        weight_decay: lambda, >= 0, added to the gradient. Defaults to 0.
        trust_coefficient: eta, > 0. Defaults to 0.001 (the paper).
        epsilon: >= 0, added to the trust-ratio denominator. Defaults to 0.
        trust_ratio_denominator: `"sum_of_norms"`, ||g|| + lambda ||w|| + eps
            (the paper), or `"norm_of_sum"`, ||g + lambda w|| + eps.
        learning_rate_inside_momentum: True (default) accumulates
            learning_rate * ratio * d in the velocity; False accumulates d and
            multiplies the velocity by learning_rate * ratio.
        exclude_from_weight_decay: `None` (variables of rank <= 1) or regexes
            searched in variable paths; `[]` decays everything.
        exclude_from_layer_adaptation: the same, for the trust ratio.
        **kwargs: Keras's base optimizer arguments (`clipnorm`, `clipvalue`,
            `global_clipnorm`, `use_ema`, `ema_momentum`,
            `ema_overwrite_frequency`, `loss_scale_factor`,
            `gradient_accumulation_steps`, `name`).

    Raises:
        ConfigError: an argument is out of range; the message names it.
    """

    def __init__(
        self,
        learning_rate=1.0,
        momentum=0.9,
        nesterov=False,
        weight_decay=0.0,
        trust_coefficient=0.001,
        epsilon=0.0,
        trust_ratio_denominator="sum_of_norms",
        learning_rate_inside_momentum=True,
        exclude_from_weight_decay=None,
        exclude_from_layer_adaptation=None,
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            exclude_from_weight_decay=exclude_from_weight_decay,
            exclude_from_layer_adaptation=exclude_from_layer_adaptation,
            **kwargs,
        )
        self.momentum = momentum  # checked by the property: [0, 1)
        self.nesterov = check_bool("nesterov", nesterov)
        self.trust_coefficient = check_number(
            "trust_coefficient", trust_coefficient, 0.0, low_open=True
        )
        self.epsilon = check_number("epsilon", epsilon, 0.0)
        if trust_ratio_denominator not in TRUST_RATIO_DENOMINATORS:
            raise ConfigError(
                "trust_ratio_denominator: expected one of "
                f"{', '.join(TRUST_RATIO_DENOMINATORS)}, got {trust_ratio_denominator!r}"
            )
        self.trust_ratio_denominator = trust_ratio_denominator
        self.learning_rate_inside_momentum = check_bool(
            "learning_rate_inside_momentum", learning_rate_inside_momentum
        )

    def build(self, var_list):
        """Creates the momentum variable and one velocity per variable (none when momentum is 0)."""
        if self.built:
            return
        super().build(var_list)
        if self._build_momentum_variable():
            self._velocities = self.add_optimizer_variables(var_list, "velocity")
        else:
            self._velocities = [None] * len(var_list)

    def _slots(self, index):
        velocity = self._velocities[index]
        return () if velocity is None else (velocity,)

    def _step_scalars(self, learning_rate):
        return LarsStep(
            learning_rate=ops.cast(learning_rate, "float32"),
            momentum=self.momentum_tensor(),
            weight_decay=self.weight_decay,
            trust_coefficient=self.trust_coefficient,
            epsilon=self.epsilon,
        )

    def _make_kernel(self, decay, adapt):
        """The pure per-variable update (float32 inside) for one pair of resolved flags."""
        nesterov = self.nesterov
        sum_of_norms = self.trust_ratio_denominator == "sum_of_norms"
        inside = self.learning_rate_inside_momentum

        def prepare(gradient, variable, slots, scalars):
            g = ops.cast(gradient, "float32")
            w = ops.cast(variable, "float32")
            d = g + scalars.weight_decay * w if decay else g
            carry = (w, d, slots, variable.dtype)
            return carry, (((w, g) if sum_of_norms else (w, d)) if adapt else None)

        def finish(carry, norms, scalars):
            w, d, slots, dtype = carry
            scale, momentum = scalars.learning_rate, scalars.momentum
            if norms is not None:
                w_norm, other_norm = norms
                extra = scalars.epsilon
                if sum_of_norms and decay:
                    extra = scalars.weight_decay * w_norm + extra
                scale = scale * guarded_ratio(
                    w_norm, other_norm, scalars.trust_coefficient, extra
                )
            if not slots:  # momentum 0
                return ops.cast(w - scale * d, dtype), ()
            v = ops.cast(slots[0], "float32")
            if inside:
                v_new = momentum * v + scale * d
                step = momentum * v_new + scale * d if nesterov else v_new
            else:
                v_new = momentum * v + d
                step = scale * (momentum * v_new + d if nesterov else v_new)
            return ops.cast(w - step, dtype), (ops.cast(v_new, slots[0].dtype),)

        return VariableUpdate(prepare, finish)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "momentum": self.momentum,
                "nesterov": self.nesterov,
                "trust_coefficient": self.trust_coefficient,
                "epsilon": self.epsilon,
                "trust_ratio_denominator": self.trust_ratio_denominator,
                "learning_rate_inside_momentum": self.learning_rate_inside_momentum,
            }
        )
        return config
