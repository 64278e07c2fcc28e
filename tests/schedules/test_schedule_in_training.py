"""Schedules inside `model.fit`: accumulation, the momentum callback, TF and JAX backends."""

import os
import runpy

import pytest
from helpers import run_python

from tfbsz.training import schedules
from tfbsz.core.errors import ConfigError

CHECKS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "training_checks.py")
CHECKS = runpy.run_path(CHECKS_PATH)


def test_accumulated_updates_follow_the_update_schedule():
    CHECKS["check_accumulated_updates"]()


def test_momentum_callback_drives_keras_sgd():
    CHECKS["check_float_momentum_callback"]()


def test_momentum_callback_assigns_variable_momentum():
    CHECKS["check_variable_momentum_callback"]()


@pytest.mark.parametrize("kind,accumulation,policy", CHECKS["VARIABLE_MOMENTUM_CASES"])
def test_momentum_callback_assigns_tfbsz_momentum_variable(kind, accumulation, policy):
    CHECKS["check_momentum_variable_callback"](kind, accumulation, policy)


def test_momentum_callback_rejects_zero_momentum_tfbsz_optimizer():
    import keras
    import numpy as np

    from tfbsz.optimizers import MomentumSGD

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(MomentumSGD(0.1, momentum=0.0), loss="mse")
    callback = schedules.MomentumSchedule(schedules.build_momentum({"name": "one_cycle"}, 4))
    x = np.ones((4, 1), "float32")
    with pytest.raises(ConfigError, match="built with momentum=0"):
        model.fit(x, x, verbose=0, callbacks=[callback])


def test_momentum_callback_rejects_optimizer_without_momentum():
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.1), loss="mse")
    callback = schedules.MomentumSchedule(schedules.build_momentum({"name": "one_cycle"}, 4))
    x = np.ones((4, 1), "float32")
    with pytest.raises(ConfigError, match="Adam has no `momentum`"):
        model.fit(x, x, verbose=0, callbacks=[callback])


def test_schedules_and_momentum_callback_on_jax_backend():
    code = f"""
import runpy, jax, jax.numpy as jnp
from tfbsz.training import schedules
for name, extra in [("constant", {{}}), ("linear_decay", {{}}), ("cosine", {{}}),
                    ("cyclic", {{"cycle_steps": 6, "amplitude_decay": 0.5}}), ("one_cycle", {{}})]:
    s = schedules.build({{"name": name, "warmup_steps": 3, **extra}}, 1.0, total_steps=30,
                        accumulation_steps=2)
    jitted = jax.jit(lambda step: s(step))
    for step in (0, 5, 17, 59, 80):
        assert abs(float(jitted(jnp.asarray(step))) - float(s(step))) < 1e-6, (name, step)
checks = runpy.run_path({CHECKS_PATH!r})
checks["check_accumulated_updates"]()
checks["check_float_momentum_callback"]()
checks["check_variable_momentum_callback"]()
for case in checks["VARIABLE_MOMENTUM_CASES"]:
    checks["check_momentum_variable_callback"](*case)
import keras
print("BACKEND", keras.backend.backend())
"""
    result = run_python(code, backend="jax", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "BACKEND jax" in result.stdout
