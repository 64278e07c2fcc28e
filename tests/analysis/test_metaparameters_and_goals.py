"""Best metaparameters per batch size, the scaling heuristics, and goal sensitivity."""

import numpy as np
import pytest

from analysis.synthetic_studies import METRIC, write_synthetic_tree
from tfbsz.analysis import (
    BatchSizeStudy,
    Target,
    Trial,
    best_metaparameters,
    best_trial,
    find_parameter,
    goal_sensitivity,
    load_workloads,
    scaling_heuristics,
)
from tfbsz.core.errors import ConfigError


def _trial(trial_id, first_hit, parameters):
    return Trial(trial_id, parameters, "COMPLETE",
                 {"step": np.array([first_hit, first_hit + 10.0]), "err": np.array([0.0, 0.0])})


def test_best_trial_is_the_fastest_with_ties_broken_by_trial_id():
    study = BatchSizeStudy(64, [
        _trial("b", 100, {"learning_rate": 0.2, "momentum": 0.9}),
        _trial("a", 100, {"optimizer.learning_rate": 0.4, "optimizer.momentum": 0.75}),
        _trial("c", 300, {"learning_rate": 9.0}),
    ], {}, "")
    best = best_trial(study, Target("err", 0.5))
    assert (best.trial_id, best.steps) == ("a", 100)
    assert best.learning_rate == 0.4 and best.momentum == 0.75
    assert best.effective_learning_rate == pytest.approx(0.4 / 0.25)
    assert best_trial(study, Target("err", -1.0)) is None


def test_effective_learning_rate_without_momentum_is_the_learning_rate():
    study = BatchSizeStudy(8, [_trial("1", 5, {"learning_rate": 0.3})], {}, "")
    assert best_trial(study, Target("err", 0.5)).effective_learning_rate == 0.3


def test_find_parameter_prefers_exact_names():
    params = {"x.learning_rate": 1.0, "learning_rate": 2.0, "end_learning_rate_factor": 3.0}
    assert find_parameter(params, "learning_rate") == 2.0
    assert find_parameter({"end_learning_rate_factor": 3.0}, "learning_rate") is None


def test_heuristics_scale_from_the_smallest_batch_size():
    h = scaling_heuristics([256, 64, 1024], 0.1)
    assert h["linear"] == pytest.approx([0.4, 0.1, 1.6])
    assert h["sqrt"] == pytest.approx([0.2, 0.1, 0.4])
    with pytest.raises(ConfigError, match="base_value: expected a positive number, got 0"):
        scaling_heuristics([1, 2], 0)


def test_best_metaparameters_and_goal_sensitivity_on_a_study_tree(tmp_path):
    write_synthetic_tree(str(tmp_path), [16, 64, 256, 1024], trials=4)
    (workload,) = load_workloads(str(tmp_path))
    best = best_metaparameters(workload, workload.target)
    assert [b.batch_size for b in best] == [16, 64, 256, 1024]
    assert all(b.momentum == 0.9 for b in best)
    # synthetic best lr grows like sqrt(B): far below the linear heuristic at 1024
    assert best[-1].learning_rate < scaling_heuristics([16, 1024], best[0].learning_rate)["linear"][1] / 2

    curves = goal_sensitivity(workload, METRIC, [0.06, 0.05, 0.04, 1e-9])
    for b in [16, 64, 256, 1024]:
        assert curves[0.06][b] <= curves[0.05][b] <= curves[0.04][b]
    assert set(curves[1e-9].values()) == {None}
    with pytest.raises(ConfigError, match="thresholds"):
        goal_sensitivity(workload, METRIC, [])
