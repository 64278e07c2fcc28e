"""The quasi-random oracle: scaled values, determinism, and a resumed cursor."""

import keras_tuner as kt
import numpy as np

from tfbsz.study.tuning import QuasiRandomOracle, build_hyperparameters, objective_value, reverse_log_names

SPACE = {
    "optimizer.learning_rate": {"min": 1e-3, "max": 1.0, "scale": "log"},
    "optimizer.momentum": {"min": 0.5, "max": 0.999, "scale": "reverse_log"},
    "regularization.label_smoothing": {"values": [0.0, 0.01, 0.1]},
}


def make_oracle(tmp_path, name, algorithm="halton", seed=0, max_trials=8):
    oracle = QuasiRandomOracle(algorithm=algorithm, seed=seed, objective=kt.Objective("s", "min"),
                               max_trials=max_trials, hyperparameters=build_hyperparameters(SPACE),
                               reverse_log=reverse_log_names(SPACE))
    oracle._set_project_dir(str(tmp_path), name)
    return oracle


def draw(oracle, n):
    return [oracle.populate_space(str(i))["values"] for i in range(n)]


def test_values_respect_ranges_and_scales(tmp_path):
    values = draw(make_oracle(tmp_path, "a"), 64)
    lrs = np.array([v["optimizer.learning_rate"] for v in values])
    moms = np.array([v["optimizer.momentum"] for v in values])
    assert lrs.min() >= 1e-3 and lrs.max() <= 1.0
    # log scale: about half the points below the geometric midpoint 10**-1.5
    assert 0.35 < np.mean(lrs < 10 ** -1.5) < 0.65
    # reverse-log scale: uniform in log(1 - m), so about half of 1-m below sqrt(0.5 * 0.001)
    assert 0.35 < np.mean((1 - moms) < np.sqrt(0.5 * 0.001)) < 0.65
    assert {v["regularization.label_smoothing"] for v in values} == {0.0, 0.01, 0.1}


def test_same_seed_same_points_other_seed_other_points(tmp_path):
    a = draw(make_oracle(tmp_path, "a", seed=3), 5)
    b = draw(make_oracle(tmp_path, "b", seed=3), 5)
    c = draw(make_oracle(tmp_path, "c", seed=4), 5)
    assert a == b and a != c
    sobol = draw(make_oracle(tmp_path, "d", algorithm="sobol", seed=3), 4)
    assert sobol != a[:4]


def test_state_round_trip_continues_sequence(tmp_path):
    first = make_oracle(tmp_path, "a")
    full = draw(make_oracle(tmp_path, "b"), 6)
    draw(first, 3)
    state = first.get_state()
    second = make_oracle(tmp_path, "c")
    second.set_state(state)
    assert [second.populate_space(str(i))["values"] for i in range(3, 6)] == full[3:]


def test_objective_ranks_every_reached_trial_first():
    reached = objective_value("reached", 1000, 1000, 0.05, 0.1)
    near_miss = objective_value("missed", None, 1000, 0.11, 0.1)
    far_miss = objective_value("missed", None, 1000, 0.9, 0.1)
    diverged = objective_value("diverged", None, 1000, None, 0.1)
    assert reached < near_miss < far_miss < diverged
    assert all(np.isfinite([reached, near_miss, far_miss, diverged]))
