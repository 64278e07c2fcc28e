"""Dataset.train_batches / eval_arrays: exact sizes, determinism, carried tails, skip-ahead."""

import itertools

import numpy as np
import pytest

from tfbsz.data.base import Dataset, content_hash, stratified_split
from tfbsz.core.errors import ConfigError


def toy(num_train=10, num_eval=3):
    """Examples whose input equals their index, so batches reveal the order."""
    return Dataset(
        name="toy",
        task="classification",
        x_train=np.arange(num_train, dtype=np.float32).reshape(num_train, 1),
        y_train=np.arange(num_train, dtype=np.int32),
        x_eval=np.arange(100, 100 + num_eval, dtype=np.float32).reshape(num_eval, 1),
        y_eval=np.zeros(num_eval, np.int32),
        num_classes=num_train,
        input_shape=(1,),
    )


def take(iterator, count):
    return list(itertools.islice(iterator, count))


@pytest.mark.parametrize("batch_size", [1, 3, 4, 10, 25])
def test_batches_have_exact_size_and_matching_pairs(batch_size):
    for x, y in take(toy().train_batches(batch_size, seed=1), 7):
        assert x.shape == (batch_size, 1) and y.shape == (batch_size,)
        np.testing.assert_array_equal(x[:, 0], y)


def test_same_seed_same_batches_and_other_seed_differs():
    first = np.concatenate([y for _, y in take(toy().train_batches(4, seed=3), 10)])
    again = np.concatenate([y for _, y in take(toy().train_batches(4, seed=3), 10)])
    other = np.concatenate([y for _, y in take(toy().train_batches(4, seed=4), 10)])
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_epochs_are_the_documented_permutations_laid_end_to_end():
    stream = np.concatenate([y for _, y in take(toy().train_batches(4, seed=7), 5)])
    expected = np.concatenate([np.random.default_rng([7, e]).permutation(10) for e in range(2)])
    np.testing.assert_array_equal(stream, expected)


def test_ragged_epoch_tail_is_carried_into_the_next_batch():
    batches = [y for _, y in take(toy().train_batches(4, seed=0), 5)]
    epoch0 = np.random.default_rng([0, 0]).permutation(10)
    epoch1 = np.random.default_rng([0, 1]).permutation(10)
    np.testing.assert_array_equal(batches[2], np.concatenate([epoch0[8:], epoch1[:2]]))
    # Every example is seen once per epoch: the first 20 examples cover each index twice.
    assert np.bincount(np.concatenate(batches)).tolist() == [2] * 10


def test_batch_larger_than_training_set_spans_epochs():
    (x, y), = take(toy().train_batches(25, seed=2), 1)
    epochs = [np.random.default_rng([2, e]).permutation(10) for e in range(3)]
    np.testing.assert_array_equal(y, np.concatenate(epochs)[:25])
    assert sorted(np.bincount(y, minlength=10).tolist()) == [2] * 5 + [3] * 5


@pytest.mark.parametrize("batch_size,start_step", [(4, 0), (4, 3), (3, 7), (10, 5), (25, 4)])
def test_start_step_skip_equals_iterating(batch_size, start_step):
    walked = take(toy().train_batches(batch_size, seed=5), start_step + 3)[start_step:]
    skipped = take(toy().train_batches(batch_size, seed=5, start_step=start_step), 3)
    for (wx, wy), (sx, sy) in zip(walked, skipped):
        np.testing.assert_array_equal(wx, sx)
        np.testing.assert_array_equal(wy, sy)


def test_skip_ahead_does_not_walk_the_skipped_batches():
    # 10**12 steps would take hours to iterate; skipping is one divmod and one permutation.
    x, y = next(toy().train_batches(4, seed=0, start_step=10**12))
    assert y.shape == (4,)


def test_batches_are_copies():
    ds = toy()
    x, _ = next(ds.train_batches(4, seed=0))
    x[:] = -1
    assert ds.x_train.min() == 0


@pytest.mark.parametrize(
    "kwargs,key",
    [
        ({"batch_size": 0, "seed": 0}, "batch_size"),
        ({"batch_size": 2.0, "seed": 0}, "batch_size"),
        ({"batch_size": 2, "seed": -1}, "seed"),
        ({"batch_size": 2, "seed": 0, "start_step": -2}, "start_step"),
    ],
)
def test_bad_batch_arguments_raise_naming_the_argument(kwargs, key):
    with pytest.raises(ConfigError, match=rf"^{key}: expected an integer >= \d, got "):
        toy().train_batches(**kwargs)


def test_eval_arrays_whole_and_capped():
    ds = toy(num_eval=3)
    x, y = ds.eval_arrays()
    assert x[:, 0].tolist() == [100, 101, 102] and len(y) == 3
    x2, y2 = ds.eval_arrays(max_examples=2)
    assert x2[:, 0].tolist() == [100, 101] and len(y2) == 2
    assert len(ds.eval_arrays(max_examples=50)[0]) == 3
    with pytest.raises(ConfigError, match="max_examples"):
        ds.eval_arrays(max_examples=0)


def test_dataset_rejects_inconsistent_arrays():
    with pytest.raises(ValueError, match="y_train has 3"):
        Dataset("bad", "classification", np.zeros((4, 1)), np.zeros(3), np.zeros((1, 1)),
                np.zeros(1), 2, (1,))
    with pytest.raises(ValueError, match="expected input_shape"):
        Dataset("bad", "classification", np.zeros((4, 2)), np.zeros(4), np.zeros((1, 2)),
                np.zeros(1), 2, (1,))
    with pytest.raises(ValueError, match="task"):
        Dataset("bad", "regression", np.zeros((4, 1)), np.zeros(4), np.zeros((1, 1)),
                np.zeros(1), 2, (1,))


def test_stratified_split_holds_out_each_class_without_overlap():
    labels = np.repeat(np.arange(5), [10, 20, 30, 40, 50])
    train, held_out = stratified_split(labels, 0.2, seed=0)
    assert np.intersect1d(train, held_out).size == 0
    assert len(train) + len(held_out) == len(labels)
    assert np.bincount(labels[held_out]).tolist() == [2, 4, 6, 8, 10]
    again, _ = stratified_split(labels, 0.2, seed=0)
    other, _ = stratified_split(labels, 0.2, seed=1)
    np.testing.assert_array_equal(train, again)
    assert not np.array_equal(train, other)


def test_content_hash_sees_values_and_order():
    a, b = np.arange(4), np.arange(4)[::-1]
    assert content_hash(a) == content_hash(a.copy())
    assert content_hash(a) != content_hash(b)
    assert content_hash(a, b) != content_hash(b, a)
