"""Small pre-activation ResNet for CIFAR-sized images (ResNet-8, -14, -20, ...).

He et al.'s CIFAR family with pre-activation blocks (He et al. 2016, "Identity
Mappings in Deep Residual Networks"): a 3x3 stem convolution with `width`
filters, three stages of `n` residual blocks with `width`, `2*width` and
`4*width` filters (the first block of stages 2 and 3 halves the resolution
with stride 2), a final norm + ReLU, global average pooling and a Dense
output layer. `depth = 6n + 2` counts the stem, the two 3x3 convolutions of
every block and the output layer; 1x1 projection shortcuts (used where the
shape changes) are not counted. Shallue et al.'s CIFAR-10 workload is
ResNet-8 (`depth=8`, n = 1).

Each block computes `y = conv(relu(norm(conv(relu(norm(x))))))` and returns
`y + shortcut(x)`. With `norm="none"` the norm layers are left out and the
convolutions get biases (Lee et al. 2021 train ResNet-8 without batch norm);
with `norm="batch"` the convolutions have no biases.

| config | trainable parameters on CIFAR-10 | all weights (incl. moving stats) |
|---|---|---|
| depth 8, width 16, norm batch | 77,850 | 78,330 |
| depth 8, width 16, norm none | 77,706 | 77,706 |
| depth 20, width 16, norm batch | 272,282 | 273,658 |

Example:

>>> import numpy as np
>>> model = build_resnet(input_shape=(32, 32, 3), num_classes=10, depth=8, norm="none")
>>> model.count_params()
77706
>>> tuple(model(np.zeros((2, 32, 32, 3), "float32")).shape)
(2, 10)
"""

import keras

from tfbsz.core.errors import ConfigError
from tfbsz.models import require_choice, require_image_shape, require_int

__all__ = ["build_resnet", "NORMS"]

NORMS = ("batch", "none")


def _norm_relu(x, norm, name):
    if norm == "batch":
        x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_norm")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _conv(filters, kernel_size, strides, norm, name):
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=norm == "none",
        kernel_initializer="he_normal",
        name=name,
    )


def _residual_block(x, filters, strides, norm, name):
    activated = _norm_relu(x, norm, f"{name}_pre")
    if strides != 1 or x.shape[-1] != filters:
        shortcut = _conv(filters, 1, strides, norm, f"{name}_shortcut")(activated)
    else:
        shortcut = x
    y = _conv(filters, 3, strides, norm, f"{name}_conv_0")(activated)
    y = _norm_relu(y, norm, f"{name}_mid")
    y = _conv(filters, 3, 1, norm, f"{name}_conv_1")(y)
    return keras.layers.Add(name=f"{name}_residual")([y, shortcut])


def build_resnet(input_shape, num_classes, depth=8, width=16, norm="batch"):
    """Builds a ResNet of `depth = 6n + 2` layers for `(height, width, channels)` images.

    Args:
        input_shape: `(height, width, channels)`.
        num_classes: number of output logits.
        depth: 8, 14, 20, 26, 32, ...: 6n + 2 with n >= 1 blocks per stage.
        width: filters of the first stage (16 in He et al.); stages use
            `width`, `2*width`, `4*width`.
        norm: `"batch"` (batch normalization) or `"none"`.

    Returns:
        A functional `keras.Model` named `resnet_<depth>`, images to float32
        logits `[batch, num_classes]`.

    Raises:
        ConfigError: not an image input shape, or an option out of range.
    """
    input_shape = require_image_shape("resnet", input_shape)
    require_int("depth", depth, minimum=8)
    if (depth - 2) % 6:
        raise ConfigError(f"model.depth: expected 6n + 2 (8, 14, 20, 26, 32, ...), got {depth}")
    require_int("width", width)
    require_choice("norm", norm, NORMS)
    require_int("num_classes", num_classes, minimum=2)
    blocks_per_stage = (depth - 2) // 6

    images = keras.Input(shape=input_shape, name="images")
    x = _conv(width, 3, 1, norm, "stem_conv")(images)
    for stage in range(3):
        for block in range(blocks_per_stage):
            strides = 2 if stage > 0 and block == 0 else 1
            x = _residual_block(x, width * 2**stage, strides, norm, f"stage_{stage}_block_{block}")
    x = _norm_relu(x, norm, "final")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(num_classes, name="output")(x)
    logits = keras.layers.Activation("linear", dtype="float32", name="logits")(x)
    return keras.Model(images, logits, name=f"resnet_{depth}")
