"""as_tf_dataset gives exactly the batches of train_batches, on the TensorFlow side."""

import itertools

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfbsz.data  # noqa: E402
from tfbsz.data.tf_pipeline import as_tf_dataset  # noqa: E402
from tfbsz.core.errors import ConfigError  # noqa: E402


@pytest.fixture(scope="module")
def text():
    return tfbsz.data.load({"name": "stdlib_text", "seq_len": 12, "max_bytes": 6000}, seed=0)


@pytest.mark.parametrize("batch_size,seed,start_step", [(32, 0, 0), (7, 3, 11), (600, 1, 2)])
def test_batches_are_identical_to_train_batches(text, batch_size, seed, start_step):
    expected = itertools.islice(text.train_batches(batch_size, seed, start_step), 6)
    got = as_tf_dataset(text, batch_size, seed, start_step).take(6)
    count = 0
    for (ex, ey), (gx, gy) in zip(expected, got):
        assert gx.shape == (batch_size, 12) and gx.dtype == tf.int32
        np.testing.assert_array_equal(gx.numpy(), ex)
        np.testing.assert_array_equal(gy.numpy(), ey)
        count += 1
    assert count == 6
    assert text.num_train < 600  # the last case spans epochs inside one batch


def test_static_batch_shape_and_method_delegates(text):
    ds = text.as_tf_dataset(16, seed=0)
    assert ds.element_spec[0].shape == (16, 12)
    first = next(iter(ds))[1].numpy()
    np.testing.assert_array_equal(first, next(text.train_batches(16, 0))[1])


def test_bad_arguments_fail_before_tensorflow_work(text):
    with pytest.raises(ConfigError, match="batch_size: expected an integer >= 1, got 0"):
        as_tf_dataset(text, 0, seed=0)
