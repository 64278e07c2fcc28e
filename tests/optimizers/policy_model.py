"""A small classifier trained with LAMB, identical on every backend, policy and strategy.

Weights start from fixed NumPy values and batches are not shuffled, so two runs
differ only by arithmetic (precision, reduction order, backend kernels).
"""

import keras
import numpy as np

from tfbsz.optimizers import LAMB

FEATURES, CLASSES, EXAMPLES, BATCH, EPOCHS = 8, 4, 256, 32, 2


def data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(EXAMPLES, FEATURES)).astype("float32")
    teacher = rng.normal(size=(FEATURES, CLASSES))
    y = np.argmax(x @ teacher + 0.3 * rng.normal(size=(EXAMPLES, CLASSES)), axis=1).astype("int32")
    return x, y


def build_model():
    inputs = keras.Input((FEATURES,))
    x = keras.layers.Dense(32, activation="relu", name="hidden")(inputs)
    x = keras.layers.LayerNormalization(name="norm")(x)
    outputs = keras.layers.Dense(CLASSES, name="logits", dtype="float32")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(2)
    model.set_weights([
        (rng.normal(size=w.shape) * (0.3 if len(w.shape) > 1 else 0.0) + (1.0 if "gamma" in w.path
         else 0.0)).astype("float32")
        for w in model.weights
    ])
    return model


def train(policy="float32", strategy=None, jit_compile=False, **lamb_options):
    """Per-epoch training losses followed by the final full-data loss (list of floats)."""
    keras.config.set_dtype_policy(policy)
    try:
        x, y = data()
        scope = strategy.scope() if strategy is not None else _nullcontext()
        with scope:
            model = build_model()
            options = {"learning_rate": 0.02, "weight_decay": 0.01, **lamb_options}
            model.compile(
                optimizer=LAMB(**options),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                jit_compile=jit_compile,
            )
        history = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
        final = model.evaluate(x, y, batch_size=EXAMPLES, verbose=0)
        return [float(v) for v in history.history["loss"]] + [float(final)], model
    finally:
        keras.config.set_dtype_policy("float32")


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


_STRATEGY = []


def mirrored_strategy():
    """One MirroredStrategy over the two logical CPUs, shared by this directory's tests.

    Several MirroredStrategy objects in one process reuse collective instance keys,
    and a second strategy's all-reduce can then fail with a shape mismatch.
    """
    if not _STRATEGY:
        import tensorflow as tf

        devices = tf.config.list_logical_devices("CPU")
        assert len(devices) >= 2, "conftest should split the CPU into two logical devices"
        _STRATEGY.append(tf.distribute.MirroredStrategy(
            [d.name for d in devices[:2]], cross_device_ops=tf.distribute.ReductionToOneDevice()
        ))
    return _STRATEGY[0]
