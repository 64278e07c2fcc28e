"""One device on TensorFlow: a whole tfbsz trial under a `tf.device` scope (what `one_device` is)
against the same trial under `tf.distribute.OneDeviceStrategy` (what it was), side by side.

Each round runs one trial of `configs/smoke.yaml` (digits MLP, momentum, an evaluation every 10
steps, the target out of reach so every trial trains its whole budget) under each placement, in
alternating order; the first round of each is a warm-up and is not counted. Prints the median
wall time per trial, the ratio, and whether the two trials measured the same numbers.

    python bench/one_device_tf.py                  # TensorFlow backend, CPU
    python bench/one_device_tf.py --steps 300 --rounds 5

Under `OneDeviceStrategy` Keras wraps every `fit` and `evaluate` input in a distributed dataset
(a `MultiDeviceIterator` with its own prefetching thread per evaluation), which is also what
crashed studies now and then (docs/architecture.md, "One device on TensorFlow").
"""

import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfbsz import data, strategies  # noqa: E402
from tfbsz.core.config import load_config  # noqa: E402
from tfbsz.strategies.tf_wrapper import TFDistributeStrategy  # noqa: E402
from tfbsz.study.trainer import run_trial  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps per trial")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4, help="timed rounds (after one warm-up round)")
    args = parser.parse_args(argv)
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("one_device_tf.py: compares TensorFlow placements; run with KERAS_BACKEND=tensorflow")

    cfg = load_config("configs/smoke.yaml", ["target.threshold=0.0", f"budget.max_steps={args.steps}"])
    dataset = data.load(cfg.data, seed=cfg.seed)
    placements = {
        "device_scope": strategies.get({"name": "one_device", "device": "/cpu:0"}),
        "OneDeviceStrategy": TFDistributeStrategy("one_device", tf.distribute.OneDeviceStrategy("/cpu:0")),
    }
    times = {name: [] for name in placements}
    measured = {}
    for round_index in range(args.rounds + 1):
        order = list(placements) if round_index % 2 == 0 else list(reversed(placements))
        for name in order:
            started = time.perf_counter()
            result = run_trial(cfg, {"optimizer.learning_rate": 0.1}, args.batch_size, seed=0, dataset=dataset,
                               strategy=placements[name])
            elapsed = time.perf_counter() - started
            if round_index:
                times[name].append(elapsed)
            measured[name] = [{k: v for k, v in row.items() if "time" not in k and "per_s" not in k}
                              for row in result.measurements]

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}, "
          f"Keras {keras.__version__}; {args.steps} steps at batch {args.batch_size}, evaluation every "
          f"{cfg.eval_every} steps, {args.rounds} timed rounds")
    for name, values in times.items():
        print(f"{name:18s} {statistics.median(values):7.2f} s per trial  (min {min(values):.2f}, "
              f"max {max(values):.2f})")
    ratio = statistics.median(times["OneDeviceStrategy"]) / statistics.median(times["device_scope"])
    print(f"OneDeviceStrategy / device scope: {ratio:.2f}x")
    same = measured["device_scope"] == measured["OneDeviceStrategy"]
    print(f"same measurements: {same} ({len(measured['device_scope'])} rows)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
