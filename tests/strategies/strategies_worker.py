"""One training process for the multi-worker test: `python strategies_worker.py STRATEGY OUT.npz`.

STRATEGY is "multi_worker" (reads TF_CONFIG) or "one_device". Trains the shared MLP for
5 steps at global batch 32 with each optimizer of `optimizers()` (SGD, and tfbsz's LAMB
once it exists: tensorflow/addons#1896 saw LAMB fail under this strategy) and saves the
weights as `<optimizer>_<i>` arrays, plus `describe()`, to OUT.npz.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from strategies_training import build_mlp, toy_data, train  # noqa: E402

STEPS, GLOBAL_BATCH = 5, 32


def optimizers():
    """{name: factory} of the optimizers each worker trains with."""
    import keras

    factories = {"sgd": lambda: keras.optimizers.SGD(0.5)}
    try:
        from tfbsz.optimizers import LAMB
    except ImportError:
        return factories
    factories["lamb"] = lambda: LAMB(learning_rate=0.05)
    return factories


def worker_dataset(x, y, batch_size):
    """A tf.data pipeline of global batches; TensorFlow gives each worker its half of each."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options), None


def train_all(strategy=None):
    """{optimizer name: trained weights}, under `strategy` (a tfbsz Strategy) when given."""
    x, y = toy_data()
    if strategy is not None and strategy.name == "multi_worker":
        x, y = worker_dataset(x[: STEPS * GLOBAL_BATCH], y[: STEPS * GLOBAL_BATCH], GLOBAL_BATCH)
    results = {}
    for name, make in optimizers().items():
        if strategy is None:
            results[name] = train(build_mlp(), make(), x, y, GLOBAL_BATCH, STEPS)
        else:
            with strategy.scope():
                results[name] = train(build_mlp(), make(), x, y, GLOBAL_BATCH, STEPS)
    return results


def main(strategy_name, out_path):
    from tfbsz import strategies

    strategy = strategies.get({"name": strategy_name})  # first: before any other TF op
    arrays = {
        f"{name}_{i}": w for name, weights in train_all(strategy).items() for i, w in enumerate(weights)
    }
    np.savez(out_path, describe=strategy.describe(), replicas=strategy.num_replicas, **arrays)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
