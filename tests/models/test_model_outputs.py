"""Every model: output shape and dtype, float32 logits under mixed precision, stable
layer names, one training step lowers the loss, `.keras` save/load round trip."""

import keras
import numpy as np
import pytest

from tfbsz import models
from model_testdata import TINY_CONFIGS, data_for

NAMES = ["transformer", "simple_cnn", "mlp", "resnet"]


def batch_for(name, size=8, seed=0):
    data = data_for(name)
    rng = np.random.default_rng(seed)
    if data.task == "language_model":
        x = rng.integers(0, data.num_classes, (size,) + data.input_shape).astype("int32")
        return x, np.roll(x, -1, axis=1)
    x = rng.random((size,) + data.input_shape).astype("float32")
    return x, rng.integers(0, data.num_classes, size).astype("int32")


@pytest.mark.parametrize("name", NAMES)
def test_output_is_float32_logits_of_the_right_shape(name):
    data = data_for(name)
    model = models.build(TINY_CONFIGS[name], data)
    x, _ = batch_for(name, size=3)
    logits = keras.ops.convert_to_numpy(model(x))
    expected = (3,) + data.input_shape + (data.num_classes,) if data.task == "language_model" \
        else (3, data.num_classes)
    assert logits.shape == expected
    assert logits.dtype == np.float32
    assert np.isfinite(logits).all()
    # logits, not probabilities: rows do not sum to one and may be negative
    assert not np.allclose(logits.sum(axis=-1), 1.0)


@pytest.mark.parametrize("name", NAMES)
def test_logits_stay_float32_under_mixed_bfloat16(name):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = models.build(TINY_CONFIGS[name], data_for(name))
        x, _ = batch_for(name, size=2)
        logits = model(x)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    computing = [layer for layer in model.layers if layer.compute_dtype == "bfloat16"]
    assert computing, "no layer computes in bfloat16: the policy was not applied"
    assert model.get_layer("logits").compute_dtype == "float32"
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert all(w.dtype == "float32" for w in model.trainable_weights)


@pytest.mark.parametrize("name", NAMES)
def test_layer_names_are_chosen_not_generated(name):
    # Keras numbers unnamed layers per process (dense, dense_1, ...): two builds would differ.
    first = [layer.name for layer in models.build(TINY_CONFIGS[name], data_for(name)).layers]
    second = [layer.name for layer in models.build(TINY_CONFIGS[name], data_for(name)).layers]
    assert first == second
    assert first[-1] == "logits"


@pytest.mark.parametrize("name", NAMES)
def test_one_training_step_lowers_the_loss(name):
    keras.utils.set_random_seed(1)
    model = models.build(TINY_CONFIGS[name], data_for(name))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    # run_eagerly: the same train_step without minutes of graph tracing on a shared CPU
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, run_eagerly=True)
    x, y = batch_for(name)
    before = float(loss(y, model(x, training=False)))
    model.train_on_batch(x, y)
    after = float(loss(y, model(x, training=False)))
    assert after < before


def test_simple_cnn_base_has_shallues_parameter_count():
    mnist = data_for("simple_cnn")
    mnist.input_shape = (28, 28, 1)
    model = models.build({"name": "simple_cnn"}, mnist)
    # conv 5x5x1x32 + 32, conv 5x5x32x64 + 64, dense 7*7*64 -> 1024, dense 1024 -> 10
    assert models.count_params(model) == 832 + 51264 + (3136 * 1024 + 1024) + 10250
    assert model.get_layer("conv_1").output.shape[1:] == (14, 14, 64)


@pytest.mark.parametrize(
    "norm, trainable, total", [("none", 77706, 77706), ("batch", 77850, 78330)]
)
def test_resnet8_parameter_counts_on_cifar_shapes(norm, trainable, total):
    cifar = data_for("resnet")
    cifar.input_shape = (32, 32, 3)
    model = models.build({"name": "resnet", "depth": 8, "norm": norm}, cifar)
    assert models.count_params(model) == trainable
    assert models.count_params(model, trainable_only=False) == total
    assert model.name == "resnet_8"
    has_bn = any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    assert has_bn == (norm == "batch")


def test_resnet20_has_three_blocks_per_stage():
    model = models.build({"name": "resnet", "depth": 20, "width": 4}, data_for("resnet"))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    three_by_three = [c for c in convs if c.kernel_size == (3, 3)]
    assert len(three_by_three) == 19  # stem + 3 stages x 3 blocks x 2 convs
    assert model.get_layer("stage_2_block_2_conv_1").filters == 16


@pytest.mark.parametrize("name", ["transformer", "resnet"])
def test_keras_file_round_trip_keeps_the_function(name, tmp_path):
    model = models.build(TINY_CONFIGS[name], data_for(name))
    x, _ = batch_for(name, size=2)
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored(x)), keras.ops.convert_to_numpy(model(x)),
        rtol=1e-6, atol=1e-6,
    )
    assert [layer.name for layer in restored.layers] == [layer.name for layer in model.layers]
