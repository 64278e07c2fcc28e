"""Pruned weights stay exactly zero through training: optimizers, strategies, precision, JAX."""

import os
import runpy

import keras
import numpy as np
import pytest
from helpers import run_python

from tfbsz.training import pruning

CHECKS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pruning_checks.py")
CHECKS = runpy.run_path(CHECKS_PATH)
tiny_model = CHECKS["tiny_model"]
check_masks_hold = CHECKS["check_masks_hold"]


def _tfbsz_optimizer(name):
    import tfbsz.optimizers

    return getattr(tfbsz.optimizers, name)


OPTIMIZERS = {
    "sgd": lambda: keras.optimizers.SGD(0.1),
    "momentum": lambda: keras.optimizers.SGD(0.05, momentum=0.9),
    "nesterov": lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: keras.optimizers.Adam(0.01),
    "adamw": lambda: keras.optimizers.AdamW(0.01, weight_decay=0.1),
    "lars": lambda: _tfbsz_optimizer("LARS")(learning_rate=1.0, momentum=0.9, weight_decay=1e-3),
    "lamb": lambda: _tfbsz_optimizer("LAMB")(learning_rate=0.01, weight_decay=0.01),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_masks_hold_under_optimizer(name):
    check_masks_hold(tiny_model(), OPTIMIZERS[name]())


def test_masks_hold_with_snip_and_gradient_accumulation():
    optimizer = keras.optimizers.SGD(0.05, momentum=0.9, gradient_accumulation_steps=3)
    check_masks_hold(tiny_model(), optimizer, steps=24, method="snip")
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 8


def test_masks_hold_under_mirrored_strategy():
    import tensorflow as tf

    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    if len(devices) < 2:
        pytest.skip("needs the two logical CPU devices that tests/conftest.py creates")
    strategy = tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    with strategy.scope():
        model = tiny_model()
        report = check_masks_hold(model, keras.optimizers.SGD(0.05, momentum=0.9), method="snip")
    assert isinstance(model.trainable_variables[0].value, tf.distribute.DistributedValues)
    assert report["pruned"] == round(0.8 * report["size"])
    # SNIP under the strategy picks the same weights as without it.
    single = tiny_model()
    data = CHECKS["random_batches"](8, 2)
    pruning.apply_pruning(single, {"method": "snip", "level": 0.8, "batches": 2}, batches=iter(data))
    for (path, mask), expected in zip(CHECKS["masks_of"](model).items(), CHECKS["masks_of"](single).values()):
        np.testing.assert_array_equal(mask, expected, err_msg=path)


def test_masks_hold_under_mixed_float16():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = tiny_model()
        optimizer = keras.optimizers.Adam(0.01)
        check_masks_hold(model, optimizer, method="snip")
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        assert model.layers[0].compute_dtype == "float16"
    finally:
        keras.config.set_dtype_policy(previous)


def test_masks_hold_on_jax_backend():
    code = f"""
import runpy, keras
checks = runpy.run_path({CHECKS_PATH!r})
checks["check_snip_matches_reference"](include=None)
checks["check_snip_matches_reference"](include=[".*"])
# a second model of the same architecture (other weights, other layer names) reuses the compiled
# gradient function of the first, and still matches the float64 reference
from tfbsz.training import pruning
assert len(pruning._JAX_GRADIENTS) == 1, list(pruning._JAX_GRADIENTS)
checks["check_snip_matches_reference"](include=None, seed=11)
assert len(pruning._JAX_GRADIENTS) == 1, list(pruning._JAX_GRADIENTS)
checks["check_masks_hold"](checks["tiny_model"](), keras.optimizers.SGD(0.05, momentum=0.9), method="snip")
checks["check_masks_hold"](checks["tiny_model"](), keras.optimizers.Adam(0.01, gradient_accumulation_steps=2))
keras.config.set_dtype_policy("mixed_float16")
checks["check_masks_hold"](checks["tiny_model"](), keras.optimizers.Adam(0.01), method="random")
print("BACKEND", keras.backend.backend())
"""
    result = run_python(code, backend="jax", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "BACKEND jax" in result.stdout
