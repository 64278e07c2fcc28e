"""NumPy numbers are accepted everywhere in the public analysis API (issue 11, item 8)."""

import numpy as np
import pytest

from tfbsz.analysis import (
    classify_regimes,
    fit_critical_batch,
    perfect_scaling_line,
    scaling_heuristics,
    scaling_intervals,
    search_saturation,
)

SIZES = np.array([16, 32, 64, 128, 256])
STEPS = np.array([3000.0 * (1 + 128 / b) for b in SIZES])


def test_fit_takes_numpy_arrays_and_numbers():
    fit = fit_critical_batch(np.array([16, 32, 64, 128, 256]), STEPS, confidence=np.float64(0.9))
    assert fit.b_crit == pytest.approx(128, rel=1e-5)
    assert fit.batch_sizes == [16.0, 32.0, 64.0, 128.0, 256.0]
    assert fit_critical_batch(list(SIZES.astype(np.int32)), list(STEPS.astype(np.float32))).b_crit == pytest.approx(128, rel=1e-3)


def test_regimes_line_and_heuristics_take_numpy_numbers():
    regimes = classify_regimes(SIZES, STEPS, tolerance=np.float32(0.2), min_reduction=np.float64(0.1))
    assert regimes.batch_sizes == [16, 32, 64, 128, 256] and type(regimes.batch_sizes[0]) is int
    assert perfect_scaling_line(SIZES, STEPS)[0] == pytest.approx(STEPS[0])
    assert scaling_heuristics(SIZES, np.float64(0.1))["linear"][-1] == pytest.approx(1.6)


def test_intervals_and_saturation_take_numpy_numbers():
    rng = np.random.default_rng(0)
    firsts = [s * np.exp(np.abs(rng.normal(0, 0.2, 6))) for s in STEPS]
    iv = scaling_intervals(SIZES, firsts, confidence=np.float64(0.8), n_resamples=np.int64(200))
    assert iv.batch_sizes == [16, 32, 64, 128, 256] and type(iv.batch_sizes[0]) is int
    assert search_saturation(np.int64(64), np.arange(6), firsts[2]).trials == 6


def test_booleans_are_not_numbers():
    from tfbsz.core.errors import ConfigError

    with pytest.raises(ConfigError, match="confidence"):
        fit_critical_batch(SIZES, STEPS, confidence=True)
