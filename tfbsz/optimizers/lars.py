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

from tfbsz.core import checks
from tfbsz.optimizers.layerwise import Direction, LayerwiseOptimizer, NormInputs
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
        self.nesterov = checks.boolean(nesterov, "nesterov")
        self.trust_coefficient = float(
            checks.number(trust_coefficient, "trust_coefficient", 0, low_open=True)
        )
        self.epsilon = float(checks.number(epsilon, "epsilon", 0))
        self.trust_ratio_denominator = checks.choice(
            trust_ratio_denominator, "trust_ratio_denominator", TRUST_RATIO_DENOMINATORS
        )
        self.learning_rate_inside_momentum = checks.boolean(
            learning_rate_inside_momentum, "learning_rate_inside_momentum"
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

    def _direction(self, gradient, weight, slots, step, decay):
        """d = g + weight_decay * w, and the tensors whose norms give the trust ratio:
        (w, g) for the paper's sum of norms, (w, d) for the norm of the sum."""
        d = gradient + step.weight_decay * weight if decay else gradient
        other = gradient if self.trust_ratio_denominator == "sum_of_norms" else d
        return Direction(update=d, norm_inputs=NormInputs(weight=weight, other=other), slots=slots)

    def _trust_ratio(self, norms, step, decay):
        """trust_coefficient * ||w|| / (||g|| + weight_decay ||w|| + epsilon), or
        / (||d|| + epsilon); 1 when ||w|| or the other norm is 0."""
        extra = step.epsilon
        if decay and self.trust_ratio_denominator == "sum_of_norms":
            extra = step.weight_decay * norms.weight + extra
        return guarded_ratio(norms.weight, norms.other, step.trust_coefficient, extra)

    def _apply(self, weight, direction, scale, step):
        """The momentum step, `scale` = learning_rate * trust ratio (see the module docstring)."""
        d = direction.update
        if not direction.slots:  # momentum 0: no velocity
            return weight - scale * d, ()
        (v,) = direction.slots
        momentum = step.momentum
        if self.learning_rate_inside_momentum:
            v = momentum * v + scale * d
            moved = momentum * v + scale * d if self.nesterov else v
        else:
            v = momentum * v + d
            moved = scale * (momentum * v + d if self.nesterov else v)
        return weight - moved, (v,)

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
