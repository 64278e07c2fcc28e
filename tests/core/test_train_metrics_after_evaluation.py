"""StepsToTarget's train/* columns are the means over the batches since the previous measurement,
even though each measurement runs `model.evaluate` on the same metric objects as `fit`."""

import numpy as np
import pytest

import keras
from tfbsz.study.callbacks import StepsToTarget


def test_train_columns_are_window_means_unpolluted_by_evaluation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8 * 16, 4)).astype("float32")
    y = rng.integers(0, 3, size=len(x)).astype("int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    # learning rate 0: the weights never change, so each batch's loss/accuracy is known in advance
    model.compile(keras.optimizers.SGD(0.0), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    x_eval, y_eval = x[:64], (np.argmax(model.predict(x[:64], verbose=0), axis=1)).astype("int32")  # val acc 1
    stt = StepsToTarget((x_eval, y_eval), "val/classification_error", -1.0, eval_every=2, max_steps=8, batch_size=16)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[stt])

    logits = model.predict(x, verbose=0)
    losses = keras.ops.convert_to_numpy(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
    correct = (np.argmax(logits, axis=1) == y).astype(float)
    per_batch_loss = losses.reshape(8, 16).mean(axis=1)
    per_batch_acc = correct.reshape(8, 16).mean(axis=1)
    assert [m["step"] for m in stt.measurements] == [2, 4, 6, 8]
    for m in stt.measurements:
        window = slice(m["step"] - 2, m["step"])
        assert m["val/classification_error"] == pytest.approx(0.0, abs=1e-6)
        assert m["train/cross_entropy_error"] == pytest.approx(per_batch_loss[window].mean(), rel=1e-4)
        assert m["train/classification_error"] == pytest.approx(1 - per_batch_acc[window].mean(), abs=1e-5)
