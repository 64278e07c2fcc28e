"""Per-trial hyperparameters: one optimizer object, each cohort member's own values.

A cohort trains N trials of one batch size as one compiled program (on JAX,
`jax.jit(jax.vmap(step))` over each trial's parameters, optimizer state and
hyperparameters). The optimizer object is shared; `bind` makes its update read
a member's values, scalar tensors (tracers, batched under `vmap`), instead of
the numbers it was built with:

    with per_trial.bind(opt, {"learning_rate": lr_i, "beta_1": b1_i}):
        new_trainable, new_opt_vars = opt.stateless_apply(opt_vars, grads, trainable)

`per_trial_names(opt)` lists the names `bind` accepts for that optimizer:

| optimizer (factory name)               | per-trial names                                   |
| -------------------------------------- | ------------------------------------------------- |
| every one                              | learning_rate                                     |
| Keras `SGD` (`sgd`)                    | + weight_decay (a)                                |
| `MomentumSGD` (`momentum`, `nesterov`) | + momentum (b), weight_decay (a)                  |
| Keras `Adam` (`adam`)                  | + beta_1, beta_2, epsilon, weight_decay (a)       |
| Keras `AdamW` (`adamw`)                | + beta_1, beta_2, epsilon, weight_decay           |
| `LAMB` (`lamb`)                        | + beta_1, beta_2, epsilon, weight_decay (c)       |
| `LARS` (`lars`)                        | + trust_coefficient, epsilon, momentum (b), weight_decay (c) |

(a) Keras's optimizers decide `weight_decay is None` in Python (no decay term
at all): per-trial when built with a number (0.0 included). (b) When built
with a non-zero momentum (momentum 0 keeps no velocity). (c) When built with
`weight_decay > 0`: a 0 leaves the term out of the compiled update, so build a
cohort's optimizer with a non-zero weight decay when any member has one;
binding 0 then gives the numbers of an optimizer built with 0.

Keras's update code (keras/src/optimizers/, 3.15.1) was read for this table:
`Adam.update_step` uses beta_1, beta_2, epsilon only in arithmetic and
`ops.cast`; `SGD.update_step` branches on `self.momentum != 0` in Python, so
Keras's SGD momentum is not per-trial (the factory's `momentum` and
`nesterov` are tfbsz's `MomentumSGD`, whose momentum is); weight decay is
`BaseOptimizer._apply_weight_decay` (`ops.cast(self.weight_decay)` after an
`is None` test). Every Keras optimizer reads its learning rate through
`_get_current_learning_rate`, which returns `_learning_rate` itself when it
is neither a variable, a schedule nor a callable: `bind` puts the value
there, so the optimizer's own float, variable or `LearningRateSchedule` is
not used while bound (the cohort computes each member's scheduled rate).
tfbsz's `MomentumSGD` and `LARS` read the momentum through
`momentum_tensor()`, which `bind` points at the bound value. Any other Keras
optimizer: the learning rate only.

Static for all members (decided when the optimizer is built): the flags
(`nesterov`, `amsgrad`, `bias_correction`, `normalize_by_global_gradient_norm`,
`learning_rate_inside_momentum`, `trust_ratio_denominator`), the exclusion
rules, LAMB's `trust_ratio_bounds` (a pair, not a searchable scalar),
gradient clipping (Keras branches on `clipnorm` in Python), EMA and
accumulation settings.

Precision: a member's value bound as a float32 tensor is the float32 nearest
to it, and 0.999 is not a float32 (`float32(0.999)` = 0.99900001): such a
member's `1 - beta_2` is 1.3e-5 relative away from that of an optimizer built
with the Python float 0.999 (which computes `1 - beta_2` in float64). Values
that float32 holds exactly (and Python floats bound outside a traced
function, which are kept as they are) give the built optimizer's numbers.

Example:

>>> import keras, numpy as np
>>> from tfbsz.optimizers import build, per_trial
>>> opt = build("adam", 0.1)
>>> per_trial.per_trial_names(opt)
('learning_rate', 'beta_1', 'beta_2', 'epsilon')
>>> w = keras.Variable(np.zeros(2, "float32"))
>>> opt.build([w])
>>> with per_trial.bind(opt, {"learning_rate": 0.5}):
...     opt.apply([np.ones(2, "float32")], [w])
>>> [round(x, 4) for x in w.numpy().tolist()]      # Adam's first step moves by ~lr
[-0.5, -0.5]
>>> round(float(opt.learning_rate), 6)               # restored
0.1
>>> per_trial.bind(opt, {"momentum": 0.9}).__enter__()
Traceback (most recent call last):
...
ValueError: values: 'momentum' is not a per-trial hyperparameter of Adam (per-trial: learning_rate, beta_1, beta_2, epsilon)
"""

import contextlib

import keras
from keras import ops

from tfbsz.core import checks
from tfbsz.optimizers.layerwise import LayerwiseOptimizer
from tfbsz.optimizers.lamb import LAMB
from tfbsz.optimizers.lars import LARS
from tfbsz.optimizers.momentum_sgd import MomentumSGD
from tfbsz.optimizers.variable_momentum import VariableMomentum

__all__ = ["per_trial_names", "bind"]

# Keras classes whose update_step was read (see the module docstring); exact types,
# since a subclass may read its hyperparameters some other way.
_KERAS_ADAM = (keras.optimizers.Adam, keras.optimizers.AdamW)
_KERAS_WEIGHT_DECAY = (keras.optimizers.SGD, keras.optimizers.Adam, MomentumSGD)


def per_trial_names(optimizer):
    """The numeric hyperparameters of `optimizer` that may differ between cohort members.

    Args:
        optimizer: a Keras optimizer (a `LossScaleOptimizer` stands for its inner one).

    Returns:
        A tuple of names, always starting with "learning_rate".
    """
    return tuple(_attributes(_unwrap(optimizer)))


@contextlib.contextmanager
def bind(optimizer, values):
    """For the block, `optimizer`'s update uses `values` (name -> scalar); restored after.

    Args:
        optimizer: a Keras optimizer (a `LossScaleOptimizer` binds its inner one).
        values: a dict from names in `per_trial_names(optimizer)` to scalars: tensors
            (e.g. JAX tracers under `jit`/`vmap`, cast to float32) or Python numbers
            (kept as floats).

    Raises:
        ValueError: `optimizer` is not built, or a name is not per-trial for it (the
            message says which names are, and why a known static name is not).
    """
    optimizer = _unwrap(optimizer)
    if not optimizer.built:
        raise ValueError(
            f"optimizer: {type(optimizer).__name__} is not built; call "
            "optimizer.build(trainable_variables) before binding per-trial values"
        )
    attributes = _attributes(optimizer)
    if not isinstance(values, dict):
        raise ValueError(f"values: expected a dict of name -> scalar, got {values!r}")
    for name in values:
        if name not in attributes:
            raise ValueError(
                f"values: {name!r} is not a per-trial hyperparameter of "
                f"{type(optimizer).__name__} (per-trial: {', '.join(attributes)})"
                + _why_static(optimizer, name)
            )
    saved = []
    try:
        for name, value in values.items():
            attribute = attributes[name]
            saved.append((attribute, getattr(optimizer, attribute)))
            # object.__setattr__: Keras's own __setattr__ would track the value as state.
            object.__setattr__(optimizer, attribute, _scalar(value))
        yield optimizer
    finally:
        for attribute, value in reversed(saved):
            object.__setattr__(optimizer, attribute, value)


def _unwrap(optimizer):
    while isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer = optimizer.inner_optimizer
    return optimizer


def _scalar(value):
    if checks.is_number(value):
        return float(value)
    return ops.cast(value, "float32")


def _attributes(optimizer):
    """name -> the attribute of `optimizer` that its update reads for it."""
    names = {"learning_rate": "_learning_rate"}
    kind = type(optimizer)
    if kind in _KERAS_ADAM or isinstance(optimizer, LAMB):
        names.update(beta_1="beta_1", beta_2="beta_2", epsilon="epsilon")
    if isinstance(optimizer, LARS):
        names.update(trust_coefficient="trust_coefficient", epsilon="epsilon")
    if isinstance(optimizer, VariableMomentum) and _keeps_velocity(optimizer):
        names["momentum"] = "_momentum_variable"
    if isinstance(optimizer, LayerwiseOptimizer):
        if optimizer._decay_enabled:
            names["weight_decay"] = "weight_decay"
    elif kind in _KERAS_WEIGHT_DECAY + _KERAS_ADAM and optimizer.weight_decay is not None:
        names["weight_decay"] = "weight_decay"
    return names


def _keeps_velocity(optimizer):
    if optimizer.momentum_variable is None:  # not built yet: build() decides by the value
        return optimizer.momentum != 0.0
    return optimizer._momentum_has_velocity


def _why_static(optimizer, name):
    if name == "weight_decay" and isinstance(optimizer, LayerwiseOptimizer):
        return "; it was built with weight_decay=0, which leaves decay out of the update"
    if name == "weight_decay" and type(optimizer) in _KERAS_WEIGHT_DECAY + _KERAS_ADAM:
        return "; it was built with weight_decay=None (no decay); build it with a number"
    if name == "momentum" and isinstance(optimizer, VariableMomentum):
        return "; it was built with momentum 0, which keeps no velocity"
    if name == "momentum" and isinstance(optimizer, keras.optimizers.SGD):
        return "; Keras's SGD tests momentum != 0 in Python: use MomentumSGD"
    return ""
