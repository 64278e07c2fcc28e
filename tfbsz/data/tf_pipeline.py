"""A `tf.data` view of `Dataset.train_batches`: same batches, gathered by TensorFlow.

`as_tf_dataset(dataset, batch_size, seed)` streams the index arrays of
`Dataset.train_indices` into ``tf.data``, gathers the examples with
``tf.gather`` from tensors held once in memory, and prefetches. Batches are
element-for-element the ones `train_batches` yields
(`tests/data/test_data_tf_pipeline.py` checks it). TensorFlow only.

Use it where TensorFlow wants a ``tf.data.Dataset`` (e.g.
``MirroredStrategy.experimental_distribute_dataset``). It is not a speed-up on
its own: on 2 CPU cores, 200 batches of 1024 mnist5k images took 0.15 s from
`train_batches` and 0.78 s through this pipeline, tf.data start-up included.

Example:

>>> import numpy as np
>>> from tfbsz.data.base import Dataset
>>> from tfbsz.data.tf_pipeline import as_tf_dataset
>>> ds = Dataset("toy", "classification", np.arange(10, dtype="float32")[:, None],
...              np.arange(10, dtype="int32"), np.zeros((1, 1), "float32"),
...              np.zeros(1, "int32"), 10, (1,))
>>> x, y = next(iter(as_tf_dataset(ds, batch_size=4, seed=0)))
>>> bool((y.numpy() == next(ds.train_batches(4, seed=0))[1]).all())
True
"""

__all__ = ["MAX_PLANNED_INDICES", "as_tf_dataset", "planned_tf_dataset"]


def as_tf_dataset(dataset, batch_size, seed, start_step=0):
    """An infinite ``tf.data.Dataset`` of ``(x, y)`` batches equal to `dataset.train_batches`.

    Args:
        dataset: a `tfbsz.data.Dataset`.
        batch_size, seed, start_step: as in `Dataset.train_batches`.

    Returns:
        A ``tf.data.Dataset`` with static batch shape ``[batch_size, ...]``.

    Raises:
        ConfigError: bad `batch_size`, `seed` or `start_step` (checked before
            any TensorFlow work).
    """
    dataset.train_indices(batch_size, seed, start_step)  # validates the arguments now
    import tensorflow as tf

    x_train = tf.constant(dataset.x_train)
    y_train = tf.constant(dataset.y_train)

    def indices():
        yield from dataset.train_indices(batch_size, seed, start_step)

    index_batches = tf.data.Dataset.from_generator(
        indices, output_signature=tf.TensorSpec(shape=(batch_size,), dtype=tf.int64)
    )
    batches = index_batches.map(
        lambda index: (tf.gather(x_train, index), tf.gather(y_train, index)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return batches.prefetch(tf.data.AUTOTUNE)


# Above this many planned example indices (4 bytes each), `planned_tf_dataset` is not used and the
# trainer falls back to the NumPy stream (see `tfbsz.study.trainer`).
MAX_PLANNED_INDICES = 2**26


def planned_tf_dataset(dataset, batch_size, seed, num_steps, mixup_alpha=0.0, mixup_seed=None):
    """The first `num_steps` batches of `train_batches` as a `tf.data.Dataset` with no Python in it.

    The batch plan (example indices, and for mixup the per-batch lambda and permutation drawn
    exactly as `tfbsz.training.regularizers.mixup_batches` draws them) is computed in NumPy up front and
    handed to TensorFlow as tensors, so no TensorFlow thread ever calls back into Python. Feeding
    `fit` from a Python generator instead (`tf.data.Dataset.from_generator`) crashed the process
    now and then (a segfault in a `tf_Compute` thread when a trial stopped early and its
    prefetching iterator was torn down; most likely the `MultiDeviceIterator` race that
    `tfbsz.strategies.one_device` now avoids); this pipeline has no such callback either way.

    Args:
        dataset: a `tfbsz.data.Dataset`.
        batch_size, seed: as in `Dataset.train_batches`.
        num_steps: how many batches.
        mixup_alpha: > 0 mixes every batch with a permutation of itself (soft targets).
        mixup_seed: the seed of the mixup draws (as given to `mixup_batches`).

    Returns:
        A `tf.data.Dataset` of `num_steps` batches `(x, y)`; with mixup, `y` is `[batch, K]`.
    """
    import numpy as np
    import tensorflow as tf

    indices = dataset.train_indices(batch_size, seed)
    plan = np.empty((num_steps, batch_size), dtype=np.int32)
    for step in range(num_steps):
        plan[step] = next(indices)
    x_train = tf.constant(dataset.x_train)
    y_train = tf.constant(dataset.y_train)
    if not mixup_alpha or mixup_alpha <= 0:
        slices = tf.data.Dataset.from_tensor_slices(plan)
        batches = slices.map(lambda i: (tf.gather(x_train, i), tf.gather(y_train, i)))
        return batches.prefetch(2)
    from tfbsz.training.regularizers import mixup_rng

    rng = mixup_rng(mixup_seed)
    lams = np.empty(num_steps, dtype=np.float32)
    perms = np.empty((num_steps, batch_size), dtype=np.int32)
    for step in range(num_steps):
        lams[step] = rng.beta(mixup_alpha, mixup_alpha)
        perms[step] = rng.permutation(batch_size)
    num_classes = int(dataset.num_classes)

    def mix(i, lam, perm):
        x = tf.cast(tf.gather(x_train, i), tf.float32)
        y = tf.one_hot(tf.gather(y_train, i), num_classes, dtype=tf.float32)
        return lam * x + (1.0 - lam) * tf.gather(x, perm), lam * y + (1.0 - lam) * tf.gather(y, perm)

    return tf.data.Dataset.from_tensor_slices((plan, lams, perms)).map(mix).prefetch(2)
