"""`StepsToTarget` in a plain `model.fit`: reached, missed, diverged, cadence and accumulation."""

import keras
import numpy as np
import pytest

from tfbsz.study.callbacks import StepsToTarget


def data(n=512, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int32")
    return x, y


def model(lr=0.5, accumulation=None):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    kwargs = {"gradient_accumulation_steps": accumulation} if accumulation else {}
    m.compile(optimizer=keras.optimizers.SGD(lr, **kwargs),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=[keras.metrics.SparseCategoricalCrossentropy(name="cross_entropy", from_logits=True),
                       keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return m


def test_reaches_target_and_stops_at_first_evaluation_that_beats_it():
    x, y = data()
    stt = StepsToTarget((x, y), "val/classification_error", 0.1, eval_every=4, max_steps=400, batch_size=32)
    model().fit(x, y, batch_size=32, epochs=40, callbacks=[stt], verbose=0)
    assert stt.outcome == "reached"
    steps = [m["step"] for m in stt.measurements]
    assert steps == list(range(4, 4 * len(steps) + 1, 4))
    assert stt.steps_to_target == steps[-1]
    assert stt.measurements[-1]["val/classification_error"] < 0.1
    assert all(m["val/classification_error"] >= 0.1 for m in stt.measurements[:-1])
    assert stt.measurements[0]["examples_seen"] == 4 * 32
    assert {"train/cross_entropy_error", "val/cross_entropy_error", "val/accuracy", "learning_rate",
            "wall_time_s"} <= set(stt.measurements[0])
    assert abs(stt.measurements[0]["learning_rate"] - 0.5) < 1e-6


def test_missed_when_budget_runs_out():
    x, y = data()
    stt = StepsToTarget((x, y), "val/accuracy", 0.999, eval_every=5, max_steps=12, batch_size=16)
    model(lr=0.01).fit(x, y, batch_size=16, epochs=10, callbacks=[stt], verbose=0)
    assert stt.outcome == "missed" and stt.steps_to_target is None
    assert [m["step"] for m in stt.measurements] == [5, 10, 12]  # budget end is measured too
    assert stt.best_value == max(m["val/accuracy"] for m in stt.measurements)


def test_diverged_on_nan_loss():
    x, y = data()
    x = x * 1e30
    stt = StepsToTarget((x, y), "val/cross_entropy_error", 0.1, eval_every=3, max_steps=50, batch_size=32)
    model(lr=1e10).fit(x, y, batch_size=32, epochs=5, callbacks=[stt], verbose=0)
    assert stt.outcome == "diverged"
    assert stt.measurements[-1]["step"] <= 6


def test_counts_optimizer_updates_under_accumulation():
    x, y = data()
    stt = StepsToTarget((x, y), "val/accuracy", 0.999, eval_every=5, max_steps=10, batch_size=64,
                        accumulation_steps=4)
    m = model(lr=0.05, accumulation=4)
    m.fit(x, y, batch_size=16, epochs=10, callbacks=[stt], verbose=0)
    assert [r["step"] for r in stt.measurements] == [5, 10]
    assert int(m.optimizer.iterations) == 10  # 40 micro-batches, 10 updates
    assert stt.measurements[0]["examples_seen"] == 5 * 64


@pytest.mark.parametrize("kwargs, message", [
    ({"target_metric": "accuracy"}, "target_metric"),
    ({"threshold": float("nan")}, "threshold"),
    ({"direction": "up"}, "direction"),
    ({"eval_every": 0}, "eval_every"),
    ({"max_steps": -1}, "max_steps"),
])
def test_constructor_checks_name_the_argument(kwargs, message):
    args = {"eval_data": data(), "target_metric": "val/accuracy", "threshold": 0.9}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        StepsToTarget(**args)
