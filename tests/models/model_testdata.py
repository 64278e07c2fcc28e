"""Tiny data-set stand-ins and model configs shared by the model tests."""

import types

TINY_TRANSFORMER = {
    "name": "transformer", "num_layers": 2, "d_model": 32, "num_heads": 4, "mlp_dim": 64,
}
TINY_CONFIGS = {
    "transformer": TINY_TRANSFORMER,
    "simple_cnn": {"name": "simple_cnn", "filters": [4, 8], "dense_units": 16},
    "mlp": {"name": "mlp", "hidden_units": [16, 16]},
    "resnet": {"name": "resnet", "depth": 8, "width": 4},
}


def lm_data(vocab=50, seq_len=16):
    return types.SimpleNamespace(
        name="tiny_text", task="language_model", num_classes=vocab, input_shape=(seq_len,)
    )


def image_data(shape=(8, 8, 1), num_classes=10):
    return types.SimpleNamespace(
        name="tiny_images", task="classification", num_classes=num_classes, input_shape=shape
    )


def data_for(name):
    return lm_data() if name == "transformer" else image_data()
