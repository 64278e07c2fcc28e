"""The regime rules: the fitted small-batch limit as reference, missed batch sizes as bounds, and
the vectorised `regime_boundaries` that the bootstrap uses."""

import collections
import math

import numpy as np
import pytest

from tfbsz.analysis import classify_regimes, fit_critical_batch, perfect_scaling_line, regime_boundaries
from tfbsz.core.errors import ConfigError

BATCHES = [16, 32, 64, 128, 256, 512, 1024]


def mccandlish(batch_sizes, s_min=1000.0, b_crit=256.0):
    return [s_min * (1 + b_crit / b) for b in batch_sizes]


def test_perfect_scaling_line_goes_through_the_smallest_reached_batch_size():
    assert perfect_scaling_line([8, 16, 32, 64], [None, 800, 500, 300]) == [1600.0, 800.0, 400.0, 200.0]
    assert perfect_scaling_line([16, 32], [800, 500], reference_batch_size=32) == [1000.0, 500.0]


def test_on_an_exact_mccandlish_curve_the_boundaries_follow_b_crit():
    batches = [2**k for k in range(3, 13)]
    r = classify_regimes(batches, mccandlish(batches))
    assert r.reference == "fit"
    assert r.small_batch_limit == pytest.approx(1000.0 * 256.0, rel=1e-6)
    # S / (E_min / B) = 1 + B / B_crit <= 1.2  <=>  B <= 51.2
    assert r.last_perfect_batch_size == 32
    # S(4096) / S(2048) = 0.944 >= 0.9 but S(4096) / S(1024) = 0.85
    assert r.max_useful_batch_size == 2048
    assert r.efficiency == pytest.approx([1 / (1 + b / 256.0) for b in batches], rel=1e-6)


def test_a_perfectly_scaling_curve_is_perfect_everywhere_with_no_limit_in_range():
    r = classify_regimes(BATCHES, [64000 / b for b in BATCHES])
    assert r.regimes == ["perfect"] * 7
    assert r.max_useful_batch_size is None
    assert r.efficiency == pytest.approx([1.0] * 7, rel=1e-3)


def test_larger_batch_sizes_that_missed_bound_the_maximal_useful_batch_size():
    # issue 11 item 2: 8..4096, and 512 and up all missed the target
    batches = [2**k for k in range(3, 13)]
    steps = mccandlish(batches[:6], b_crit=2048) + [None] * 4
    r = classify_regimes(batches, steps)
    assert r.max_useful_batch_size == 256
    assert r.dropped == [512, 1024, 2048, 4096]
    assert r.regimes[-1] == "perfect"  # B_crit = 2048: still perfect at 256, yet the limit of what was measured
    # without the misses the same points would leave the limit beyond the range
    assert classify_regimes(batches[:6], steps[:6]).max_useful_batch_size is None


def test_a_missed_batch_size_between_reached_ones_ends_perfect_scaling_and_the_useful_range():
    r = classify_regimes([16, 32, 64, 128], [1600, 800, None, 200], reference="smallest")
    assert r.last_perfect_batch_size == 32
    assert r.max_useful_batch_size is None  # 128 is faster than 32 and is the largest measured


def test_the_fitted_reference_is_steadier_than_the_smallest_point():
    # issue 11 item 3: the smallest batch size's noise moved the whole perfect-scaling line
    batches = [2**k for k in range(3, 13)]
    rng = np.random.default_rng(0)
    exact = collections.Counter()
    for _ in range(300):
        steps = [s * math.exp(rng.normal(0.0, 0.1)) for s in mccandlish(batches)]
        for reference in ("fit", "smallest"):
            exact[reference] += classify_regimes(batches, steps, reference=reference).last_perfect_batch_size == 32
    assert exact["fit"] >= 120 and exact["fit"] >= 1.4 * exact["smallest"], exact


def test_no_batch_size_scales_perfectly_when_even_the_smallest_is_slow():
    r = classify_regimes([16, 32, 64, 128], mccandlish([16, 32, 64, 128], b_crit=8.0))
    assert r.last_perfect_batch_size is None
    assert "perfect" not in r.regimes


def test_one_noisy_plateau_does_not_end_the_curve_early():
    steps = [1000, 500, 250, 200, 200, 150, 100]
    r = classify_regimes(BATCHES, steps)
    assert r.max_useful_batch_size is None
    assert "beyond_max_useful" not in r.regimes


def test_without_a_fit_the_line_goes_through_the_smallest_batch_size():
    r = classify_regimes([16, 64], [1000, 300])
    assert r.reference == "smallest" and r.perfect_line == [1000.0, 250.0]
    assert r.last_perfect_batch_size == 64  # 300 <= 1.2 * 250


def test_tolerance_boundary_is_inclusive():
    line_at_64 = 1000 * 16 / 64
    assert classify_regimes([16, 64, 256], [1000, 1.2 * line_at_64, 10], reference="smallest").regimes[1] == "perfect"
    assert classify_regimes([16, 64, 256], [1000, 1.21 * line_at_64, 10], reference="smallest").regimes[1] == "diminishing"


def test_input_order_and_numpy_numbers_do_not_matter():
    a = classify_regimes(BATCHES, [1000, 500, 250, 160, 120, 115, 114])
    b = classify_regimes(np.array(BATCHES[::-1]), np.array([114, 115, 120, 160, 250, 500, 1000]))
    assert a == b


def test_the_vectorised_boundaries_match_one_curve_at_a_time():
    rng = np.random.default_rng(1)
    curves = [[s * math.exp(rng.normal(0, 0.15)) if rng.random() > 0.1 else None for s in mccandlish(BATCHES)]
              for _ in range(40)]
    curves = [c for c in curves if sum(s is not None for s in c) >= 3]
    log_steps = np.array([[math.log(s) if s else math.inf for s in c] for c in curves])
    log_e_min = np.array([math.log(fit_critical_batch(BATCHES, c).e_min) for c in curves])
    last_perfect, max_useful = regime_boundaries(np.log(BATCHES), log_steps, log_e_min)
    for c, lp, mu in zip(curves, last_perfect, max_useful):
        r = classify_regimes(BATCHES, c)
        assert (BATCHES[lp] if lp >= 0 else None) == r.last_perfect_batch_size
        assert (BATCHES[mu] if mu < len(BATCHES) else None) == r.max_useful_batch_size


@pytest.mark.parametrize("args, kwargs, message", [
    (([16], [100]), {}, "at least 2 batch sizes"),
    (([16, 32], [100]), {}, "same length"),
    (([16, -32], [100, 50]), {}, "batch_sizes: expected positive numbers, got -32"),
    (([16, 32], [100, 0]), {}, "steps: expected positive finite numbers or None, got 0 at batch size 32"),
    (([16, 32], [100, 50]), {"tolerance": -1}, "tolerance: expected a number >= 0, got -1"),
    (([16, 32], [100, 50]), {"min_reduction": 1.5}, "min_reduction: expected a number in \\(0, 1\\)"),
    (([16, 32], [100, 50]), {"reference": "first"}, "reference: expected one of fit, smallest, got 'first'"),
])
def test_bad_input_raises_config_error_naming_the_argument(args, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        classify_regimes(*args, **kwargs)
