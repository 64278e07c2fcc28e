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
    assert mirrored.describe() == "mirrored: 2 replicas on /cpu:0, /cpu:1"
    one = strategies.get({"name": "one_device", "device": "/cpu:0"})
    assert one.describe() == "one_device: 1 replica on /cpu:0"

    trained = {}
    for strategy in (one, mirrored):
        with strategy.scope():
            model = build_mlp()
            trained[strategy.name] = train(model, keras.optimizers.SGD(0.5), x, y, 32, steps=5)

    moved = max_abs_difference(trained["one_device"], initial_weights())
    assert moved > 1e-2, "training did not change the weights; the comparison would be vacuous"
    assert max_abs_difference(trained["one_device"], trained["mirrored"]) < TOLERANCE



def test_keras_still_cannot_accumulate_under_mirrored():
    """Canary for `tfbsz.training.accumulation.UNSUPPORTED_STRATEGIES`: lift the guard when this fails."""
    import keras

    from tfbsz import strategies
    from tfbsz.training.accumulation import check_strategy_supports
    from tfbsz.core.errors import ConfigError

    with pytest.raises(ConfigError, match="does not work with strategy 'mirrored'"):
        check_strategy_supports("mirrored", 2)
    x, y = toy_data()
    mirrored = strategies.get({"name": "mirrored", "cpu_devices": 2})
    with mirrored.scope():
        optimizer = keras.optimizers.SGD(0.2, momentum=0.9, gradient_accumulation_steps=2)
        with pytest.raises(RuntimeError, match="merge_call"):
            train(build_mlp(), optimizer, x, y, 32, steps=4)
