"""`one_device` on TensorFlow is a device scope, not `tf.distribute.OneDeviceStrategy`.

Under `OneDeviceStrategy` Keras feeds `fit` and every `evaluate` through a `MultiDeviceIterator`,
whose prefetching thread could still be reading when an evaluation's iterator was destroyed:
TensorFlow 2.21 then crashed the process with SIGSEGV (about one study in three on a loaded
2-core machine). The crash is a race, so no test can show its absence; these tests pin down what
removes it (Keras sees no distribution strategy, so it uses plain `tf.data` iterators) and that
the numbers did not change (the same weights and evaluations as under `OneDeviceStrategy`).
"""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from strategies_training import build_mlp, toy_data  # noqa: E402

pytestmark = pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "tensorflow",
                                reason="tf.distribute exists on the TensorFlow backend only")


class EvaluateEveryStep:
    """Fits `steps` batches and evaluates the held-out half after each one, as a trial does."""

    def __init__(self, x, y):
        self.x, self.y = x, y
        self.evaluations = []

    def run(self, model, steps=4, batch_size=32):
        import keras

        outer = self

        class Evaluate(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                logs = self.model.evaluate(outer.x[128:], outer.y[128:], batch_size=64, verbose=0, return_dict=True)
                outer.evaluations.append(float(logs["loss"]))

        model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(self.x[:steps * batch_size], self.y[:steps * batch_size], batch_size=batch_size, epochs=1,
                  shuffle=False, verbose=0, callbacks=[Evaluate()])
        return [np.asarray(w) for w in model.get_weights()], self.evaluations


def test_one_device_gives_keras_no_distribution_strategy_and_places_on_the_device():
    import tensorflow as tf

    from tfbsz import strategies

    strategy = strategies.get({"name": "one_device", "device": "/cpu:0"})
    assert strategy.describe() == "one_device: 1 replica on /cpu:0"
    with strategy.scope():
        assert not tf.distribute.has_strategy()
        model = build_mlp()
        assert model.distribute_strategy is tf.distribute.get_strategy()  # the default one
        assert all(v.value.device.endswith("CPU:0") for v in model.weights)


def test_one_device_without_a_device_leaves_placement_to_tensorflow():
    import tensorflow as tf

    from tfbsz import strategies

    first = "GPU:0" if tf.config.list_logical_devices("GPU") else "CPU:0"
    strategy = strategies.get({"name": "one_device"})
    assert strategy.describe() == f"one_device: 1 replica on /{first.lower()}"
    with strategy.scope():
        assert not tf.distribute.has_strategy()
        assert tf.constant(1.0).device.endswith(first)  # TensorFlow's own choice


def test_one_device_trains_and_evaluates_as_under_one_device_strategy():
    import tensorflow as tf

    from tfbsz import strategies

    x, y = toy_data()
    with strategies.get({"name": "one_device", "device": "/cpu:0"}).scope():
        ours = EvaluateEveryStep(x, y).run(build_mlp())
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        reference = EvaluateEveryStep(x, y).run(build_mlp())
    (weights, evaluations), (ref_weights, ref_evaluations) = ours, reference
    assert len(evaluations) == 4 and len(set(evaluations)) == 4  # it trained between evaluations
    np.testing.assert_array_equal(evaluations, ref_evaluations)
    for ours_w, ref_w in zip(weights, ref_weights):
        np.testing.assert_array_equal(ours_w, ref_w)
