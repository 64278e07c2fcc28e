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


def test_trials_of_one_architecture_compile_snip_gradients_once_on_jax():
    # Trials differ in what they compile with (optimizer, learning rate), never in the function SNIP
    # differentiates: one compiled gradient function serves them all (it was compiled per trial,
    # about a second of each cohort member's set-up on a GPU).
    code = """
import keras
from tfbsz import data
from tfbsz.core.config import from_dict
from tfbsz.study import trainer
from tfbsz.study.cohorts.members import build_member_model
from tfbsz.training import pruning
cfg = from_dict({"data": {"name": "digits"}, "model": {"name": "mlp", "hidden_units": [16]},
                 "optimizer": {"name": "momentum", "learning_rate": 0.1},
                 "sparsity": {"method": "snip", "level": 0.5, "batches": 2},
                 "target": {"metric": "val/classification_error", "threshold": 0.1},
                 "budget": {"max_steps": 20}, "batch_sizes": [32]})
dataset = data.load(cfg.data, seed=0)
trials = [{"optimizer.learning_rate": 0.1}, {"optimizer.learning_rate": 0.3, "optimizer.momentum": 0.5},
          {"optimizer.name": "adam", "optimizer.learning_rate": 0.01}]
kept = []
for seed, parameters in enumerate(trials):
    trial_cfg = trainer.apply_parameters(cfg, parameters)
    plan = trainer.plan_trial(trial_cfg, 32, len(dataset.x_train))
    model = build_member_model(trial_cfg, plan, dataset, seed)
    kept.append(sum(int(keras.ops.convert_to_numpy(v.constraint.mask).sum())
                    for v in model.trainable_variables if isinstance(v.constraint, pruning.MaskConstraint)))
(function,) = pruning._JAX_GRADIENTS.values()
print("FUNCTIONS", len(pruning._JAX_GRADIENTS), "COMPILED", function._cache_size(), "KEPT", kept)
"""
    result = run_python(code, backend="jax", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(l for l in result.stdout.splitlines() if l.startswith("FUNCTIONS"))
    assert line.startswith("FUNCTIONS 1 COMPILED 1 KEPT"), line
    assert len(set(eval(line.split("KEPT ")[1]))) == 1  # each trial keeps half of its weights


def test_precision_separates_architectures_that_share_a_config():
    # A Sequential model's config names its layers' dtype policies only under "name" keys, which
    # the key strips; float32 and mixed precision still compute different gradients.
    def build(policy):
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(policy)
        try:
            model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4), keras.layers.Dense(3, dtype="float32")])
        finally:
            keras.config.set_dtype_policy(previous)
        return model

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert pruning._architecture_key(build("float32"), loss) == pruning._architecture_key(build("float32"), loss)
    assert pruning._architecture_key(build("float32"), loss) != pruning._architecture_key(build("mixed_float16"), loss)
