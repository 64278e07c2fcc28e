"""`eval_every: auto` (issue 11 item 6): the same rounding share at every batch size, in the config,
in `StepsToTarget`, and the first-evaluation flag."""

import numpy as np
import pytest

from tfbsz.core.config import from_dict
from tfbsz.core.errors import ConfigError
from tfbsz.study.eval_schedule import AUTO_RESOLUTION, evaluation_steps, next_evaluation

BASE = {"data": {"name": "digits"}, "model": {"name": "mlp"}, "optimizer": {"name": "momentum", "learning_rate": 0.1},
        "target": {"metric": "val/classification_error", "threshold": 0.1}, "budget": {"max_steps": 200},
        "batch_sizes": [16, 64]}


def _worst_share(eval_every, max_steps, hits):
    """Largest (recorded - true) / true over hit steps: the rounding to the next evaluation."""
    grid = np.array(evaluation_steps(eval_every, max_steps))
    recorded = grid[np.searchsorted(grid, hits)]
    return float(np.max((recorded - hits) / hits))


def test_auto_rounds_by_at_most_five_percent_wherever_the_target_is_hit():
    budget = 10_000
    hits = np.arange(budget // 10, 9_000)  # anywhere past the first tenth of the budget
    assert _worst_share("auto", budget, hits) <= AUTO_RESOLUTION
    # a fixed grid is fine at large step counts and coarse at small ones: the batch-size bias
    assert _worst_share(100, budget, np.arange(5_000, 9_000)) < 0.02
    assert _worst_share(100, budget, np.arange(1_000, 1_100)) > 0.09


def test_auto_evaluates_about_70_times_over_a_budget_and_never_sooner_than_budget_over_200():
    for budget in (400, 10_000, 1_000_000):
        steps = evaluation_steps("auto", budget)
        assert 60 <= len(steps) <= 75
        assert min(np.diff(steps)) >= budget / 200
    assert next_evaluation(1000, 7) == 1007


def test_config_accepts_auto_and_names_it_in_errors():
    assert from_dict({**BASE, "eval_every": "auto"})["eval_every"] == "auto"
    with pytest.raises(ConfigError, match=r"eval_every: expected an integer >= 1 or auto, got 'often'"):
        from_dict({**BASE, "eval_every": "often"})


def test_steps_to_target_follows_the_auto_grid_and_flags_a_first_evaluation_hit():
    import keras

    from tfbsz.study.callbacks import StepsToTarget

    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")

    def fit(threshold, max_steps):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile(optimizer=keras.optimizers.SGD(0.05), metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        stt = StepsToTarget((x[:64], y[:64]), "val/classification_error", threshold, eval_every="auto",
                            max_steps=max_steps, batch_size=16)
        model.fit(x, y, batch_size=16, epochs=20, callbacks=[stt], verbose=0)
        return stt

    stt = fit(0.2, 1000)  # evaluates on the grid 5, 10, ... until the target is beaten
    steps = [m["step"] for m in stt.measurements]
    assert stt.outcome == "reached" and len(steps) > 1 and not stt.reached_at_first_evaluation
    assert steps == evaluation_steps("auto", 1000)[:len(steps)]
    easy = fit(0.9, 400)
    assert easy.outcome == "reached" and easy.steps_to_target == 2 and easy.reached_at_first_evaluation


def test_evaluation_after_any_step_agrees_with_the_grid():
    from tfbsz.study.eval_schedule import evaluation_after

    for eval_every, budget in (("auto", 400), ("auto", 10_000), (7, 100)):
        grid = evaluation_steps(eval_every, budget)
        for step in range(0, grid[-1]):
            assert evaluation_after(step, eval_every, budget) == next(g for g in grid if g > step)
