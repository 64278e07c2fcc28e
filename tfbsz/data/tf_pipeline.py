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

__all__ = ["as_tf_dataset"]


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
