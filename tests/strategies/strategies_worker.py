"""One training process for the multi-worker test: `python strategies_worker.py STRATEGY OUT.npz`.

STRATEGY is "multi_worker" (reads TF_CONFIG) or "one_device". Trains the shared MLP for
5 SGD steps at global batch 32 and saves the weights and `describe()` to OUT.npz.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from strategies_training import build_mlp, toy_data, train  # noqa: E402


def worker_dataset(x, y, batch_size):
    """A tf.data pipeline of global batches; TensorFlow gives each worker its half of each."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options), None


def main(strategy_name, out_path):
    import keras

    from tfbsz import strategies

    strategy = strategies.get({"name": strategy_name})  # first: before any other TF op
    x, y = toy_data()
    if strategy_name == "multi_worker":
        x, y = worker_dataset(x[:160], y[:160], batch_size=32)
    with strategy.scope():
        weights = train(build_mlp(), keras.optimizers.SGD(0.5), x, y, batch_size=32, steps=5)
    np.savez(out_path, *weights, describe=strategy.describe(), replicas=strategy.num_replicas)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
