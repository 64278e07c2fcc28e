"""Run under KERAS_BACKEND=jax with two host devices; prints one JSON line of results.

TensorFlow is made unimportable first, as on the GPU machines, which have JAX but no
TensorFlow: `tfbsz.strategies` must still build `auto`, `one_device` and `data_parallel`.
"""

import json
import os
import sys

sys.modules["tensorflow"] = None  # any `import tensorflow` now raises ImportError
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from strategies_training import build_mlp, initial_weights, max_abs_difference, toy_data, train  # noqa: E402


def main():
    import keras

    from tfbsz import strategies

    x, y = toy_data()
    report = {"backend": keras.backend.backend()}
    trained = {}
    for cfg in ({"name": "one_device"}, {"name": "data_parallel"}):
        strategy = strategies.get(cfg)
        report[f"{strategy.name}_describe"] = strategy.describe()
        with strategy.scope():
            model = build_mlp()
            trained[strategy.name] = train(model, keras.optimizers.SGD(0.5), x, y, 32, steps=5)
        report[f"{strategy.name}_kernel_sharding"] = str(model.weights[0].value.sharding)
    strategy = strategies.get({"name": "data_parallel"})
    with strategy.scope():  # 2 replicas x 2 accumulated micro-batches of 16 = one batch of 64
        big = train(build_mlp(), keras.optimizers.SGD(0.2, momentum=0.9), x, y, 64, steps=3)
        optimizer = keras.optimizers.SGD(0.2, momentum=0.9, gradient_accumulation_steps=2)
        accumulated = train(build_mlp(), optimizer, x, y, 32, steps=6)
    report["accumulation_difference"] = max_abs_difference(big, accumulated)
    report["difference"] = max_abs_difference(trained["one_device"], trained["data_parallel"])
    report["moved"] = max_abs_difference(trained["one_device"], initial_weights())
    report["auto_describe"] = strategies.get({"name": "auto"}).describe()
    report["distribution_after_scope"] = repr(keras.distribution.distribution())
    print(json.dumps(report))


if __name__ == "__main__":
    main()
