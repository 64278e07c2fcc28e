"""Build an optimizer from its config name and options.

Names: `sgd`, `adam`, `adamw` (Keras's own `SGD`, `Adam`, `AdamW`), `momentum`
(heavy ball) and `nesterov` (tfbsz's `MomentumSGD`: Keras's SGD update with the
momentum in a variable, so `tfbsz.training.schedules.MomentumSchedule` can change it
without a retrace), `lars` and `lamb` (tfbsz's `LARS`, `LAMB`).
`options(name)` lists each name's valid options with their defaults (for the
config validator); anything else is a `ConfigError` naming `optimizer.<key>`.
`gradient_accumulation_steps: 1` means no accumulation.

Learning-rate schedules: Keras's optimizers call a schedule with the
micro-batch counter, tfbsz's LARS and LAMB with the number of optimizer
updates. `schedule_counts_updates(name)` says which: build the schedule with
`accumulation_steps=1` when it is True, and with the accumulation steps
otherwise (`tfbsz.training.schedules.build` then divides the counter itself).

Example:

>>> from tfbsz.optimizers import build, options
>>> opt = build("lars", 2.0, momentum=0.8, weight_decay=1e-4)
>>> type(opt).__name__, opt.momentum, opt.trust_coefficient
('LARS', 0.8, 0.001)
>>> options("momentum")["momentum"]
0.9
>>> build("lamb", 0.01, beta1=0.9)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
tfbsz.core.errors.ConfigError: optimizer.beta1: unknown option for optimizer 'lamb' (did you mean 'beta_1'?); ...
"""

import inspect

import keras
from keras.optimizers.schedules import LearningRateSchedule

from tfbsz.core import checks
from tfbsz.core.errors import ConfigError
from tfbsz.optimizers.lamb import LAMB
from tfbsz.optimizers.lars import LARS
from tfbsz.optimizers.momentum_sgd import MomentumSGD
from tfbsz.core.registry import Component, Registry, check_option_names

__all__ = ["build", "names", "options", "schedule_counts_updates"]


_OPTIMIZERS = Registry("optimizer", key="optimizer.name")
_NOT_OPTIONS = {"self", "learning_rate", "name", "kwargs"}

# Ranges checked here for Keras's own optimizers too, so every name fails the same way.
_RANGES = {
    "momentum": dict(low=0, high=1, high_open=True),
    "beta_1": dict(low=0, high=1, high_open=True),
    "beta_2": dict(low=0, high=1, high_open=True),
    "epsilon": dict(low=0),
    "weight_decay": dict(low=0),
}


# Keras's base-optimizer arguments, which LARS and LAMB take through **kwargs.
_BASE_OPTIONS = (
    "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
    "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps",
)


def _signature_defaults(cls):
    params = inspect.signature(cls.__init__).parameters
    return {
        key: p.default
        for key, p in params.items()
        if key not in _NOT_OPTIONS and p.kind is p.POSITIONAL_OR_KEYWORD
    }


def _register(name, cls, overrides=None, **fixed):
    overrides = overrides or {}
    defaults = _signature_defaults(cls)
    base_defaults = _signature_defaults(keras.optimizers.SGD)
    for key in _BASE_OPTIONS:
        defaults.setdefault(key, base_defaults[key])
    for key in fixed:
        defaults.pop(key, None)
    defaults.update(overrides)
    _OPTIMIZERS.register(name, Component(defaults, cls, fixed=fixed))


_register("sgd", keras.optimizers.SGD, momentum=0.0, nesterov=False)
# Keras's SGD defaults to momentum 0; heavy ball and Nesterov default to 0.9. Both are
# MomentumSGD, Keras's SGD update with the momentum in a variable (schedulable, no retrace).
_register("momentum", MomentumSGD, overrides={"momentum": 0.9}, nesterov=False)
_register("nesterov", MomentumSGD, overrides={"momentum": 0.9}, nesterov=True)
_register("adam", keras.optimizers.Adam)
_register("adamw", keras.optimizers.AdamW)
_register("lars", LARS)
_register("lamb", LAMB)


def names():
    """The valid optimizer names, sorted."""
    return _OPTIMIZERS.names()


def options(name):
    """`{option: default}` for optimizer `name` (a copy); `ConfigError` for unknown names."""
    return dict(_OPTIMIZERS.get(name).defaults)


def schedule_counts_updates(name):
    """True when `name`'s optimizer calls schedules with the optimizer-update count."""
    return bool(getattr(_OPTIMIZERS.get(name).build, "schedule_counts_updates", False))


def _check_learning_rate(learning_rate):
    if checks.is_number(learning_rate):
        return float(checks.number(learning_rate, "optimizer.learning_rate", 0, low_open=True))
    if isinstance(learning_rate, LearningRateSchedule) or callable(learning_rate):
        return learning_rate
    raise ConfigError(
        "optimizer.learning_rate: expected a positive number or a LearningRateSchedule, "
        f"got {checks.describe(learning_rate)}"
    )


def _check_accumulation(kwargs):
    steps = checks.integer(
        kwargs.get("gradient_accumulation_steps"),
        "optimizer.gradient_accumulation_steps",
        allow_none=True,
    )
    if steps is not None:
        kwargs["gradient_accumulation_steps"] = None if steps == 1 else steps


def build(name, learning_rate, **kwargs):
    """A new optimizer `name` with `learning_rate` (a number or a schedule) and options.

    Args:
        name: one of `names()`.
        learning_rate: a positive number or a `LearningRateSchedule`.
        **kwargs: options of that optimizer, see `options(name)`.

    Returns:
        A `keras.optimizers.Optimizer`.

    Raises:
        ConfigError: unknown name (listing the valid ones), unknown option
            (named `optimizer.<option>`) or a value out of range.
    """
    entry = _OPTIMIZERS.get(name)
    learning_rate = _check_learning_rate(learning_rate)
    check_option_names("optimizer", name, kwargs, entry.defaults)
    kwargs = {**entry.defaults, **kwargs}
    _check_accumulation(kwargs)
    for key, rule in _RANGES.items():
        if kwargs.get(key) is not None:
            kwargs[key] = float(checks.number(kwargs[key], f"optimizer.{key}", **rule))
    try:
        return entry.build(learning_rate=learning_rate, **entry.fixed, **kwargs)
    except ConfigError as err:  # tfbsz's messages start with the argument name
        raise ConfigError(f"optimizer.{err}") from None
    except (ValueError, TypeError) as err:  # Keras's own checks
        raise ConfigError(f"optimizer ({name}): {err}") from None
