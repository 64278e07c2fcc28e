"""fit_critical_batch: recovery, interval coverage and degenerate inputs."""

import math

import numpy as np
import pytest

from tfbsz.analysis import fit_critical_batch
from tfbsz.core.errors import ConfigError

BATCHES = [2**k for k in range(4, 15)]  # 16 ... 16384
B_CRIT, S_MIN = 1000.0, 3000.0


def noisy_steps(seed, noise=0.05, batches=BATCHES):
    rng = np.random.default_rng(seed)
    return [S_MIN * (1 + B_CRIT / b) * math.exp(rng.normal(0, noise)) for b in batches]


def test_noise_free_curve_is_recovered_exactly():
    fit = fit_critical_batch(BATCHES, [S_MIN * (1 + B_CRIT / b) for b in BATCHES])
    assert fit.b_crit == pytest.approx(B_CRIT, rel=1e-5)
    assert fit.s_min == pytest.approx(S_MIN, rel=1e-5)
    assert fit.e_min == pytest.approx(B_CRIT * S_MIN, rel=1e-4)
    assert fit.predict([B_CRIT])[0] == pytest.approx(2 * S_MIN, rel=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_noisy_curve_gives_b_crit_within_15_percent_and_a_covering_interval(seed):
    fit = fit_critical_batch(BATCHES, noisy_steps(seed), confidence=0.95)
    assert fit.b_crit == pytest.approx(B_CRIT, rel=0.15)
    low, high = fit.b_crit_interval
    assert low <= B_CRIT <= high
    assert low < fit.b_crit < high
    assert fit.s_min_interval[0] <= S_MIN <= fit.s_min_interval[1]


def test_interval_coverage_is_close_to_nominal_over_many_seeds():
    covered_b = covered_s = 0
    for seed in range(150):
        fit = fit_critical_batch(BATCHES[::2], noisy_steps(seed, 0.1, BATCHES[::2]), confidence=0.9)
        covered_b += fit.b_crit_interval[0] <= B_CRIT <= fit.b_crit_interval[1]
        covered_s += fit.s_min_interval[0] <= S_MIN <= fit.s_min_interval[1]
    # nominal 90%: 150 Bernoulli(0.9) draws fall in [125, 145] with probability > 99%
    assert 125 <= covered_b <= 145
    assert 125 <= covered_s <= 145


def test_missed_batch_sizes_are_dropped_with_a_note():
    steps = [S_MIN * (1 + B_CRIT / b) for b in BATCHES]
    steps[-1] = None
    steps[-2] = float("nan")
    fit = fit_critical_batch(BATCHES, steps)
    assert fit.dropped == [BATCHES[-2], BATCHES[-1]]
    assert any("dropped" in note for note in fit.notes)
    assert fit.b_crit == pytest.approx(B_CRIT, rel=1e-4)


def test_perfect_scaling_data_give_an_open_upper_end():
    fit = fit_critical_batch([16, 32, 64, 128], [8000 * 1.03, 4000, 2000 * 0.98, 1000])
    assert math.isinf(fit.b_crit_interval[1])
    assert any("perfect scaling" in note for note in fit.notes)
    assert fit.s_min_interval[0] < fit.s_min


def test_flat_data_give_an_open_lower_end_and_a_bound_note():
    fit = fit_critical_batch([16, 32, 64, 128], [1000, 1010, 990, 1000])
    assert fit.b_crit_interval[0] == 0.0
    assert any("no scaling" in note for note in fit.notes)


@pytest.mark.parametrize("batch_sizes, steps, message", [
    ([16, 32], [200, 100], "at least 3 points"),
    ([16, 32, 64], [200, None, 100], "at least 3 points"),
    ([16, 16, 16], [200, 210, 190], "2\\+ batch sizes"),
    ([16, 32, 64], [200, 0, 100], "steps: expected positive finite numbers or None, got 0"),
    ([16, 0, 64], [200, 150, 100], "batch_sizes: expected positive numbers, got 0"),
    ([16, 32, 64], [200, 100], "same length"),
])
def test_degenerate_inputs_raise_clear_errors(batch_sizes, steps, message):
    with pytest.raises(ConfigError, match=message):
        fit_critical_batch(batch_sizes, steps)


def test_confidence_must_be_in_the_open_unit_interval():
    with pytest.raises(ConfigError, match="confidence: expected a number in \\(0, 1\\), got 95"):
        fit_critical_batch(BATCHES, noisy_steps(0), confidence=95)
