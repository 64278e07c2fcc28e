"""Tiny deterministic training runs shared by the strategy and accumulation tests."""

import numpy as np


def toy_data(examples=256, features=8, classes=3, seed=0):
    """A fixed classification problem: float32 x [examples, features], int32 y [examples]."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(examples, features)).astype("float32")
    w = rng.normal(size=(features, classes))
    y = np.argmax(x @ w + 0.5 * rng.normal(size=(examples, classes)), axis=1).astype("int32")
    return x, y


def initial_weights(features=8, classes=3, seed=1):
    """The MLP's starting weights, drawn once with NumPy so every run starts identically."""
    rng = np.random.default_rng(seed)
    return [
        rng.normal(scale=0.3, size=(features, 16)).astype("float32"),
        rng.normal(scale=0.1, size=(16,)).astype("float32"),
        rng.normal(scale=0.3, size=(16, classes)).astype("float32"),
        rng.normal(scale=0.1, size=(classes,)).astype("float32"),
    ]


def build_mlp(features=8, classes=3):
    """An 8-16-3 MLP with fixed starting weights (uncompiled)."""
    import keras

    model = keras.Sequential(
        [
            keras.Input((features,)),
            keras.layers.Dense(16, activation="tanh", name="hidden"),
            keras.layers.Dense(classes, name="logits"),
        ]
    )
    model.set_weights(initial_weights(features, classes))
    return model


def train(model, optimizer, x, y, batch_size, steps):
    """Compiles and fits `steps` batches of `batch_size` in order; returns the weights."""
    import keras

    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    if y is None:  # x is a dataset of batches
        model.fit(x, epochs=1, steps_per_epoch=steps, verbose=0)
    else:
        examples = batch_size * steps
        model.fit(x[:examples], y[:examples], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    return [np.asarray(w) for w in model.get_weights()]


def max_abs_difference(a, b):
    """Largest element-wise |a - b| over two lists of arrays."""
    return max(float(np.max(np.abs(p - q))) for p, q in zip(a, b))
