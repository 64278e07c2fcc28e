"""Label smoothing and mixup: regularisers for large-batch training.

Label smoothing (Szegedy et al. 2016) trains against the target distribution

    q = (1 - eps) * onehot(y) + eps / K          (K classes, or vocabulary size)

instead of `onehot(y)`, so the cross-entropy is

    CE(q, softmax(z)) = (1 - eps) * (-log p_y) + eps * mean_k(-log p_k).

Shallue et al. tune `label_smoothing` in {0, 0.01, 0.1} for ImageNet.
`smoothed_cross_entropy` implements it for integer targets: class ids
`[batch]` for classification, next tokens `[batch, seq_len]` for language
models.

Mixup (Zhang et al. 2018) trains on convex combinations of pairs of examples.
`mixup_batch` draws one `lam ~ Beta(alpha, alpha)` per batch and a random
pairing, in NumPy, so it runs in the data stream on every backend:

    x_mixed = lam * x + (1 - lam) * x[perm]
    y_mixed = lam * onehot(y) + (1 - lam) * onehot(y[perm])

The soft targets need `soft_target_cross_entropy`, which can smooth them again:
`q = (1 - eps) * y_mixed + eps / K`.

Example:

>>> import numpy as np
>>> loss = smoothed_cross_entropy(0.1)
>>> round(float(loss(np.array([0]), np.array([[2.0, 0.0, 0.0]]))), 4)
0.3729
>>> x, y = mixup_batch(np.ones((4, 2)), np.array([0, 1, 2, 0]), alpha=0.2,
...                    num_classes=3, rng=np.random.default_rng(0))
>>> y.shape, np.allclose(y.sum(axis=1), 1.0)
((4, 3), True)
"""

import numpy as np
import keras
from keras import ops

from tfbsz.core.errors import ConfigError

__all__ = [
    "SmoothedCrossEntropy",
    "SoftTargetCrossEntropy",
    "smoothed_cross_entropy",
    "soft_target_cross_entropy",
    "mixup_batch",
    "mixup_batches",
    "mixup_draw",
    "mixup_rng",
    "mix_pair",
    "smoothed_nll",
]


def _check_label_smoothing(label_smoothing):
    if (
        isinstance(label_smoothing, bool)
        or not isinstance(label_smoothing, (int, float))
        or not 0 <= label_smoothing < 1
    ):
        raise ConfigError(
            f"label_smoothing: expected a number in [0, 1), got {label_smoothing!r}"
        )
    return float(label_smoothing)


def _is_traced(value):
    """True for a tensor (e.g. a per-trial value traced by `jax.vmap`), False for a Python number."""
    return not isinstance(value, (int, float))


def smoothed_nll(y_true, logits, label_smoothing):
    """Per-example (per-token) cross-entropy of integer targets against smoothed one-hot targets.

    ``(1 - eps) * (-log p[y]) + eps * mean_k(-log p[k])`` with ``p = softmax(logits)`` in
    float32. `label_smoothing` may be a Python number (0 gives the plain negative
    log-likelihood, with no smoothing term computed) or a scalar tensor, e.g. one trial's value
    inside a vectorised cohort of trials; for a finite loss both give the same numbers.

    >>> import numpy as np
    >>> round(float(smoothed_nll(np.array([0]), np.array([[2.0, 0.0, 0.0]]), 0.1)[0]), 4)
    0.3729
    """
    log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    labels = ops.expand_dims(ops.cast(y_true, "int32"), -1)
    nll = -ops.squeeze(ops.take_along_axis(log_probs, labels, axis=-1), -1)
    if not _is_traced(label_smoothing) and label_smoothing == 0.0:
        return nll
    uniform = -ops.mean(log_probs, axis=-1)
    return (1.0 - label_smoothing) * nll + label_smoothing * uniform


@keras.saving.register_keras_serializable(package="tfbsz")
class SmoothedCrossEntropy(keras.losses.Loss):
    """Cross-entropy of integer targets and logits, with label smoothing.

    Per example (or per token), with `K = logits.shape[-1]` and `p =
    softmax(logits)`:

        loss = (1 - eps) * (-log p[y]) + eps * mean_k(-log p[k])

    which is the cross-entropy against `(1 - eps) * onehot(y) + eps / K`.
    With `eps = 0` it equals `SparseCategoricalCrossentropy(from_logits=True)`.
    Logits are cast to float32 first, so mixed-precision models lose nothing.

    Args:
        label_smoothing: `eps` in [0, 1).
        reduction, name: as for any `keras.losses.Loss`.
    """

    def __init__(
        self, label_smoothing=0.0, reduction="sum_over_batch_size", name="smoothed_cross_entropy"
    ):
        super().__init__(reduction=reduction, name=name)
        self.label_smoothing = _check_label_smoothing(label_smoothing)

    def call(self, y_true, y_pred):
        return smoothed_nll(y_true, y_pred, self.label_smoothing)

    def get_config(self):
        config = super().get_config()
        config["label_smoothing"] = self.label_smoothing
        return config


@keras.saving.register_keras_serializable(package="tfbsz")
class SoftTargetCrossEntropy(keras.losses.Loss):
    """Cross-entropy of soft targets (e.g. from `mixup_batch`) and logits.

    Per example, with `K = logits.shape[-1]` and targets `t` (rows summing to 1):

        loss = -sum_k q[k] * log softmax(logits)[k],   q = (1 - eps) * t + eps / K

    Args:
        label_smoothing: `eps` in [0, 1), applied on top of the soft targets.
        reduction, name: as for any `keras.losses.Loss`.
    """

    def __init__(
        self, label_smoothing=0.0, reduction="sum_over_batch_size", name="soft_target_cross_entropy"
    ):
        super().__init__(reduction=reduction, name=name)
        self.label_smoothing = _check_label_smoothing(label_smoothing)

    def call(self, y_true, y_pred):
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        targets = ops.cast(y_true, "float32")
        eps = self.label_smoothing
        if _is_traced(eps) or eps:
            num_classes = ops.cast(ops.shape(log_probs)[-1], "float32")
            targets = (1.0 - eps) * targets + eps / num_classes
        return -ops.sum(targets * log_probs, axis=-1)

    def get_config(self):
        config = super().get_config()
        config["label_smoothing"] = self.label_smoothing
        return config


def smoothed_cross_entropy(label_smoothing=0.0):
    """A Keras loss for integer targets and logits with label smoothing `eps`.

    Targets: `(1 - eps) * onehot(y) + eps / K`. See `SmoothedCrossEntropy`.

    >>> import numpy as np
    >>> plain = smoothed_cross_entropy(0.0)
    >>> round(float(plain(np.array([1]), np.array([[0.0, 0.0]]))), 4)  # log 2
    0.6931
    """
    return SmoothedCrossEntropy(label_smoothing)


def soft_target_cross_entropy(label_smoothing=0.0):
    """A Keras loss for soft targets (rows of probabilities) and logits.

    Targets: `(1 - eps) * y_soft + eps / K`. See `SoftTargetCrossEntropy`.

    >>> import numpy as np
    >>> loss = soft_target_cross_entropy()
    >>> round(float(loss(np.array([[0.5, 0.5]]), np.array([[0.0, 0.0]]))), 4)
    0.6931
    """
    return SoftTargetCrossEntropy(label_smoothing)


def mixup_batch(x, y, alpha, num_classes, rng):
    """Mixes a batch with a shuffled copy of itself (mixup, Zhang et al. 2018).

    Draws, in this order from `rng`: `lam = rng.beta(alpha, alpha)` (one
    value for the batch), then `perm = rng.permutation(len(x))`. Returns

        x_mixed = lam * x + (1 - lam) * x[perm]                      (float32)
        y_mixed = lam * onehot(y) + (1 - lam) * onehot(y[perm])      (float32, [batch, K])

    so every target row is a convex combination of two one-hot rows and sums
    to 1. Train with `soft_target_cross_entropy`.

    Args:
        x: inputs, `[batch, ...]` floats (e.g. images in [0, 1]).
        y: integer class ids, `[batch]`, in `[0, num_classes)`.
        alpha: Beta concentration, > 0 (0.2 is common on ImageNet, 1.0 on CIFAR).
        num_classes: K.
        rng: a `numpy.random.Generator`.

    Returns:
        `(x_mixed, y_mixed)`.

    Raises:
        ConfigError: `alpha` not > 0, `num_classes` < 2, labels out of range,
            or `x` and `y` of different lengths.

    >>> import numpy as np
    >>> x, y = mixup_batch(np.array([[0.0], [1.0]]), np.array([0, 1]), alpha=1.0,
    ...                    num_classes=2, rng=np.random.default_rng(1))
    >>> np.allclose(x[:, 0], y[:, 1])   # the mixed input equals the weight of class 1
    True
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ConfigError(f"mixup.alpha: expected a number > 0, got {alpha!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError(f"mixup.num_classes: expected an integer >= 2, got {num_classes!r}")
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if y.ndim != 1 or len(x) != len(y):
        raise ConfigError(
            f"mixup: expected x of shape [batch, ...] and integer labels of shape [batch], "
            f"got x {x.shape} and y {y.shape}"
        )
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ConfigError(
            f"mixup: labels must lie in [0, {num_classes}), got values from {y.min()} to {y.max()}"
        )
    lam, perm = mixup_draw(rng, alpha, len(x))
    return mix_pair(x, np.eye(num_classes, dtype=np.float32)[y], lam, perm)


def mixup_draw(rng, alpha, batch_size):
    """One batch's mixup draws from `rng`, in `mixup_batch`'s order: ``lam`` (float32), ``perm``.

    >>> import numpy as np
    >>> lam, perm = mixup_draw(np.random.default_rng(0), 0.4, 4)
    >>> bool(0.0 <= lam <= 1.0), sorted(perm.tolist())
    (True, [0, 1, 2, 3])
    """
    lam = np.float32(rng.beta(alpha, alpha))
    return lam, rng.permutation(batch_size)


def mix_pair(x, onehot, lam, perm):
    """``(lam * x + (1 - lam) * x[perm], lam * onehot + (1 - lam) * onehot[perm])``.

    Plain arithmetic and indexing, so the same code mixes NumPy batches (`mixup_batch`) and
    arrays inside a compiled program (a JAX cohort of trials, which draws with `mixup_draw`).

    >>> import numpy as np
    >>> x, y = mix_pair(np.array([[0.0], [1.0]], "float32"), np.eye(2, dtype="float32"),
    ...                 np.float32(0.25), np.array([1, 0]))
    >>> x[:, 0].tolist(), y[0].tolist()
    ([0.75, 0.25], [0.25, 0.75])
    """
    return lam * x + (1 - lam) * x[perm], lam * onehot + (1 - lam) * onehot[perm]


def mixup_rng(seed):
    """The random generator of `mixup_batches` for `seed` (its own stream: 0x6D6978 is "mix")."""
    return np.random.default_rng([seed, 0x6D6978])


def mixup_batches(batches, alpha, num_classes, seed):
    """Applies `mixup_batch` to every `(x, y)` of an iterator, deterministically in `seed`.

    Use it on `Dataset.train_batches(...)`; the stream yields `(x_mixed, y_mixed)`.

    >>> import numpy as np
    >>> stream = mixup_batches(iter([(np.zeros((2, 3)), np.array([0, 1]))]), 0.4, 2, seed=0)
    >>> next(stream)[1].shape
    (2, 2)
    """
    rng = mixup_rng(seed)
    for x, y in batches:
        yield mixup_batch(x, y, alpha, num_classes, rng)
