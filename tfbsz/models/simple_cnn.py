"""Shallue et al.'s "simple CNN" for MNIST-sized images.

Two convolutional layers (5x5 kernels, stride 1, "same" padding, ReLU), each
followed by 2x2 max pooling with stride 2, then one fully connected ReLU
layer and the output layer (Shallue et al. 2019, appendix; the released data
call the variants `simple_cnn_base`, `simple_cnn_narrow`, `simple_cnn_wide`).

| variant | `filters` | `dense_units` | parameters on MNIST |
|---|---|---|---|
| base (default) | [32, 64] | 1024 | 3,274,634 |
| narrow | [16, 32] | 512 | 821,706 |
| wide | [64, 128] | 2048 | 13,074,186 |

There is no batch norm and no dropout. Lee et al. (2021) use a smaller
variant without the hidden dense layer and with "valid" padding; it is not
reproduced here.

Example:

>>> import numpy as np
>>> model = build_simple_cnn(input_shape=(28, 28, 1), num_classes=10)
>>> model.count_params()
3274634
>>> tuple(model(np.zeros((2, 28, 28, 1), "float32")).shape)
(2, 10)
"""

import keras

from tfbsz.models import require_image_shape, require_int, require_int_list

__all__ = ["build_simple_cnn"]


def build_simple_cnn(input_shape, num_classes, filters=(32, 64), dense_units=1024):
    """Builds the simple CNN for `(height, width, channels)` images.

    Args:
        input_shape: `(height, width, channels)`.
        num_classes: number of output logits.
        filters: the two convolutional layers' filter counts.
        dense_units: width of the fully connected hidden layer.

    Returns:
        A functional `keras.Model` named `simple_cnn`, images to float32 logits
        `[batch, num_classes]`.

    Raises:
        ConfigError: not an image input shape, or an option out of range.
    """
    input_shape = require_image_shape("simple_cnn", input_shape)
    filters = require_int_list("filters", filters, length=2)
    require_int("dense_units", dense_units)
    require_int("num_classes", num_classes, minimum=2)

    images = keras.Input(shape=input_shape, name="images")
    x = images
    for i, count in enumerate(filters):
        x = keras.layers.Conv2D(
            count, 5, padding="same", activation="relu", name=f"conv_{i}"
        )(x)
        x = keras.layers.MaxPooling2D(2, strides=2, padding="same", name=f"pool_{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="hidden")(x)
    x = keras.layers.Dense(num_classes, name="output")(x)
    logits = keras.layers.Activation("linear", dtype="float32", name="logits")(x)
    return keras.Model(images, logits, name="simple_cnn")
