"""The perfect-scaling line and the numeric regime rules on constructed curves."""

import pytest

from tfbsz.analysis import classify_regimes, perfect_scaling_line
from tfbsz.core.errors import ConfigError

BATCHES = [16, 32, 64, 128, 256, 512, 1024]


def test_perfect_scaling_line_goes_through_the_smallest_reached_batch_size():
    assert perfect_scaling_line([8, 16, 32, 64], [None, 800, 500, 300]) == [1600.0, 800.0, 400.0, 200.0]
    assert perfect_scaling_line([16, 32], [800, 500], reference_batch_size=32) == [1000.0, 500.0]


def test_a_perfectly_scaling_curve_is_perfect_everywhere_with_no_limit_in_range():
    r = classify_regimes(BATCHES, [64000 / b for b in BATCHES])
    assert r.regimes == ["perfect"] * 7
    assert r.max_useful_batch_size is None
    assert r.efficiency == pytest.approx([1.0] * 7)


def test_perfect_then_diminishing_then_flat():
    steps = [1000, 500, 250, 160, 120, 115, 114]
    r = classify_regimes(BATCHES, steps)
    # 160 > 1.2 * 125 ends perfect scaling; from 256 on (120 -> 115 -> 114) no larger batch
    # cuts steps by 10%, while 256 itself still cut 128's steps by 25%
    assert r.regimes == ["perfect", "perfect", "perfect", "diminishing", "diminishing",
                         "beyond_max_useful", "beyond_max_useful"]
    assert (r.last_perfect_batch_size, r.max_useful_batch_size) == (64, 256)


def test_tolerance_boundary_is_inclusive():
    line_at_64 = 1000 * 16 / 64
    assert classify_regimes([16, 64, 256], [1000, 1.2 * line_at_64, 10]).regimes[1] == "perfect"
    assert classify_regimes([16, 64, 256], [1000, 1.21 * line_at_64, 10]).regimes[1] == "diminishing"


def test_one_noisy_plateau_does_not_end_the_curve_early():
    # 128 -> 256 is flat, but 1024 is much faster than 128: still useful
    steps = [1000, 500, 250, 200, 200, 150, 100]
    r = classify_regimes(BATCHES, steps)
    assert r.max_useful_batch_size is None
    assert "beyond_max_useful" not in r.regimes


def test_missed_batch_sizes_are_dropped_and_listed():
    r = classify_regimes([16, 32, 64, 128], [1000, 500, None, 400])
    assert r.batch_sizes == [16, 32, 128]
    assert r.dropped == [64]


def test_input_order_does_not_matter():
    a = classify_regimes(BATCHES, [1000, 500, 250, 160, 120, 115, 114])
    b = classify_regimes(BATCHES[::-1], [114, 115, 120, 160, 250, 500, 1000])
    assert a == b


@pytest.mark.parametrize("args, kwargs, message", [
    (([16], [100]), {}, "at least 2 batch sizes"),
    (([16, 32], [100]), {}, "same length"),
    (([16, -32], [100, 50]), {}, "batch_sizes: expected positive numbers, got -32"),
    (([16, 32], [100, 0]), {}, "steps: expected positive finite numbers or None, got 0 at batch size 32"),
    (([16, 32], [100, 50]), {"tolerance": -1}, "tolerance: expected a number >= 0, got -1"),
    (([16, 32], [100, 50]), {"min_reduction": 1.5}, "min_reduction: expected a number in \\(0, 1\\)"),
])
def test_bad_input_raises_config_error_naming_the_argument(args, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        classify_regimes(*args, **kwargs)
