"""Steps to result (strict comparison, both directions) and its bootstrap interval."""

import math

import numpy as np
import pytest

from tfbsz.analysis import Target, Trial, bootstrap_steps_to_result, first_step_reaching, steps_to_result
from tfbsz.core.errors import ConfigError


def trial(steps, values, metric="err", trial_id="t"):
    return Trial(trial_id, {}, "COMPLETE", {"step": np.array(steps, float), metric: np.array(values, float)})


def test_comparison_is_strict_when_minimising():
    t = trial([10, 20, 30], [0.3, 0.1, 0.05])
    assert first_step_reaching(t, Target("err", 0.1)) == 30
    assert first_step_reaching(t, Target("err", 0.1000001)) == 20


def test_comparison_is_strict_when_maximising():
    t = trial([10, 20, 30], [0.5, 0.9, 0.95], metric="val/accuracy")
    assert first_step_reaching(t, Target("val/accuracy", 0.9, "max")) == 30
    assert first_step_reaching(t, Target("val/accuracy", 0.95, "max")) is None


def test_nan_never_beats_the_threshold():
    t = trial([10, 20], [float("nan"), 0.01])
    assert first_step_reaching(t, Target("err", 0.1)) == 20


def test_steps_to_result_is_the_minimum_over_trials():
    trials = [trial([100, 200, 300], [0.5, 0.2, 0.05]), trial([50, 150, 250], [0.5, 0.08, 0.01]),
              trial([100], [0.9])]
    assert steps_to_result(trials, Target("err", 0.1)) == 150
    assert steps_to_result(trials, Target("err", 0.001)) is None
    assert steps_to_result([], Target("err", 0.1)) is None


def test_a_better_value_later_does_not_change_an_earlier_hit():
    # first hit at 20 even though the trial goes back above the threshold later
    t = trial([10, 20, 30, 40], [0.2, 0.05, 0.2, 0.01])
    assert first_step_reaching(t, Target("err", 0.1)) == 20


def test_missing_metric_column_names_the_columns():
    with pytest.raises(ConfigError, match=r"column 'acc' is in no trial's measurements.*\['err', 'step'\]"):
        steps_to_result([trial([1], [0.0])], Target("acc", 0.5))


def test_trials_without_the_column_or_without_measurements_did_not_reach():
    diverged = Trial("d", {}, "INFEASIBLE", {})
    no_val = Trial("n", {}, "INFEASIBLE", {"step": np.array([1.0]), "train/loss": np.array([9.0])})
    assert first_step_reaching(diverged, Target("err", 0.5)) is None
    assert steps_to_result([diverged, no_val, trial([7], [0.1])], Target("err", 0.5)) == 7


def _trials(firsts):
    return [trial([s], [0.0], trial_id=str(i)) if s else trial([1], [1.0], trial_id=str(i))
            for i, s in enumerate(firsts)]


def test_bootstrap_interval_contains_the_point_estimate_and_is_seedable():
    trials = _trials([120, 100, 180, 150, 400, 130, 110, 210])
    a = bootstrap_steps_to_result(trials, Target("err", 0.5), confidence=0.9, seed=3)
    b = bootstrap_steps_to_result(trials, Target("err", 0.5), confidence=0.9, seed=3)
    assert a == b
    assert a.steps == 100
    assert a.low <= a.steps <= a.high
    assert a.high > a.steps  # resamples without the best trial are slower
    assert (a.n_trials, a.n_reached) == (8, 8)


def test_bootstrap_upper_end_is_inf_when_resamples_can_miss_the_goal():
    trials = _trials([100, None, None, None, None])
    est = bootstrap_steps_to_result(trials, Target("err", 0.5), confidence=0.9)
    assert est.steps == 100 and math.isinf(est.high)
    assert est.n_reached == 1
    assert bootstrap_steps_to_result(_trials([None, None]), Target("err", 0.5)) is None


@pytest.mark.parametrize("kwargs, message", [
    ({"confidence": 1.0}, "confidence: expected a number in \\(0, 1\\), got 1.0"),
    ({"n_resamples": 10}, "n_resamples: expected an integer >= 100, got 10"),
])
def test_bootstrap_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        bootstrap_steps_to_result(_trials([1]), Target("err", 0.5), **kwargs)


def test_target_checks_its_fields():
    with pytest.raises(ConfigError, match="target.direction"):
        Target("err", 0.1, "down")
    with pytest.raises(ConfigError, match="target.threshold"):
        Target("err", float("nan"))


def test_search_luck_interval_reaches_below_the_point_estimate():
    # issue 11 item 4: the plain bootstrap's lower end was the point estimate by construction
    trials = _trials([120, 100, 180, 150, 400, 130, 110, 210])
    est = bootstrap_steps_to_result(trials, Target("err", 0.5), seed=0)
    assert est.low < est.steps < est.high
    assert est.bandwidth > 0


def test_ties_are_broken_by_numeric_trial_id():
    from tfbsz.analysis import BatchSizeStudy, best_trial

    study = BatchSizeStudy(32, [trial([100], [0.0], trial_id="10"), trial([100], [0.0], trial_id="9")], {}, "")
    assert best_trial(study, Target("err", 0.5)).trial_id == "9"
