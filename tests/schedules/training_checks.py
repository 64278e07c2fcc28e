"""Backend-agnostic training checks for schedules, run in-process (TF) and in a JAX subprocess.

The model is one weight `w` (a bias-free Dense(1) on inputs of ones) with loss `mean(w * x)`,
so every gradient is exactly 1 and the weights trace the learning rates (and momenta) used.
Not a test module itself: `test_schedule_in_training.py` loads it with `runpy.run_path`.
"""

import numpy as np

import keras
from keras import ops

from tfbsz.training import schedules
from tfbsz.optimizers import LARS, MomentumSGD


def _one_weight_model():
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    return model


def _fit(model, optimizer, micro_steps, callbacks=()):
    model.compile(optimizer=optimizer, loss=lambda y, p: ops.mean(p))
    x = np.ones((4 * micro_steps, 1), "float32")
    model.fit(x, x, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=list(callbacks))
    return float(ops.convert_to_numpy(model.weights[0])[0, 0])


def check_accumulated_updates():
    """With `gradient_accumulation_steps=3`, update k uses the schedule's rate for update k."""
    cfg = {"name": "linear_decay", "end_factor": 0.1, "warmup_steps": 2}
    per_update = schedules.build(cfg, 1.0, total_steps=6)
    micro = schedules.build(cfg, 1.0, total_steps=6, accumulation_steps=3)
    optimizer = keras.optimizers.SGD(micro, gradient_accumulation_steps=3)
    w = _fit(_one_weight_model(), optimizer, micro_steps=3 * 6)
    expected = -sum(float(per_update(k)) for k in range(6))
    np.testing.assert_allclose(w, expected, rtol=1e-5)
    assert int(ops.convert_to_numpy(optimizer.iterations)) == 6
    return w


def _momentum_reference(learning_rate, momenta, nesterov=False):
    velocity, w = 0.0, 0.0
    for m in momenta:
        velocity = m * velocity - learning_rate
        w += m * velocity - learning_rate if nesterov else velocity
    return w


def check_float_momentum_callback():
    """Keras SGD (float momentum): the callback's values really drive the updates."""
    steps = 8
    momentum = schedules.build_momentum({"name": "one_cycle", "pct_start": 0.5}, steps)
    callback = schedules.MomentumSchedule(momentum)
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    w = _fit(_one_weight_model(), optimizer, steps, [callback])
    expected_momenta = [round(float(momentum(k)), 3) for k in range(steps)]
    np.testing.assert_allclose(callback.history, expected_momenta, rtol=1e-6)
    np.testing.assert_allclose(w, _momentum_reference(0.1, expected_momenta), rtol=1e-5)
    # The first and middle values differ, so a callback that did nothing would fail here.
    assert abs(_momentum_reference(0.1, [0.9] * steps) - w) > 1e-3
    return w


class VariableMomentumSGD(keras.optimizers.Optimizer):
    """Heavy-ball SGD whose momentum is a variable, as MomentumSchedule's fast path expects."""

    def __init__(self, learning_rate=0.01, momentum=0.9, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_momentum = momentum

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentum = self.add_variable((), initializer="zeros", name="momentum_coefficient")
        self.momentum.assign(self.initial_momentum)
        self.velocities = self.add_optimizer_variables(variables, "velocity")

    def update_step(self, gradient, variable, learning_rate):
        velocity = self.velocities[self._get_variable_index(variable)]
        momentum = ops.cast(self.momentum, variable.dtype)
        lr = ops.cast(learning_rate, variable.dtype)
        self.assign(velocity, velocity * momentum - ops.cast(gradient, variable.dtype) * lr)
        self.assign_add(variable, velocity)


def check_variable_momentum_callback():
    """A variable momentum is assigned in place (no retrace) and drives compiled updates."""
    steps = 8
    momentum = schedules.build_momentum(
        {"name": "one_cycle", "pct_start": 0.5, "anneal": "linear"}, steps
    )
    callback = schedules.MomentumSchedule(momentum)
    model = _one_weight_model()
    optimizer = VariableMomentumSGD(0.1, momentum=0.9)
    w = _fit(model, optimizer, steps, [callback])
    expected_momenta = [float(momentum(k)) for k in range(steps)]
    np.testing.assert_allclose(callback.history, expected_momenta, rtol=1e-6)
    np.testing.assert_allclose(w, _momentum_reference(0.1, expected_momenta), rtol=1e-5)
    return w


class _TrainFunctionIds(keras.callbacks.Callback):
    """Records the train function used by every batch (a rebuilt one has a new id)."""

    def __init__(self):
        super().__init__()
        self.ids = []

    def on_train_batch_end(self, batch, logs=None):
        self.ids.append(id(self.model.train_function))


def _variable_optimizer(kind, accumulation=None):
    kwargs = {"gradient_accumulation_steps": accumulation} if accumulation else {}
    if kind == "lars":  # ratio 1 everywhere, no decay: heavy ball, v = m v + lr g; w -= v
        return LARS(0.1, momentum=0.9, exclude_from_layer_adaptation=[".*"], **kwargs)
    return MomentumSGD(0.1, momentum=0.9, nesterov=kind == "nesterov", **kwargs)


def check_momentum_variable_callback(kind="momentum", accumulation=1, policy=None):
    """tfbsz's MomentumSGD / LARS: the callback assigns `momentum_variable`, the compiled
    train function is never rebuilt, and the scheduled (unrounded) momenta drive the updates;
    also under gradient accumulation (one momentum per update) and mixed_float16 (the
    callback reaches the optimizer inside LossScaleOptimizer)."""
    updates = 8
    momentum = schedules.build_momentum({"name": "one_cycle", "pct_start": 0.5}, updates)
    callback, ids = schedules.MomentumSchedule(momentum), _TrainFunctionIds()
    previous = keras.config.dtype_policy()
    if policy:
        keras.config.set_dtype_policy(policy)
    try:
        model = _one_weight_model()
        optimizer = _variable_optimizer(kind, accumulation if accumulation > 1 else None)
        w = _fit(model, optimizer, updates * accumulation, [callback, ids])
    finally:
        keras.config.set_dtype_policy(previous)
    if policy == "mixed_float16":
        assert type(model.optimizer).__name__ == "LossScaleOptimizer"
    assert model.optimizer.built and optimizer.momentum_variable is not None
    assert len(set(ids.ids)) == 1, "the train function was rebuilt"
    expected = [float(momentum(k // accumulation)) for k in range(updates * accumulation)]
    np.testing.assert_allclose(callback.history, expected, rtol=1e-6)
    per_update = [float(momentum(k)) for k in range(updates)]
    reference = _momentum_reference(0.1, per_update, nesterov=kind == "nesterov")
    np.testing.assert_allclose(w, reference, rtol=1e-5)
    assert abs(_momentum_reference(0.1, [0.9] * updates, kind == "nesterov") - w) > 1e-3
    assert int(ops.convert_to_numpy(optimizer.iterations)) == updates
    np.testing.assert_allclose(float(optimizer.momentum), expected[-1], rtol=1e-6)
    return w


VARIABLE_MOMENTUM_CASES = [
    ("momentum", 1, None), ("nesterov", 1, None), ("lars", 1, None),
    ("momentum", 2, None), ("lars", 2, None),
    ("nesterov", 1, "mixed_float16"), ("lars", 2, "mixed_float16"),
]
