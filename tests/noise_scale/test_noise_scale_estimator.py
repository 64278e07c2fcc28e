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
