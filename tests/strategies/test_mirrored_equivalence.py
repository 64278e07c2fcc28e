"""MirroredStrategy over two logical CPUs trains to the same weights as one device."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from strategies_training import build_mlp, initial_weights, max_abs_difference, toy_data, train  # noqa: E402

pytestmark = pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND") != "tensorflow", reason="MirroredStrategy needs TensorFlow"
)

# Float32 tolerance: each replica averages its half of the batch, Keras divides the loss by
# the replica count and the all-reduce sums the halves. That only reorders float32 additions,
# so after five SGD steps the O(1) weights agree to a few ulps (measured below 1e-6).
TOLERANCE = 1e-5


def test_mirrored_two_cpus_matches_one_device():
    import keras

    from tfbsz import strategies

    x, y = toy_data()
    mirrored = strategies.get({"name": "mirrored", "cpu_devices": 2})
    assert mirrored.num_replicas == 2
    assert mirrored.per_replica_batch(32) == 16
    assert mirrored.describe().startswith("mirrored: 2 replicas on ")
    one = strategies.get({"name": "one_device", "device": "/cpu:0"})
    assert one.describe().startswith("one_device: 1 replica on ")

    trained = {}
    for strategy in (one, mirrored):
        with strategy.scope():
            model = build_mlp()
            trained[strategy.name] = train(model, keras.optimizers.SGD(0.5), x, y, 32, steps=5)

    moved = max_abs_difference(trained["one_device"], initial_weights())
    assert moved > 1e-2, "training did not change the weights; the comparison would be vacuous"
    assert max_abs_difference(trained["one_device"], trained["mirrored"]) < TOLERANCE


def test_mirrored_with_accumulation_matches_one_device_big_batch():
    """2 replicas x 2 micro-batches of 16 per update equals one device at batch 64."""
    import keras

    from tfbsz import strategies
    from tfbsz.accumulation import optimizer_kwargs, plan_accumulation

    x, y = toy_data()
    mirrored = strategies.get({"name": "mirrored", "cpu_devices": 2})
    micro_batch, steps = plan_accumulation(64, mirrored.num_replicas, max_device_batch=16)
    assert (micro_batch, steps) == (32, 2)
    reference = train(build_mlp(), keras.optimizers.SGD(0.2, momentum=0.9), x, y, 64, steps=3)
    with mirrored.scope():
        optimizer = keras.optimizers.SGD(0.2, momentum=0.9, **optimizer_kwargs(steps))
        accumulated = train(build_mlp(), optimizer, x, y, micro_batch, steps=3 * steps)
    assert max_abs_difference(reference, initial_weights()) > 1e-2
    assert max_abs_difference(reference, accumulated) < TOLERANCE
