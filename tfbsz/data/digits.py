"""`digits`: scikit-learn's 8x8 handwritten digits (1797 images, 10 classes).

``sklearn.datasets.load_digits()`` ships with scikit-learn, so it works
offline. Pixel values 0-16 become float32 ``[8, 8, 1]`` in [0, 1] (divided by
16); labels are int32 0-9. Hold-out: like `mnist5k`, a stratified split with a
fixed seed holds out `eval_fraction` (default 0.2) of every digit.

Example:

>>> from tfbsz.data import digits
>>> ds = digits.build({"eval_fraction": 0.2}, seed=0)
>>> ds.input_shape, ds.num_train + ds.num_eval, float(ds.x_train.max())
((8, 8, 1), 1797, 1.0)
"""

import numpy as np

from tfbsz.data.base import check_fraction, classification_dataset

__all__ = ["DEFAULTS", "build"]

NAME = "digits"
DEFAULTS = {"eval_fraction": 0.2}


def build(options, seed):
    """Builds the `digits` `Dataset`; `seed` is unused (the split is fixed)."""
    del seed
    eval_fraction = check_fraction("data.eval_fraction", options["eval_fraction"])
    from sklearn.datasets import load_digits  # imported here: about 1 s

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[..., np.newaxis]
    return classification_dataset(
        NAME,
        images,
        bunch.target.astype(np.int32),
        eval_fraction,
        num_classes=10,
        source="scikit-learn load_digits (UCI optical recognition of handwritten digits)",
    )
