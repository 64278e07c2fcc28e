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

from tfbsz.core.errors import ConfigError
from tfbsz.optimizers.exclusions import (
    LayerwiseOptimizer,
    VariableUpdate,
    check_bool,
    check_number,
)
from tfbsz.optimizers.trust_ratio import global_l2_norm, guarded_ratio

__all__ = ["LAMB", "LambStep"]


class LambStep(NamedTuple):
    """The scalars of one LAMB step, shared by all variables (tensors or Python floats).

    Hyperparameters arrive here as the optimizer holds them: Python floats, or
    tensors bound per trial (`tfbsz.optimizers.per_trial.bind`); the update
    reads them only through keras.ops.
    """

    learning_rate: object
    beta_1: object
    one_minus_beta_1: object  # 1 - beta_1, in float64 when beta_1 is a Python float
    beta_2: object
    one_minus_beta_2: object
    epsilon: object
    weight_decay: object
    bias_correction_1: object  # 1 - beta_1^t (1 without bias correction)
    bias_correction_2: object  # 1 - beta_2^t
    gradient_divisor: object  # max(1, ||G||) for NVLAMB, else 1


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
            f"trust_ratio_bounds: expected null or a pair [lower, upper], got {bounds!r}"
        )
    lower = check_number("trust_ratio_bounds[0]", bounds[0], 0.0)
    upper = check_number("trust_ratio_bounds[1]", bounds[1], 0.0, low_open=True)
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
        self.beta_1 = check_number("beta_1", beta_1, 0.0, 1.0, high_open=True)
        self.beta_2 = check_number("beta_2", beta_2, 0.0, 1.0, high_open=True)
        self.epsilon = check_number("epsilon", epsilon, 0.0, low_open=True)
        self.bias_correction = check_bool("bias_correction", bias_correction)
        self.normalize_by_global_gradient_norm = check_bool(
            "normalize_by_global_gradient_norm", normalize_by_global_gradient_norm
        )
        self.trust_ratio_bounds = _check_bounds(trust_ratio_bounds)

    def build(self, var_list):
        """Creates the two moments per variable (and the global-norm scalar for NVLAMB)."""
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )
        if self.normalize_by_global_gradient_norm:
            self._global_gradient_norm = self.add_variable(
                shape=(), dtype="float32", name="global_gradient_norm"
            )

    # --- NVLAMB: the global norm, after the cross-replica sum -------------------------
    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if self.normalize_by_global_gradient_norm and keras.backend.backend() != "tensorflow":
            self.assign(self._global_gradient_norm, global_l2_norm(grads))
        super()._backend_update_step(grads, trainable_variables, learning_rate)

    def _distributed_tf_update_step(self, distribution, grads_and_vars, learning_rate):
        # TensorFlow backend only: Keras calls this with all-reduced gradients.
        if self.normalize_by_global_gradient_norm:
            grads = [g for g, _ in grads_and_vars]

            def store_norm(norm_variable, *local_grads):
                return norm_variable.assign(global_l2_norm(local_grads))

            distribution.extended.update(
                self._global_gradient_norm.value, store_norm, args=tuple(grads), group=False
            )
        return super()._distributed_tf_update_step(distribution, grads_and_vars, learning_rate)

    # --- the update ---------------------------------------------------------------------
    def _slots(self, index):
        return (self._momentums[index], self._velocities[index])

    def _step_scalars(self, learning_rate):
        t = ops.cast(self.iterations + 1, "float32")
        beta_1, beta_2 = self.beta_1, self.beta_2
        if self.bias_correction:
            corrections = (_one_minus_power(beta_1, t), _one_minus_power(beta_2, t))
        else:
            corrections = (1.0, 1.0)
        divisor = 1.0
        if self.normalize_by_global_gradient_norm:
            divisor = ops.maximum(ops.cast(self._global_gradient_norm, "float32"), 1.0)
        return LambStep(
            learning_rate=ops.cast(learning_rate, "float32"),
            beta_1=beta_1,
            one_minus_beta_1=1.0 - beta_1,
            beta_2=beta_2,
            one_minus_beta_2=1.0 - beta_2,
            epsilon=self.epsilon,
            weight_decay=self.weight_decay,
            bias_correction_1=corrections[0],
            bias_correction_2=corrections[1],
            gradient_divisor=divisor,
        )

    def _make_kernel(self, decay, adapt):
        """The pure per-variable update (float32 inside) for one pair of resolved flags."""
        bias_correction = self.bias_correction
        normalize = self.normalize_by_global_gradient_norm
        trust_ratio = self._trust_ratio

        def prepare(gradient, variable, slots, scalars):
            m, v = slots
            g = ops.cast(gradient, "float32")
            if normalize:  # NVLAMB
                g = g / scalars.gradient_divisor
            w = ops.cast(variable, "float32")
            m_new = ops.cast(m, "float32") * scalars.beta_1 + g * scalars.one_minus_beta_1
            v_new = (
                ops.cast(v, "float32") * scalars.beta_2
                + ops.square(g) * scalars.one_minus_beta_2
            )
            if bias_correction:
                m_hat = m_new / scalars.bias_correction_1
                v_hat = v_new / scalars.bias_correction_2
            else:
                m_hat, v_hat = m_new, v_new
            update = m_hat / (ops.sqrt(v_hat) + scalars.epsilon)
            if decay:
                update = update + scalars.weight_decay * w
            new_slots = (ops.cast(m_new, m.dtype), ops.cast(v_new, v.dtype))
            carry = (w, update, new_slots, variable.dtype)
            return carry, ((w, update) if adapt else None)

        def finish(carry, norms, scalars):
            w, update, new_slots, dtype = carry
            step = scalars.learning_rate
            if norms is not None:
                step = step * trust_ratio(*norms)
            return ops.cast(w - step * update, dtype), new_slots

        return VariableUpdate(prepare, finish)

    def _trust_ratio(self, weight_norm, update_norm):
        ratio = guarded_ratio(weight_norm, update_norm)
        if self.trust_ratio_bounds is None:
            return ratio
        lower, upper = self.trust_ratio_bounds
        usable = ops.logical_and(ops.greater(weight_norm, 0.0), ops.greater(update_norm, 0.0))
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
