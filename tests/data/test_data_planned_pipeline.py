"""The planned tf.data pipeline gives exactly the NumPy stream's batches, with and without mixup."""

import itertools

import numpy as np

from tfbsz import data
from tfbsz.data.tf_pipeline import planned_tf_dataset
from tfbsz.training.regularizers import mixup_batches


def test_planned_batches_equal_numpy_stream():
    ds = data.load({"name": "digits"}, seed=0)
    planned = list(planned_tf_dataset(ds, 100, seed=3, num_steps=40))
    stream = list(itertools.islice(ds.train_batches(100, seed=3), 40))
    assert len(planned) == 40
    for (px, py), (sx, sy) in zip(planned, stream):
        np.testing.assert_array_equal(px.numpy(), sx)
        np.testing.assert_array_equal(py.numpy(), sy)


def test_planned_mixup_equals_numpy_mixup():
    ds = data.load({"name": "digits"}, seed=0)
    planned = list(planned_tf_dataset(ds, 32, seed=1, num_steps=5, mixup_alpha=0.4, mixup_seed=9))
    stream = list(itertools.islice(mixup_batches(ds.train_batches(32, seed=1), 0.4, ds.num_classes, seed=9), 5))
    for (px, py), (sx, sy) in zip(planned, stream):
        np.testing.assert_allclose(px.numpy(), sx, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(py.numpy(), sy, rtol=1e-6, atol=1e-7)
