"""LAMB: Adam moments with a layer-wise trust ratio (You et al. 2019).

For each variable `w` with gradient `g`, at update `t = 1, 2, ...`:

```
g   = g / max(1, ||G||)                     # only with normalize_by_global_gradient_norm
m   = beta_1 m + (1 - beta_1) g
v   = beta_2 v + (1 - beta_2) g^2
m^  = m / (1 - beta_1^t),  v^ = v / (1 - beta_2^t)     # skipped with bias_correction=False
r   = m^ / (sqrt(v^) + epsilon)
u   = r + weight_decay * w                  # decay inside the update (not for excluded variables)
phi = ||w|| / ||u||                         # 1 when either norm is 0, or the variable is excluded
phi = clip(phi, *trust_ratio_bounds)        # only when bounds are given
w   = w - learning_rate * phi * u
```

This is the paper's Algorithm 2 with phi(z) = z, as in the reference
TensorFlow Addons code; Keras's own `keras.optimizers.Lamb` differs by
applying weight decay outside the trust ratio and using epsilon 1e-7.
`||G||` is the norm of all gradients together, taken after the cross-replica
sum under `tf.distribute` (Keras's `global_clipnorm` acts per replica, before
it). Norms and moments are computed in float32 whatever the variable dtype.

The rule is `LAMB._direction` (g to u, with the moments) and `LAMB._trust_ratio`
(phi); `tfbsz.optimizers.layerwise.LayerwiseOptimizer` applies
`w - learning_rate * phi * u` to all variables at once.

Example (a 2-variable problem, minimising ||w - 3||^2):

>>> import keras, numpy as np
>>> from tfbsz.optimizers import LAMB
>>> w = keras.Variable(np.zeros(4, "float32"))
>>> opt = LAMB(learning_rate=0.1)
>>> for _ in range(50):
...     opt.apply([2.0 * (w - 3.0)], [w])
>>> bool(np.all(np.abs(w.numpy() - 3.0) < 0.2))
True

References:
    You et al., "Large Batch Optimization for Deep Learning: Training BERT in
    76 minutes", ICLR 2020 (arXiv:1904.00962).
"""

import math
from typing import NamedTuple

import keras
from keras import ops

from tfbsz.core import checks
from tfbsz.core.errors import ConfigError
from tfbsz.optimizers.layerwise import Direction, LayerwiseOptimizer, NormInputs
from tfbsz.optimizers.trust_ratio import global_l2_norm, guarded_ratio

__all__ = ["LAMB", "LambStep"]


class LambStep(NamedTuple):
    """The scalars of one LAMB step, shared by all variables.

    Hyperparameters are Python floats as the optimizer holds them, or tensors
    bound per trial (`tfbsz.optimizers.per_trial.bind`); the update reads them
    only through keras.ops.
    """

    learning_rate: object
    beta_1: object
    one_minus_beta_1: object  # 1 - beta_1, formed in float64 when beta_1 is a Python float
    beta_2: object
    one_minus_beta_2: object
    epsilon: object
    weight_decay: object
    bias_correction_1: object  # 1 - beta_1^t (1 without bias correction)
    bias_correction_2: object  # 1 - beta_2^t
    gradient_divisor: object = 1.0  # max(1, ||G||) with NVLAMB, else 1


def _one_minus_power(beta, t):
    """1 - beta**t in float32 without cancellation: -expm1(t * log(beta)).

    `1 - float32(0.999)` is off by 1.3e-5 relative (0.999 is not a float32), so
    for a Python float log(beta) is taken in float64 before the cast and the
    result is accurate to a few float32 ulps. A tensor (a value bound per
    trial) is already float32: its log is taken with keras.ops (log(0) = -inf
    gives exactly 1, as beta = 0 should).
    """
    if isinstance(beta, float):
        log_beta = math.log(beta) if beta > 0.0 else -math.inf
    else:
        log_beta = ops.log(ops.cast(beta, "float32"))
    return -ops.expm1(t * log_beta)


def _check_bounds(bounds):
    """`None` or a `(lower, upper)` pair of floats with 0 <= lower <= upper."""
    if bounds is None:
        return None
    if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
        raise ConfigError(
            "trust_ratio_bounds: expected null or a pair [lower, upper], got "
            f"{checks.describe(bounds)}"
        )
    lower = float(checks.number(bounds[0], "trust_ratio_bounds[0]", 0))
    upper = float(checks.number(bounds[1], "trust_ratio_bounds[1]", 0, low_open=True))
    if lower > upper:
        raise ConfigError(
            f"trust_ratio_bounds: expected lower <= upper, got {list(bounds)!r}"
        )
    return (lower, upper)


@keras.saving.register_keras_serializable(package="tfbsz")
class LAMB(LayerwiseOptimizer):
    """Layer-wise Adaptive Moments optimizer for Batch training (LAMB).

    Args:
        learning_rate: a positive float, a `LearningRateSchedule` (called with
            the number of optimizer updates) or a callable. Defaults to 0.001.
        beta_1: decay of the first moment, in [0, 1). Defaults to 0.9.
        beta_2: decay of the second moment, in [0, 1). Defaults to 0.999.
        epsilon: added to sqrt(v^), > 0. Defaults to 1e-6 (the paper's value).
        weight_decay: lambda, >= 0, added to the update before the trust ratio
            is taken. Defaults to 0.
        exclude_from_weight_decay: `None` (variables of rank <= 1) or regexes
            searched in variable paths; `[]` decays everything.
        exclude_from_layer_adaptation: the same, for the trust ratio; excluded
            variables move by `learning_rate * u`. Independent of the other.
        bias_correction: divide the moments by (1 - beta^t). Defaults to True;
            False gives the v3 preprint / ALBERT variant.
        normalize_by_global_gradient_norm: divide all gradients by
            max(1, global gradient norm) before the moments (NVLAMB). Defaults
            to False.
        trust_ratio_bounds: `None` or `(lower, upper)`: clamp the computed trust
            ratio (the paper's bounded phi). Guarded ratios (exactly 1) are not
            clamped. Defaults to None.
        **kwargs: Keras's base optimizer arguments (`clipnorm`, `clipvalue`,
            `global_clipnorm`, `use_ema`, `ema_momentum`,
            `ema_overwrite_frequency`, `loss_scale_factor`,
            `gradient_accumulation_steps`, `name`).

    Raises:
        ConfigError: an argument is out of range; the message names it.
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        weight_decay=0.0,
        exclude_from_weight_decay=None,
        exclude_from_layer_adaptation=None,
        bias_correction=True,
        normalize_by_global_gradient_norm=False,
        trust_ratio_bounds=None,
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            exclude_from_weight_decay=exclude_from_weight_decay,
            exclude_from_layer_adaptation=exclude_from_layer_adaptation,
            **kwargs,
        )
        self.beta_1 = float(checks.number(beta_1, "beta_1", 0, 1, high_open=True))
        self.beta_2 = float(checks.number(beta_2, "beta_2", 0, 1, high_open=True))
        self.epsilon = float(checks.number(epsilon, "epsilon", 0, low_open=True))
        self.bias_correction = checks.boolean(bias_correction, "bias_correction")
        self.normalize_by_global_gradient_norm = checks.boolean(
            normalize_by_global_gradient_norm, "normalize_by_global_gradient_norm"
        )
        self.trust_ratio_bounds = _check_bounds(trust_ratio_bounds)

    def build(self, var_list):
        """Creates the two moments per variable."""
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )

    def _slots(self, index):
        return (self._momentums[index], self._velocities[index])

    def _step_scalars(self, learning_rate):
        t = ops.cast(self.iterations + 1, "float32")
        beta_1, beta_2 = self.beta_1, self.beta_2
        corrected = self.bias_correction
        return LambStep(
            learning_rate=ops.cast(learning_rate, "float32"),
            beta_1=beta_1,
            one_minus_beta_1=1.0 - beta_1,
            beta_2=beta_2,
            one_minus_beta_2=1.0 - beta_2,
            epsilon=self.epsilon,
            weight_decay=self.weight_decay,
            bias_correction_1=_one_minus_power(beta_1, t) if corrected else 1.0,
            bias_correction_2=_one_minus_power(beta_2, t) if corrected else 1.0,
        )

    def _with_gradients(self, step, grads):
        # NVLAMB: the norm of all gradients, which the batched update receives after
        # the cross-replica sum under tf.distribute.
        if not self.normalize_by_global_gradient_norm:
            return step
        return step._replace(gradient_divisor=ops.maximum(global_l2_norm(grads), 1.0))

    def _direction(self, gradient, weight, slots, step, decay):
        """LAMB's rule for one variable: the update `u`, the new moments, and (w, u),
        whose norms give the trust ratio. Float32 tensors in and out; `decay` (static)
        says whether this variable gets weight decay."""
        m, v = slots
        g = gradient
        if self.normalize_by_global_gradient_norm:
            g = g / step.gradient_divisor
        m = m * step.beta_1 + g * step.one_minus_beta_1
        v = v * step.beta_2 + ops.square(g) * step.one_minus_beta_2
        if self.bias_correction:
            m_hat, v_hat = m / step.bias_correction_1, v / step.bias_correction_2
        else:
            m_hat, v_hat = m, v
        u = m_hat / (ops.sqrt(v_hat) + step.epsilon)
        if decay:
            u = u + step.weight_decay * weight
        return Direction(update=u, norm_inputs=NormInputs(weight=weight, other=u), slots=(m, v))

    def _trust_ratio(self, norms, step, decay):
        """phi = ||w|| / ||u|| (1 when either is 0), clipped to the bounds when given."""
        ratio = guarded_ratio(norms.weight, norms.other)
        if self.trust_ratio_bounds is None:
            return ratio
        lower, upper = self.trust_ratio_bounds
        usable = ops.logical_and(ops.greater(norms.weight, 0.0), ops.greater(norms.other, 0.0))
        return ops.where(usable, ops.clip(ratio, lower, upper), ratio)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "bias_correction": self.bias_correction,
                "normalize_by_global_gradient_norm": self.normalize_by_global_gradient_norm,
                "trust_ratio_bounds": (
                    None if self.trust_ratio_bounds is None else list(self.trust_ratio_bounds)
                ),
            }
        )
        return config
