"""Backend-agnostic training checks for schedules, run in-process (TF) and in a JAX subprocess.

The model is one weight `w` (a bias-free Dense(1) on inputs of ones) with loss `mean(w * x)`,
so every gradient is exactly 1 and the weights trace the learning rates (and momenta) used.
Not a test module itself: `test_schedule_in_training.py` loads it with `runpy.run_path`.
"""

import numpy as np

import keras
from keras import ops

from tfbsz import schedules


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


def _momentum_reference(learning_rate, momenta):
    velocity, w = 0.0, 0.0
    for m in momenta:
        velocity = m * velocity - learning_rate
        w += velocity
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
