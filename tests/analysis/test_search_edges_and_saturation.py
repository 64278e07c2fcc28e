"""Search-edge flags (issue 11 item 5) and search saturation (item 7)."""

import math

import numpy as np
import pytest

from analysis.synthetic_studies import write_synthetic_tree
from tfbsz.analysis import analyze_workload, load_workloads, search_edges, search_saturation
from tfbsz.analysis.search_edges import position_on_scale

LOG = {"type": "DOUBLE", "min_value": 1e-3, "max_value": 10.0, "scale": "LOG_SCALE"}
LINEAR = {"type": "DOUBLE", "min_value": 0.0, "max_value": 8.0, "scale": "LINEAR_SCALE"}
REVERSE = {"type": "DOUBLE", "min_value": 0.9, "max_value": 0.9999, "scale": "REVERSE_LOG_SCALE"}


@pytest.mark.parametrize("config, value, position", [
    (LOG, 1e-3, 0.0), (LOG, 10.0, 1.0), (LOG, 0.1, 0.5),
    (LINEAR, 1.0, 0.125), (LINEAR, 6.0, 0.75),
    (REVERSE, 0.99, 1 / 3), (REVERSE, 0.999, 2 / 3),
    ({"type": "INTEGER", "min_value": 1, "max_value": 9}, 9, 1.0),
    ({"type": "DISCRETE", "feasible_points": [0.0, 0.01, 0.1]}, 0.01, 0.5),
])
def test_position_is_measured_on_the_parameters_scale(config, value, position):
    assert position_on_scale(value, config) == pytest.approx(position)


def test_outer_eighth_is_flagged_on_each_side():
    configs = {"lr": LOG, "momentum": REVERSE, "wd": LINEAR}
    # log scale: 10^(-3 + 4 * 0.1) = 0.0040 is in the low eighth; 0.99 is a third of the reverse-log range
    assert search_edges({"lr": 10 ** (-3 + 4 * 0.1), "momentum": 0.99, "wd": 7.5}, configs) == {"lr": "low", "wd": "high"}
    # on a linear scale 0.0040 would be at the very bottom too, but 1.0 is not an edge on the log scale
    assert search_edges({"lr": 1.0, "momentum": 0.99, "wd": 4.0}, configs) == {}
    assert search_edges({"lr": "x", "other": 1.0}, {"lr": LOG, "k": {"type": "DISCRETE", "feasible_points": ["a", "b", "c"]}}) == {}


def test_edge_flags_reach_the_analysis_rows_with_a_widening_hint(tmp_path):
    root = str(tmp_path)
    write_synthetic_tree(root, [16, 64, 256], trials=4, seed=0)
    # the synthetic best learning rates are ~0.05 * sqrt(B / 16): put the range's top at 0.06
    import json, glob
    for path in glob.glob(f"{root}/**/study.json", recursive=True):
        study = json.load(open(path))
        study["parameter_configs"] = {"learning_rate": {"type": "DOUBLE", "min_value": 1e-4, "max_value": 0.06,
                                                        "scale": "LOG_SCALE"}}
        json.dump(study, open(path, "w"))
    (workload,) = load_workloads(root)
    result = analyze_workload(workload, workload.target, n_resamples=200)
    assert [r["at_search_edge"] for r in result.rows] == [["learning_rate"], ["learning_rate"], ["learning_rate"]]
    (warning,) = [w for w in result.warnings if "edge" in w]
    assert "learning_rate (high)" in warning and "widen the search range" in warning


def test_best_so_far_and_the_exact_k_trial_search():
    s = search_saturation(32, ["2", "10", "1", "9"], [300, 100, 400, 200])
    # search order is numeric: 1, 2, 9, 10
    assert s.best_so_far == [400, 300, 200, 100]
    # a 1-trial search: each trial equally likely; 2 of 4: the best is in half of the pairs
    assert s.typical_best_of == pytest.approx([(100 * 200 * 300 * 400) ** 0.25,
                                               (100 ** 3 * 200 ** 2 * 300) ** (1 / 6), 100 ** 0.75 * 200 ** 0.25, 100])
    assert s.reach_probability == [1.0, 1.0, 1.0, 1.0]
    assert s.saturated is False  # half the search typically needs 141 steps, the whole 100


def test_a_search_still_improving_is_not_saturated():
    steps = [1000, 900, 800, 700, 600, 500, 400, 100]
    s = search_saturation(8, [str(i) for i in range(8)], steps)
    assert s.saturated is False and "had not saturated" in s.warning
    close = search_saturation(8, [str(i) for i in range(8)], [104, 103, 102, 101, 100, 300, 400, 500])
    assert close.saturated is True and close.warning is None


def test_one_of_n_reaching_is_a_warning_and_probabilities_are_exact():
    s = search_saturation(512, ["0", "1", "2", "3"], [math.inf, None, 250, float("nan")])
    assert s.reached == 1 and "1 of 4 trials reached the target" in s.warning
    assert s.reach_probability == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert s.typical_best_of[:3] == [None, None, None] and s.typical_best_of[3] == pytest.approx(250)
    assert s.saturated is False  # half of the search can miss the target


def test_saturation_per_batch_size_is_in_the_analysis(tmp_path):
    write_synthetic_tree(str(tmp_path), [16, 64, 256], trials=6, seed=2)
    (workload,) = load_workloads(str(tmp_path))
    result = analyze_workload(workload, workload.target, n_resamples=200)
    assert [s.batch_size for s in result.saturation] == [16, 64, 256]
    assert all(len(s.best_so_far) == 7 for s in result.saturation)  # 6 trials + 1 diverged
    assert all(r["saturated"] in (True, False) for r in result.rows)
    assert np.all([s.best_so_far[-1] == r["steps"] for s, r in zip(result.saturation, result.rows)])


@pytest.mark.parametrize("name, config, value, expected", [
    # a decay fraction of 1 (decay over the whole budget) cannot be widened past
    ("schedule.decay_fraction", {"type": "DOUBLE", "min_value": 0.25, "max_value": 1.0}, 0.95, {}),
    ("schedule.decay_fraction", {"type": "DOUBLE", "min_value": 0.25, "max_value": 1.0}, 0.26,
     {"schedule.decay_fraction": "low"}),
    # momentum 0 is a limit on the low side, 0.999 is not one on the high side
    ("momentum", {"type": "DOUBLE", "min_value": 0.0, "max_value": 0.999, "scale": "REVERSE_LOG_SCALE"}, 0.01, {}),
    ("optimizer.momentum", {"type": "DOUBLE", "min_value": 0.5, "max_value": 0.999, "scale": "REVERSE_LOG_SCALE"},
     0.52, {"optimizer.momentum": "low"}),
    ("optimizer.momentum", {"type": "DOUBLE", "min_value": 0.0, "max_value": 0.999, "scale": "REVERSE_LOG_SCALE"},
     0.9989, {"optimizer.momentum": "high"}),
    # a learning rate has no natural limit
    ("optimizer.learning_rate", {"type": "DOUBLE", "min_value": 1e-4, "max_value": 1.0, "scale": "LOG_SCALE"},
     0.9, {"optimizer.learning_rate": "high"}),
])
def test_an_end_at_the_parameter_s_own_limit_is_not_an_edge(name, config, value, expected):
    assert search_edges({name: value}, {name: config}) == expected
