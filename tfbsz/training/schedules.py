"""Learning-rate schedules that count optimizer updates, and batch-size scaling rules.

A schedule is built from the config's `schedule:` section::

    schedule: {name: linear_decay, decay_fraction: 1.0, end_factor: 0.01, warmup_steps: 0}

Every schedule is a function of `t`, the number of optimizer *updates* done before the
current one (0 for the first update). Keras calls a schedule with its micro-step counter
(`optimizer._iterations`), which under `gradient_accumulation_steps=A` advances A times per
update; `build(..., accumulation_steps=A)` divides it back: ``t = floor(step / A)``. The
update that Keras applies after micro-steps ``k*A .. k*A + A-1`` reads the schedule at
``step = k*A + A-1`` and so gets ``t = k``, the same value as update k without accumulation.
An optimizer that already passes its update count to the schedule (as tfbsz's LARS and LAMB
may) must be given ``accumulation_steps=1``.

Schedules (``lr0`` is the base learning rate, ``N`` the run's total number of updates):

* ``constant``: ``lr(t) = lr0``.
* ``linear_decay`` (Shallue et al. 2019): ``lr(t) = lr0 * (1 - (1 - end_factor) * min(t, T) / T)``
  with ``T = decay_steps`` or ``round(decay_fraction * N)``; constant at ``end_factor * lr0``
  after ``T``.
* ``cosine``: ``lr(t) = lr0 * (end_factor + (1 - end_factor) * (1 + cos(pi * min(t, T) / T)) / 2)``,
  ``T`` as for ``linear_decay``.
* ``cyclic`` (Smith 2017, triangular): with ``C = cycle_steps`` (a full cycle, up then down),
  ``c = floor(t / C)`` and ``u = t - c*C``, ``lr(t) = lr0 * (min_factor + (1 - min_factor) *
  amplitude_decay**c * (1 - |2u/C - 1|))``: it starts at ``min_factor * lr0``, peaks at ``lr0``
  in mid-cycle, and each cycle's amplitude is ``amplitude_decay`` times the previous one
  (0.5 gives Smith's "triangular2").
* ``one_cycle`` (Smith & Topin 2018): with ``P = pct_start * N``,
  ``lr`` goes from ``lr0 / div_factor`` at ``t = 0`` to ``lr0`` at ``t = P``, then to
  ``lr0 / final_div_factor`` at ``t = N`` and stays there. Both phases follow ``anneal``:
  ``cosine`` interpolates ``a + (b - a) * (1 - cos(pi * p)) / 2``, ``linear`` ``a + (b - a) * p``,
  ``p`` being the fraction of the phase done. Unlike PyTorch's ``OneCycleLR`` (whose final rate
  is ``lr0 / div_factor / final_div_factor``), the final rate here is ``lr0 / final_div_factor``.
  Its momentum companion (`build_momentum`, `MomentumSchedule`) runs the inverse cycle:
  ``max_momentum -> base_momentum`` over ``[0, P]`` and back to ``max_momentum`` at ``N``.

Warmup (every schedule): ``W = warmup_steps`` or ``round(warmup_fraction * N)`` (at most one of
the two may be non-zero). For ``t < W``: ``lr(t) = v(W) * (s + (1 - s) * t / W)``, where ``v`` is
the schedule above and ``s = warmup_start_factor`` (default 0, so the first update has rate 0,
as with Keras's own ``CosineDecay`` warmup); for ``t >= W``, ``lr(t) = v(t)``. The rate is
continuous at ``t = W``. The schedule keeps its own clock: warmup does not delay the decay.

All formulas use `keras.ops` with no Python branch on the step, so schedules work inside
`tf.function` and `jax.jit`.

Example:

>>> from tfbsz import schedules
>>> lr = schedules.build({"name": "linear_decay", "end_factor": 0.1}, 1.0, total_steps=10)
>>> [round(float(lr(t)), 2) for t in (0, 5, 10, 20)]
[1.0, 0.55, 0.1, 0.1]
>>> lr = schedules.build({"name": "constant", "warmup_steps": 4}, 0.8, 100, accumulation_steps=2)
>>> [round(float(lr(step)), 2) for step in (0, 1, 2, 3, 8)]
[0.0, 0.0, 0.2, 0.2, 0.8]
>>> schedules.scale_learning_rate(0.1, batch_size=1024, base_batch_size=256, rule="linear")
0.4
"""

import math

import keras
from keras import ops

from tfbsz.core import checks
from tfbsz.core.errors import ConfigError
from tfbsz.core.registry import Registry, check_option_names
from tfbsz.core.schema import SCALING_RULES

__all__ = [
    "build",
    "build_momentum",
    "names",
    "options",
    "UpdateSchedule",
    "OneCycleMomentum",
    "MomentumSchedule",
    "scale_learning_rate",
    "scale_warmup",
    "SCALING_RULES",
]


WARMUP_OPTIONS = {"warmup_steps": 0, "warmup_fraction": 0.0, "warmup_start_factor": 0.0}

_FORMULAS = Registry("schedule", key="schedule.name")
_OWN_OPTIONS = {}


def _schedule(name, **defaults):
    """Registers a formula `fn(t, lr0, opts) -> lr` and its own options with defaults."""

    def decorator(fn):
        _FORMULAS.register(name, fn)
        _OWN_OPTIONS[name] = defaults
        return fn

    return decorator


def names():
    """The valid `schedule.name` values, sorted."""
    return _FORMULAS.names()


def options(name):
    """The valid options of schedule `name` with their defaults (warmup options included).

    Example:

    >>> options("cyclic")["min_factor"]
    0.1
    """
    _FORMULAS.get(name)
    return {**_OWN_OPTIONS[name], **WARMUP_OPTIONS}


# ---------------------------------------------------------------------------------------------
# Formulas: `t` is a float32 tensor of updates done; `opts` holds resolved options.
# ---------------------------------------------------------------------------------------------


@_schedule("constant")
def _constant(t, lr0, opts):
    return ops.zeros_like(t) + lr0


def _decay_progress(t, opts):
    decay_steps = float(opts["_decay_steps"])
    return ops.minimum(t, decay_steps) / decay_steps


@_schedule("linear_decay", decay_steps=None, decay_fraction=1.0, end_factor=0.01)
def _linear_decay(t, lr0, opts):
    return lr0 * (1.0 - (1.0 - opts["end_factor"]) * _decay_progress(t, opts))


@_schedule("cosine", decay_steps=None, decay_fraction=1.0, end_factor=0.0)
def _cosine(t, lr0, opts):
    cosine = 0.5 * (1.0 + ops.cos(math.pi * _decay_progress(t, opts)))
    return lr0 * (opts["end_factor"] + (1.0 - opts["end_factor"]) * cosine)


@_schedule("cyclic", cycle_steps=None, min_factor=0.1, amplitude_decay=1.0)
def _cyclic(t, lr0, opts):
    cycle_steps = float(opts["cycle_steps"])
    cycle = ops.floor(t / cycle_steps)
    position = t - cycle * cycle_steps
    triangle = 1.0 - ops.abs(2.0 * position / cycle_steps - 1.0)
    amplitude = (1.0 - opts["min_factor"]) * ops.power(float(opts["amplitude_decay"]), cycle)
    return lr0 * (opts["min_factor"] + amplitude * triangle)


def _interpolate(start, end, fraction, anneal):
    if anneal == "cosine":
        fraction = 0.5 * (1.0 - ops.cos(math.pi * fraction))
    return start + (end - start) * fraction


def _one_cycle_shape(t, start, peak, end, opts):
    """`start` at t=0, `peak` at t=P, `end` at t>=N, along `opts['anneal']`."""
    peak_step = opts["pct_start"] * opts["_total_steps"]
    down_steps = opts["_total_steps"] - peak_step
    up = _interpolate(start, peak, ops.minimum(t / peak_step, 1.0), opts["anneal"])
    down_fraction = ops.clip((t - peak_step) / down_steps, 0.0, 1.0)
    down = _interpolate(peak, end, down_fraction, opts["anneal"])
    return ops.where(t < peak_step, up, down)


@_schedule(
    "one_cycle",
    pct_start=0.3,
    div_factor=25.0,
    final_div_factor=1e4,
    anneal="cosine",
    base_momentum=0.85,
    max_momentum=0.95,
)
def _one_cycle(t, lr0, opts):
    start = lr0 / opts["div_factor"]
    end = lr0 / opts["final_div_factor"]
    return _one_cycle_shape(t, start, lr0, end, opts)


# ---------------------------------------------------------------------------------------------
# Option checks
# ---------------------------------------------------------------------------------------------


def _resolve_options(name, given, total_steps):
    """Checks `given` options of schedule `name`, fills defaults, adds derived `_` keys."""
    check_option_names("schedule", name, given, options(name))
    opts = {**options(name), **given}
    opts["_total_steps"] = total_steps

    opts["warmup_steps"] = checks.integer(opts["warmup_steps"], "schedule.warmup_steps", 0)
    opts["warmup_fraction"] = checks.number(
        opts["warmup_fraction"], "schedule.warmup_fraction", 0, 1
    )
    opts["warmup_start_factor"] = checks.number(
        opts["warmup_start_factor"], "schedule.warmup_start_factor", 0, 1
    )
    if opts["warmup_steps"] and opts["warmup_fraction"]:
        raise ConfigError(
            "schedule.warmup_steps: give warmup_steps or warmup_fraction, not both; got "
            f"warmup_steps={opts['warmup_steps']}, warmup_fraction={opts['warmup_fraction']}"
        )
    opts["_warmup_steps"] = opts["warmup_steps"] or round(opts["warmup_fraction"] * total_steps)

    if "decay_fraction" in opts:
        opts["decay_fraction"] = checks.number(
            opts["decay_fraction"], "schedule.decay_fraction", 0, 1, low_open=True
        )
        opts["end_factor"] = checks.number(opts["end_factor"], "schedule.end_factor", 0, 1)
        if opts["decay_steps"] is None:
            opts["_decay_steps"] = max(1, round(opts["decay_fraction"] * total_steps))
        else:
            opts["decay_steps"] = checks.integer(opts["decay_steps"], "schedule.decay_steps", 1)
            opts["_decay_steps"] = opts["decay_steps"]

    if name == "cyclic":
        if opts["cycle_steps"] is None:
            raise ConfigError(
                "schedule.cycle_steps: required for schedule 'cyclic' (updates per full "
                "cycle, up and down), expected an integer >= 2, got None"
            )
        opts["cycle_steps"] = checks.integer(opts["cycle_steps"], "schedule.cycle_steps", 2)
        opts["min_factor"] = checks.number(opts["min_factor"], "schedule.min_factor", 0, 1)
        opts["amplitude_decay"] = checks.number(
            opts["amplitude_decay"], "schedule.amplitude_decay", 0, 1, low_open=True
        )

    if name == "one_cycle":
        opts["pct_start"] = checks.number(opts["pct_start"], "schedule.pct_start", 0, 1, True, True)
        opts["div_factor"] = checks.number(opts["div_factor"], "schedule.div_factor", 1)
        opts["final_div_factor"] = checks.number(
            opts["final_div_factor"], "schedule.final_div_factor", 1
        )
        opts["anneal"] = checks.choice(opts["anneal"], "schedule.anneal", ("cosine", "linear"))
        opts["base_momentum"] = checks.number(opts["base_momentum"], "schedule.base_momentum", 0, 1)
        opts["max_momentum"] = checks.number(opts["max_momentum"], "schedule.max_momentum", 0, 1)
        if opts["base_momentum"] > opts["max_momentum"]:
            raise ConfigError(
                "schedule.base_momentum: expected base_momentum <= max_momentum, got "
                f"base_momentum={opts['base_momentum']}, max_momentum={opts['max_momentum']}"
            )
    return opts


def _public(opts):
    return {k: v for k, v in opts.items() if not k.startswith("_")}


# ---------------------------------------------------------------------------------------------
# Schedule objects
# ---------------------------------------------------------------------------------------------


def _updates_done(step, accumulation_steps):
    """`floor(step / accumulation_steps)` as float32, traceable."""
    step = ops.cast(ops.convert_to_tensor(step), "float32")
    if accumulation_steps == 1:
        return step
    return ops.floor(step / float(accumulation_steps))


@keras.saving.register_keras_serializable(package="tfbsz")
class UpdateSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A tfbsz learning-rate schedule: one named formula, warmup, update counting.

    Build it with `build`; the formulas are listed in this module's docstring.

    Args:
        name: one of `names()`.
        base_learning_rate: ``lr0``, a positive number.
        total_steps: ``N``, the run's number of optimizer updates (>= 1).
        accumulation_steps: micro-steps per update; the step passed in is divided by it.
        options: the schedule's options (see `options(name)`); missing ones take defaults.

    Raises:
        ConfigError: unknown name or option, or a value out of range.

    Example:

    >>> s = UpdateSchedule("cosine", 1.0, total_steps=4, options={"end_factor": 0.0})
    >>> [round(float(s(t)), 3) for t in range(5)]
    [1.0, 0.854, 0.5, 0.146, 0.0]
    """

    def __init__(self, name, base_learning_rate, total_steps, accumulation_steps=1, options=None):
        self._formula = _FORMULAS.get(name)
        self.name = name
        self.base_learning_rate = checks.number(
            base_learning_rate, "base_learning_rate", 0, low_open=True
        )
        self.total_steps = checks.integer(total_steps, "total_steps", 1)
        self.accumulation_steps = checks.integer(accumulation_steps, "accumulation_steps", 1)
        self._opts = _resolve_options(name, dict(options or {}), self.total_steps)
        self.options = _public(self._opts)

    @property
    def warmup_steps(self):
        """``W``, the resolved number of warmup updates."""
        return self._opts["_warmup_steps"]

    def value_at_update(self, t):
        """The learning rate of update `t` (0-based), not divided by `accumulation_steps`."""
        t = ops.cast(ops.convert_to_tensor(t), "float32")
        lr0 = self.base_learning_rate
        value = self._formula(t, lr0, self._opts)
        warmup = float(self.warmup_steps)
        if warmup == 0:
            return value
        end_value = self._formula(ops.convert_to_tensor(warmup, "float32"), lr0, self._opts)
        start = self._opts["warmup_start_factor"]
        ramp = end_value * (start + (1.0 - start) * t / warmup)
        return ops.where(t < warmup, ramp, value)

    def __call__(self, step):
        return self.value_at_update(_updates_done(step, self.accumulation_steps))

    def get_config(self):
        return {
            "name": self.name,
            "base_learning_rate": self.base_learning_rate,
            "total_steps": self.total_steps,
            "accumulation_steps": self.accumulation_steps,
            "options": dict(self.options),
        }


def build(schedule_cfg, base_learning_rate, total_steps, accumulation_steps=1):
    """Builds the learning-rate schedule described by the config's `schedule:` section.

    Args:
        schedule_cfg: dict with `name` (default ``constant``) and that schedule's options;
            `None` or ``{}`` means a constant rate.
        base_learning_rate: ``lr0`` (already scaled for the batch size if wanted).
        total_steps: the run's number of optimizer updates ``N``.
        accumulation_steps: Keras's `gradient_accumulation_steps` (1 without accumulation);
            the step Keras passes is divided by it (floor). Give 1 to optimizers that pass
            their update count themselves.

    Returns:
        An `UpdateSchedule` (a serializable `keras.optimizers.schedules.LearningRateSchedule`).

    Raises:
        ConfigError: unknown name or option (the message names `schedule.<key>` and lists the
            valid ones) or a value out of range.

    Example:

    >>> s = build({"name": "cyclic", "cycle_steps": 4, "min_factor": 0.0}, 1.0, 100)
    >>> [float(s(t)) for t in range(5)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    cfg = dict(schedule_cfg or {})
    name = cfg.pop("name", "constant")
    return UpdateSchedule(name, base_learning_rate, total_steps, accumulation_steps, cfg)


# ---------------------------------------------------------------------------------------------
# One-cycle momentum
# ---------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="tfbsz")
class OneCycleMomentum:
    """The momentum of one-cycle training, the inverse of its learning-rate cycle.

    ``max_momentum`` at update 0, ``base_momentum`` at ``P = pct_start * N``, back to
    ``max_momentum`` at ``N`` and after, along the same `anneal` shape as the learning rate.
    Called with the number of updates done (not micro-steps).

    Example:

    >>> m = OneCycleMomentum(total_steps=10, options={"pct_start": 0.5, "anneal": "linear"})
    >>> [round(float(m(t)), 3) for t in (0, 5, 10)]
    [0.95, 0.85, 0.95]
    """

    def __init__(self, total_steps, options=None):
        self.total_steps = checks.integer(total_steps, "total_steps", 1)
        self._opts = _resolve_options("one_cycle", dict(options or {}), self.total_steps)
        self.options = _public(self._opts)

    def __call__(self, updates):
        t = ops.cast(ops.convert_to_tensor(updates), "float32")
        high, low = self._opts["max_momentum"], self._opts["base_momentum"]
        return _one_cycle_shape(t, high, low, high, self._opts)

    def get_config(self):
        return {"total_steps": self.total_steps, "options": dict(self.options)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_momentum(schedule_cfg, total_steps):
    """The momentum schedule that goes with `schedule_cfg`, or None if it has none.

    Only ``one_cycle`` schedules momentum. Feed the result to `MomentumSchedule`.

    Example:

    >>> build_momentum({"name": "linear_decay"}, 100) is None
    True
    >>> round(float(build_momentum({"name": "one_cycle"}, 100)(0)), 4)
    0.95
    """
    cfg = dict(schedule_cfg or {})
    name = cfg.pop("name", "constant")
    _FORMULAS.get(name)
    if name != "one_cycle":
        _resolve_options(name, cfg, checks.integer(total_steps, "total_steps", 1))
        return None
    return OneCycleMomentum(total_steps, cfg)


class MomentumSchedule(keras.callbacks.Callback):
    """Sets the optimizer's momentum before every batch from a schedule of updates.

    The schedule is called with `optimizer.iterations`, which Keras already reports in
    updates under gradient accumulation (and which `LossScaleOptimizer` forwards), so the
    momentum schedule is never divided by `accumulation_steps`.

    Which optimizers work (the callback looks through `LossScaleOptimizer` to the inner one):

    * one with a `momentum_variable` (tfbsz's `MomentumSGD`, built by the config names
      `momentum` and `nesterov`, and tfbsz's `LARS`): the float property `momentum` is set
      every batch, which assigns that variable in place: no retrace, full speed on TensorFlow
      and JAX, also under gradient accumulation and mixed precision.
    * one whose `momentum` attribute is a `keras.Variable` (the optimizer multiplies by it
      inside its update): assigned in place the same way (on JAX the variable must be one of
      `optimizer.variables`, which Keras arranges for variables set as optimizer attributes).
    * a Python float (Keras's own `SGD`, including Nesterov): the float is read when the train
      function is traced, so the callback sets it and rebuilds the train function whenever
      the value rounded to `decimals` changes. Correct, but each change costs a retrace
      (about 0.3 s for a small MLP on CPU): fine for short runs or `run_eagerly=True`, slow
      for long compiled runs; use `tfbsz.optimizers.MomentumSGD` instead.

    An optimizer with no `momentum` attribute (e.g. Adam) raises `ConfigError` at train start.

    Args:
        schedule: callable ``updates -> momentum`` (e.g. `build_momentum(...)`).
        decimals: rounding of Python-float momenta (limits retraces), default 3; variable
            momenta are set unrounded.

    Example:

    >>> import keras
    >>> cb = MomentumSchedule(build_momentum({"name": "one_cycle"}, total_steps=100))
    >>> isinstance(cb, keras.callbacks.Callback)
    True
    """

    def __init__(self, schedule, decimals=3):
        super().__init__()
        if not callable(schedule):
            raise ConfigError(f"MomentumSchedule.schedule: expected a callable, got {schedule!r}")
        self.schedule = schedule
        self.decimals = checks.integer(decimals, "decimals", 0)
        self.history = []

    def _optimizer(self):
        optimizer = self.model.optimizer
        return getattr(optimizer, "inner_optimizer", optimizer)

    def on_train_begin(self, logs=None):
        if not self.model.optimizer.built:
            # As Keras's own symbolic build does; a variable momentum exists only once built.
            self.model.optimizer.build(self.model.trainable_variables)
        optimizer = self._optimizer()
        if not hasattr(optimizer, "momentum"):
            raise ConfigError(
                f"MomentumSchedule: optimizer {type(optimizer).__name__} has no `momentum` "
                "attribute; use SGD with momentum, Nesterov, LARS or another momentum optimizer"
            )
        current = optimizer.momentum  # a float for MomentumSGD and LARS (read from the variable)
        if not isinstance(current, keras.Variable) and float(current) == 0.0:
            raise ConfigError(
                "MomentumSchedule: the optimizer was built with momentum=0, so it keeps no "
                "velocity to schedule; give it a non-zero momentum"
            )

    def on_train_batch_begin(self, batch, logs=None):
        optimizer = self._optimizer()
        updates = int(ops.convert_to_numpy(optimizer.iterations))
        value = float(ops.convert_to_numpy(self.schedule(updates)))
        if getattr(optimizer, "momentum_variable", None) is not None:
            optimizer.momentum = value  # a property: assigns the variable
        elif isinstance(optimizer.momentum, keras.Variable):
            optimizer.momentum.assign(value)
        else:
            value = round(value, self.decimals)
            if value != optimizer.momentum:
                optimizer.momentum = value
                self.model.make_train_function(force=True)
        self.history.append(value)


# ---------------------------------------------------------------------------------------------
# Batch-size scaling rules
# ---------------------------------------------------------------------------------------------


def _check_scaling(batch_size, base_batch_size, rule, key):
    checks.choice(rule, key, SCALING_RULES)
    return checks.integer(batch_size, "batch_size") / checks.integer(base_batch_size, "base_batch_size")


def scale_learning_rate(learning_rate, batch_size, base_batch_size, rule):
    """The learning rate for `batch_size`, given one tuned at `base_batch_size`.

    * ``none``: unchanged.
    * ``linear`` (Goyal et al. 2017, "Accurate, Large Minibatch SGD"): ``lr * batch / base``.
    * ``sqrt`` (Krizhevsky 2014; Hoffer et al. 2017): ``lr * sqrt(batch / base)``.

    Shallue et al. (2019) found that no such rule holds across workloads, which is why tfbsz
    tunes every batch size; the rules give a search centre or a baseline.

    Raises:
        ConfigError: unknown rule or a batch size that is not a positive integer.

    Example:

    >>> scale_learning_rate(0.1, 1024, 256, "sqrt")
    0.2
    """
    ratio = _check_scaling(batch_size, base_batch_size, rule, "scale_learning_rate.rule")
    checks.number(learning_rate, "learning_rate", 0, low_open=True)
    factor = {"none": 1.0, "linear": ratio, "sqrt": math.sqrt(ratio)}[rule]
    return float(learning_rate) * factor


def scale_warmup(warmup_steps, batch_size, base_batch_size, rule):
    """The warmup length in updates for `batch_size`, given one set at `base_batch_size`.

    * ``none``: the same number of updates.
    * ``linear``: the same number of *examples* (Goyal et al. warm up for a fixed number of
      epochs), so ``steps * base / batch``.
    * ``sqrt``: ``steps * sqrt(base / batch)``, following the square-root learning-rate rule.

    Results are rounded to the nearest integer, but a non-zero warmup stays at least 1 update.

    Example:

    >>> scale_warmup(1000, batch_size=1024, base_batch_size=256, rule="linear")
    250
    """
    ratio = _check_scaling(batch_size, base_batch_size, rule, "scale_warmup.rule")
    warmup_steps = checks.integer(warmup_steps, "warmup_steps", 0)
    factor = {"none": 1.0, "linear": 1.0 / ratio, "sqrt": 1.0 / math.sqrt(ratio)}[rule]
    if warmup_steps == 0:
        return 0
    return max(1, round(warmup_steps * factor))
