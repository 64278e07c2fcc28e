"""Four accumulated micro-batches of 16 give the same weights as batches of 64.

Keras averages the accumulated gradients and applies them once per 4 micro-steps, and the
loss is a mean over the batch, so each update sees the mean gradient of the same 64
examples. Only the order of float32 additions differs: after 3 updates the weights agree
to ~1e-7; TOLERANCE leaves room for optimizers that normalise (Adam, LAMB, LARS).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from strategies_training import build_mlp, initial_weights, max_abs_difference, toy_data, train  # noqa: E402

TOLERANCE = 1e-5
UPDATES = 3


def _keras_optimizer(cls_name, **fixed):
    def make(**kwargs):
        import keras

        return getattr(keras.optimizers, cls_name)(**fixed, **kwargs)

    return make


def _tfbsz_optimizer(cls_name, **fixed):
    def make(**kwargs):
        import tfbsz.optimizers

        return getattr(tfbsz.optimizers, cls_name)(**fixed, **kwargs)

    return make


OPTIMIZERS = {
    "sgd": _keras_optimizer("SGD", learning_rate=0.5),
    "momentum": _keras_optimizer("SGD", learning_rate=0.2, momentum=0.9),
    "adam": _keras_optimizer("Adam", learning_rate=0.05),
    "lars": _tfbsz_optimizer("LARS", learning_rate=1.0),
    "lamb": _tfbsz_optimizer("LAMB", learning_rate=0.05),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_accumulating_4x16_equals_batch_64(name):
    from tfbsz.training.accumulation import optimizer_kwargs, plan_accumulation

    micro_batch, steps = plan_accumulation(64, num_replicas=1, max_device_batch=16)
    assert (micro_batch, steps) == (16, 4)
    x, y = toy_data()
    make = OPTIMIZERS[name]

    big = train(build_mlp(), make(), x, y, batch_size=64, steps=UPDATES)
    optimizer = make(**optimizer_kwargs(steps))
    accumulated = train(build_mlp(), optimizer, x, y, batch_size=micro_batch, steps=UPDATES * steps)

    assert int(optimizer.iterations.numpy()) == UPDATES, "iterations should count updates"
    assert max_abs_difference(big, initial_weights()) > 1e-2, "weights did not move"
    assert max_abs_difference(big, accumulated) < TOLERANCE


def test_accumulation_differs_from_small_batches():
    """Guards the test above: without accumulation, 12 batches of 16 land somewhere else."""
    x, y = toy_data()
    make = OPTIMIZERS["sgd"]
    big = train(build_mlp(), make(), x, y, batch_size=64, steps=UPDATES)
    small = train(build_mlp(), make(), x, y, batch_size=16, steps=UPDATES * 4)
    assert max_abs_difference(big, small) > 100 * TOLERANCE
