"""Training-loop overhead: tfbsz's trial loop against a plain Keras `fit`, side by side.

Both train the same compiled model (the default study's Transformer, or `--model mlp` on
digits) on the same data at the same batch size. Plain Keras: `model.fit(x, y, batch_size=B,
shuffle=False)` on NumPy arrays. tfbsz: what `tfbsz.study.trainer.run_trial` feeds `fit` (its
deterministic exact-size batches: a planned tf.data pipeline on TensorFlow) plus the `StepsToTarget` callback (counting updates and
tracking the training loss; its evaluations are excluded here by a cadence longer than the run).
Each round times `--steps` training steps per variant after a warm-up `fit` (tracing excluded);
the variants alternate over `--repeats` rounds and the median is reported.

    python bench/trainer_overhead.py                  # TensorFlow backend, CPU
    KERAS_BACKEND=jax python bench/trainer_overhead.py

Prints steps/s of each and the ratio tfbsz / plain (1.00 = no overhead).
"""

import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tfbsz import data, models  # noqa: E402
from tfbsz import trainer  # noqa: E402
from tfbsz.study.callbacks import StepsToTarget  # noqa: E402
from tfbsz.core.config import from_dict  # noqa: E402


def build(model_cfg, dataset):
    keras.utils.set_random_seed(0)
    model = models.build(model_cfg, dataset)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalCrossentropy(name="cross_entropy", from_logits=True),
                           keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model


def time_plain(model, dataset, batch, steps):
    x, y = dataset.x_train[: batch * steps], dataset.y_train[: batch * steps]
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    return steps / (time.perf_counter() - start)


def time_tfbsz(model, dataset, batch, steps):
    x_eval, y_eval = dataset.eval_arrays(256)
    stt = StepsToTarget((x_eval, y_eval), "val/cross_entropy_error", -1.0, eval_every=10 * steps,
                        batch_size=batch)
    stt.on_train_end = lambda logs=None: None  # time the loop, not the closing evaluation
    start = time.perf_counter()
    cfg = from_dict({"data": {"name": "digits"}, "model": {"name": "mlp"}, "batch_sizes": [batch],
                     "target": {"metric": "val/cross_entropy_error", "threshold": 0.0},
                     "budget": {"max_steps": steps}})
    plan = trainer.plan_trial(cfg, batch, len(dataset.x_train))
    model.fit(trainer.train_input(dataset, plan, 0, cfg), steps_per_epoch=steps, epochs=1, callbacks=[stt],
              shuffle=False, verbose=0)
    return steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("transformer", "mlp"), default="transformer")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.model == "transformer":
        dataset = data.load({"name": "stdlib_text", "seq_len": 32}, seed=0)
        model_cfg = {"name": "transformer", "num_layers": 2, "d_model": 64, "num_heads": 4, "mlp_dim": 256}
    else:
        dataset = data.load({"name": "digits"}, seed=0)
        model_cfg = {"name": "mlp", "hidden_units": [128, 128]}
    variants = {"plain keras fit": time_plain, "tfbsz trial loop": time_tfbsz}
    compiled = {name: build(model_cfg, dataset) for name in variants}
    for name, fn in variants.items():  # warm-up: tracing and first-call costs
        fn(compiled[name], dataset, args.batch_size, 5)
    rates = {name: [] for name in variants}
    order = list(variants)
    for round_index in range(args.repeats):
        for name in order[round_index % 2:] + order[: round_index % 2]:
            rates[name].append(variants[name](compiled[name], dataset, args.batch_size, args.steps))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Keras {keras.__version__} on {keras.backend.backend()}")
    print(f"model {args.model}, batch {args.batch_size}, {args.steps} steps x {args.repeats} rounds (median)")
    medians = {name: statistics.median(values) for name, values in rates.items()}
    for name, value in medians.items():
        print(f"  {name:18s} {value:8.1f} steps/s   (spread {min(rates[name]):.1f}-{max(rates[name]):.1f})")
    print(f"ratio tfbsz / plain: {medians['tfbsz trial loop'] / medians['plain keras fit']:.3f}")


if __name__ == "__main__":
    main()
