"""Fully connected network (Shallue et al.'s `fc_*` MNIST models).

The input is flattened, passes through one Dense layer per entry of
`hidden_units` with the given activation, and ends in a Dense output layer.
Shallue's `fc_128_128_128` is `hidden_units=[128, 128, 128]`; an empty list
gives multinomial logistic regression.

Example:

>>> import numpy as np
>>> model = build_mlp(input_shape=(28, 28, 1), num_classes=10, hidden_units=[128, 128, 128])
>>> model.count_params()
134794
>>> tuple(model(np.zeros((2, 28, 28, 1), "float32")).shape)
(2, 10)
"""

import keras

from tfbsz.core.errors import ConfigError
from tfbsz.models import require_int, require_int_list

__all__ = ["build_mlp"]


def build_mlp(input_shape, num_classes, hidden_units=(128, 128), activation="relu"):
    """Builds the MLP for inputs of any per-example shape.

    Args:
        input_shape: per-example shape, e.g. `(28, 28, 1)` or `(64,)`.
        num_classes: number of output logits.
        hidden_units: widths of the hidden layers, in order.
        activation: a Keras activation name for the hidden layers.

    Returns:
        A functional `keras.Model` named `mlp`, inputs to float32 logits
        `[batch, num_classes]`.

    Raises:
        ConfigError: an option out of range or an unknown activation.
    """
    hidden_units = require_int_list("hidden_units", hidden_units)
    require_int("num_classes", num_classes, minimum=2)
    if not isinstance(activation, str):
        raise ConfigError(f"model.activation: expected a Keras activation name, got {activation!r}")
    try:
        keras.activations.get(activation)
    except (ValueError, TypeError) as error:
        raise ConfigError(
            f"model.activation: expected a Keras activation name such as relu, tanh or gelu, "
            f"got {activation!r}"
        ) from error

    inputs = keras.Input(shape=tuple(input_shape), name="inputs")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(hidden_units):
        x = keras.layers.Dense(units, activation=activation, name=f"hidden_{i}")(x)
    x = keras.layers.Dense(num_classes, name="output")(x)
    logits = keras.layers.Activation("linear", dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name="mlp")
