"""The two-batch-size estimator (NumPy) against a problem with known gradient covariance."""

import math

import numpy as np
import pytest

from noise_scale.gns_linear_problem import exact_grad_sq, exact_noise_scale, exact_trace_sigma, per_example_gradients
from tfbsz.core.errors import ConfigError
from tfbsz.training.noise_scale import NoiseScaleEstimator, gradient_norm_sq_estimate, trace_covariance_estimate


def test_estimators_invert_the_expected_norms_exactly():
    grad_sq, trace = 2.5, 40.0
    small, big = grad_sq + trace / 8, grad_sq + trace / 128
    assert gradient_norm_sq_estimate(small, big, 8, 128) == pytest.approx(grad_sq)
    assert trace_covariance_estimate(small, big, 8, 128) == pytest.approx(trace)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noise_scale_within_10_percent_of_the_exact_value(seed):
    rng = np.random.default_rng(seed)
    estimator = NoiseScaleEstimator(decay=0.995)
    for _ in range(400):
        g = per_example_gradients(rng, 512)
        sq_small = float(np.sum(g[:32].mean(axis=0) ** 2))
        sq_big = float(np.sum(g.mean(axis=0) ** 2))
        estimator.update(sq_small, sq_big, 32, 512)
    assert estimator.noise_scale == pytest.approx(exact_noise_scale(), rel=0.10)
    assert estimator.trace_sigma == pytest.approx(exact_trace_sigma(), rel=0.10)
    assert estimator.grad_sq == pytest.approx(exact_grad_sq(), rel=0.10)


def test_one_batch_size_pair_alone_is_biased_so_the_estimator_needs_both():
    # |G_small|^2 / ... on its own overestimates |G|^2 by tr(Sigma)/b: the correction matters.
    rng = np.random.default_rng(0)
    g = [per_example_gradients(rng, 32).mean(axis=0) for _ in range(300)]
    naive = np.mean([float(v @ v) for v in g])
    assert naive > 1.5 * exact_grad_sq()


def test_estimator_before_updates_and_with_non_finite_norms():
    estimator = NoiseScaleEstimator()
    assert math.isnan(estimator.noise_scale)
    estimator.update(float("nan"), 1.0, 4, 64)
    assert estimator.count == 0
    estimator.update(1.0, 2.0, 4, 64)  # big-batch norm larger: |G|^2 estimate positive, trace negative
    assert estimator.count == 1


def test_bad_arguments_name_the_argument():
    with pytest.raises(ConfigError, match="decay"):
        NoiseScaleEstimator(decay=1.0)
    with pytest.raises(ConfigError, match="b_big"):
        gradient_norm_sq_estimate(1.0, 1.0, 8, 8)
    with pytest.raises(ConfigError, match="b_small"):
        trace_covariance_estimate(1.0, 1.0, 0, 8)


def _median_estimates(b_small, b_big, runs=100, updates=30, seed=0):
    """Each run: `updates` pairs into a fresh estimator (decay 0.95); returns the final values."""
    rng = np.random.default_rng(seed)
    trace = grad = np.zeros(runs)
    decay = 0.95
    for k in range(1, updates + 1):
        g = per_example_gradients(rng, runs * b_big).reshape(runs, b_big, -1)
        sq_small = np.sum(g[:, :b_small].mean(axis=1) ** 2, axis=-1)
        sq_big = np.sum(g.mean(axis=1) ** 2, axis=-1)
        trace = decay * trace + (1 - decay) * trace_covariance_estimate(sq_small, sq_big, b_small, b_big)
        grad = decay * grad + (1 - decay) * gradient_norm_sq_estimate(sq_small, sq_big, b_small, b_big)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(grad > 0, trace / grad, np.inf)   # bias correction cancels in the ratio


def test_the_old_default_pair_at_batch_8_was_biased_low_and_the_new_one_is_not():
    # issue 11 item 1: (micro / 8, micro) = (1, 8) at batch 8, infinite values dropped
    from tfbsz.training.noise_scale import default_batch_pair

    old = _median_estimates(1, 8)
    assert np.median(old[np.isfinite(old)]) < 0.4 * exact_noise_scale()
    assert np.median(old) < 0.75 * exact_noise_scale()    # keeping inf alone does not save b_small = 1
    small, big = default_batch_pair(8, 60000)
    assert small >= 8
    new = _median_estimates(small, big)
    assert np.isfinite(new).all()
    assert np.median(new) == pytest.approx(exact_noise_scale(), rel=0.05)


def test_latest_measurement_keeps_infinite_values():
    from tfbsz.training.noise_scale import NOISE_SCALE_COLUMN, GradientNoiseScale

    x, y = np.zeros((300, 4), "float32"), np.zeros((300, 1), "float32")
    gns = GradientNoiseScale(x, y, small_batch=8, big_batch=64)
    assert gns.latest_measurement() == {}
    gns.history.append({"gradient_noise_scale": math.inf})
    assert gns.latest_measurement() == {NOISE_SCALE_COLUMN: math.inf}
    gns.history.append({"gradient_noise_scale": math.nan})
    assert gns.latest_measurement() == {}
