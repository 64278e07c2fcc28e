"""B_simple near the goal (issue 11 item 1): best trials, value at the goal, infinities kept, interval."""

import math

import numpy as np
import pytest

from tfbsz.analysis import BatchSizeStudy, Target, Trial, Workload, measured_noise_scale, summarize_noise_scale
from tfbsz.analysis.noise import NOISE_SCALE_COLUMN, median_interval, value_at_goal

TARGET = Target("err", 0.5)


def _trial(trial_id, steps, errors, noise):
    return Trial(trial_id, {}, "COMPLETE", {"step": np.array(steps, float), "err": np.array(errors, float),
                                             NOISE_SCALE_COLUMN: np.array(noise, float)})


def test_the_best_trials_value_at_the_goal_is_used_not_the_last_value():
    studies = [
        BatchSizeStudy(16, [_trial("0", [10, 20, 30], [0.9, 0.4, 0.1], [5.0, 50.0, 500.0]),     # goal at 20
                            _trial("1", [10, 20, 30], [0.9, 0.9, 0.4], [7.0, 70.0, 700.0])], {}, ""),
        BatchSizeStudy(32, [_trial("0", [10, 20], [0.4, 0.1], [math.inf, 9.0])], {}, ""),        # goal at 10
        BatchSizeStudy(64, [_trial("0", [10, 20], [0.9, 0.4], [3.0, math.nan])], {}, ""),          # NaN: the one before
    ]
    noise = measured_noise_scale(Workload("r", "d", "m", "o", studies, TARGET))
    assert noise.by_batch_size == {16: 50.0, 32: math.inf, 64: 3.0}
    assert noise.b_simple == 50.0          # the median keeps the infinite value
    assert noise.infinite == 1 and noise.trials == 3
    assert noise.interval == (3.0, math.inf)


def test_dropping_infinite_values_would_bias_the_median_low():
    values = {b: v for b, v in zip(range(7), [80.0, 90.0, math.inf, math.inf, 120.0, math.inf, 100.0])}
    summary = summarize_noise_scale(values)
    assert summary.b_simple == 120.0
    assert np.median([v for v in values.values() if math.isfinite(v)]) == 95.0


def test_median_interval_is_the_exact_order_statistic_interval():
    low, high, coverage = median_interval(np.arange(1.0, 11.0), 0.9)
    # n = 10: P(2 <= Binomial(10, 1/2) <= 8) = 0.9785 >= 0.9, P(3 <= . <= 7) = 0.8906 < 0.9
    assert (low, high) == (2.0, 9.0) and coverage == pytest.approx(0.978515625)
    low, high, coverage = median_interval([5.0, 1.0, 3.0], 0.9)
    assert (low, high) == (1.0, 5.0) and coverage == pytest.approx(0.75)   # all three cannot reach 90%


def test_value_at_goal_and_no_target():
    assert value_at_goal([10, 20, 30], [1.0, math.inf, 3.0], 25) == math.inf
    assert value_at_goal([10, 20], [math.nan, math.nan], 25) is None
    study = BatchSizeStudy(16, [_trial("0", [10], [0.1], [5.0])], {}, "")
    assert measured_noise_scale(Workload("r", "d", "m", "o", [study])) is None   # the workload has no target
    assert measured_noise_scale(Workload("r", "d", "m", "o", [study]), Target("err", 0.0)) is None  # nobody reached
