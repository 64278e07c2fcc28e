"""The `Dataset` container every tfbsz data set returns, and how it is cut into batches.

A `Dataset` holds NumPy arrays for a training and a held-out split plus
metadata (where the data came from, how big it is, a content hash). Training
batches come from `train_batches`, an infinite, deterministic stream:

* epoch ``e`` visits the training set in the order
  ``np.random.default_rng([seed, e]).permutation(num_train)``;
* the epochs are laid end to end and cut into consecutive slices of exactly
  ``batch_size`` examples, so the ragged tail of one epoch is carried into the
  next batch (no partial batch, no example dropped for ever), and a batch larger
  than the training set simply spans several epochs;
* ``start_step=k`` starts at the batch that step ``k`` would have received,
  computing only the epoch order it lands in.

Example:

>>> import numpy as np
>>> from tfbsz.data.base import Dataset
>>> ds = Dataset(name="toy", task="classification",
...              x_train=np.arange(10, dtype="float32").reshape(10, 1),
...              y_train=np.arange(10, dtype="int32"),
...              x_eval=np.zeros((2, 1), "float32"), y_eval=np.zeros(2, "int32"),
...              num_classes=10, input_shape=(1,))
>>> batches = ds.train_batches(batch_size=4, seed=0)
>>> [len(next(batches)[1]) for _ in range(5)]        # 10 examples, batches of 4
[4, 4, 4, 4, 4]
>>> again = ds.train_batches(batch_size=4, seed=0)
>>> third = [next(again) for _ in range(3)][2]      # 2 from epoch 0, 2 from epoch 1
>>> skipped = next(ds.train_batches(batch_size=4, seed=0, start_step=2))
>>> bool((third[1] == skipped[1]).all())
True
"""

import dataclasses
import hashlib

import numpy as np

from tfbsz.core import checks

__all__ = [
    "Dataset",
    "TASKS",
    "check_fraction",
    "classification_dataset",
    "check_integer",
    "content_hash",
    "stratified_split",
]

TASKS = ("language_model", "classification")

# Seed of the hold-out split of the built-in image sets: fixed, so that studies
# with different seeds evaluate on the same examples.
SPLIT_SEED = 0


@dataclasses.dataclass(eq=False)
class Dataset:
    """A training split and a held-out split in NumPy arrays, with metadata.

    Attributes:
        name: the registered name, e.g. ``"stdlib_text"`` or ``"tfds:mnist"``.
        task: ``"language_model"`` or ``"classification"``.
        x_train, y_train: training inputs and targets. Language models: int32
            ``[N, seq_len]`` tokens and next tokens. Images: float32
            ``[N, H, W, C]`` in [0, 1] and int32 labels ``[N]``.
        x_eval, y_eval: the held-out split, same layout.
        num_classes: number of labels (vocabulary size for language models).
        input_shape: shape of one example, e.g. ``(64,)`` or ``(28, 28, 1)``.
        metadata: JSON-friendly facts: ``source``, ``train_examples``,
            ``eval_examples``, ``sha256`` (content hash) and per-set extras.
    """

    name: str
    task: str
    x_train: np.ndarray = dataclasses.field(repr=False)
    y_train: np.ndarray = dataclasses.field(repr=False)
    x_eval: np.ndarray = dataclasses.field(repr=False)
    y_eval: np.ndarray = dataclasses.field(repr=False)
    num_classes: int
    input_shape: tuple
    metadata: dict = dataclasses.field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"Dataset.task must be one of {TASKS}, got {self.task!r}")
        self.input_shape = tuple(int(d) for d in self.input_shape)
        for split in ("train", "eval"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if len(x) != len(y):
                raise ValueError(
                    f"Dataset {self.name!r}: x_{split} has {len(x)} examples but "
                    f"y_{split} has {len(y)}"
                )
            if tuple(x.shape[1:]) != self.input_shape:
                raise ValueError(
                    f"Dataset {self.name!r}: x_{split} examples have shape "
                    f"{tuple(x.shape[1:])}, expected input_shape {self.input_shape}"
                )
        if len(self.x_train) == 0:
            raise ValueError(f"Dataset {self.name!r}: the training split is empty")

    @property
    def num_train(self):
        """Number of training examples."""
        return len(self.x_train)

    @property
    def num_eval(self):
        """Number of held-out examples."""
        return len(self.x_eval)

    def train_batches(self, batch_size, seed, start_step=0):
        """An infinite iterator of ``(x, y)`` training batches of exactly `batch_size`.

        Args:
            batch_size: examples per batch, an integer >= 1 (may exceed `num_train`).
            seed: a non-negative integer; the same `(seed, batch_size)` gives the
                same batches, a different seed a different order.
            start_step: index of the first batch to yield (0 = from the start).
                Skipping costs one permutation, not `start_step` batches.

        Returns:
            A generator of ``(x, y)`` NumPy arrays (fresh copies, safe to modify).

        Raises:
            ConfigError: an argument that is not a non-negative integer
                (`batch_size` must be >= 1).
        """
        indices = self.train_indices(batch_size, seed, start_step)
        return ((self.x_train[index], self.y_train[index]) for index in indices)

    def train_indices(self, batch_size, seed, start_step=0):
        """The training-example indices of each batch of `train_batches`, as int64 arrays.

        Useful to gather batches elsewhere (e.g. `as_tf_dataset`, or one shard
        per device) while keeping exactly the same order.
        """
        batch_size = check_integer("batch_size", batch_size, minimum=1)
        seed = check_integer("seed", seed, minimum=0)
        start_step = check_integer("start_step", start_step, minimum=0)
        epoch, offset = divmod(start_step * batch_size, self.num_train)
        return self._indices(batch_size, seed, epoch, offset)

    def _indices(self, batch_size, seed, epoch, offset):
        n = self.num_train
        order = _epoch_order(n, seed, epoch)
        while True:
            pieces, needed = [], batch_size
            while needed:
                take = min(needed, n - offset)
                pieces.append(order[offset : offset + take])
                offset += take
                needed -= take
                if offset == n:
                    epoch, offset = epoch + 1, 0
                    order = _epoch_order(n, seed, epoch)
            yield pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def as_tf_dataset(self, batch_size, seed, start_step=0):
        """The batches of `train_batches` as an infinite, prefetching `tf.data.Dataset`.

        Imports TensorFlow (see `tfbsz.data.tf_pipeline`); the batches are identical.
        For strategies that need ``tf.data``; not faster than `train_batches`.
        """
        from tfbsz.data import tf_pipeline

        return tf_pipeline.as_tf_dataset(self, batch_size, seed, start_step)

    def eval_arrays(self, max_examples=None):
        """The held-out ``(x, y)``, or its first `max_examples` examples (views, not copies)."""
        if max_examples is None:
            return self.x_eval, self.y_eval
        max_examples = check_integer("max_examples", max_examples, minimum=1)
        return self.x_eval[:max_examples], self.y_eval[:max_examples]


def _epoch_order(num_examples, seed, epoch):
    return np.random.default_rng([seed, epoch]).permutation(num_examples)


def check_integer(key, value, minimum, allow_none=False):
    """`value` as an int if it is an integer >= `minimum` (or None when allowed).

    >>> check_integer("data.seq_len", 0, minimum=1)
    Traceback (most recent call last):
    ...
    tfbsz.core.errors.ConfigError: data.seq_len: expected an integer >= 1, got 0
    """
    return checks.integer(value, key, minimum=minimum, allow_none=allow_none)


def check_fraction(key, value):
    """`value` as a float if it lies strictly between 0 and 1.

    >>> check_fraction("data.eval_fraction", 1.5)
    Traceback (most recent call last):
    ...
    tfbsz.core.errors.ConfigError: data.eval_fraction: expected a number in (0, 1), got 1.5
    """
    return checks.number(value, key, 0, 1, low_open=True, high_open=True)


def content_hash(*arrays):
    """SHA-256 (hex) over the dtypes, shapes and bytes of `arrays`, in order.

    >>> import numpy as np
    >>> content_hash(np.zeros(3, "int32")) == content_hash(np.zeros(3, "int32"))
    True
    >>> content_hash(np.zeros(3, "int32")) == content_hash(np.zeros(3, "int64"))
    False
    """
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def stratified_split(labels, eval_fraction, seed=0):
    """Indices ``(train, eval)`` holding out `eval_fraction` of every class.

    Each class contributes ``round(eval_fraction * count)`` examples to the
    held-out split, chosen by ``np.random.default_rng([seed, label])``. Both
    index arrays are sorted, so the split depends only on the labels, the
    fraction and the seed.

    >>> import numpy as np
    >>> labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> train, held_out = stratified_split(labels, 0.25)
    >>> len(train), labels[held_out].tolist()
    (6, [0, 1])
    """
    labels = np.asarray(labels)
    held_out = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = int(round(eval_fraction * len(members)))
        rng = np.random.default_rng([seed, int(label)])
        held_out.append(rng.permutation(members)[:count])
    held_out = np.sort(np.concatenate(held_out)) if held_out else np.zeros(0, np.int64)
    train = np.setdiff1d(np.arange(len(labels)), held_out)
    return train, held_out


def classification_dataset(name, images, labels, eval_fraction, num_classes, source):
    """A classification `Dataset` holding out `eval_fraction` of each class.

    The split is `stratified_split` with the fixed `SPLIT_SEED`. Metadata records
    the source, split sizes and `content_hash` of the four arrays.
    """
    train, held_out = stratified_split(labels, eval_fraction, seed=SPLIT_SEED)
    x_train, y_train = images[train], labels[train]
    x_eval, y_eval = images[held_out], labels[held_out]
    return Dataset(
        name=name,
        task="classification",
        x_train=x_train,
        y_train=y_train,
        x_eval=x_eval,
        y_eval=y_eval,
        num_classes=num_classes,
        input_shape=images.shape[1:],
        metadata={
            "source": source,
            "train_examples": len(train),
            "eval_examples": len(held_out),
            "split_seed": SPLIT_SEED,
            "sha256": content_hash(x_train, y_train, x_eval, y_eval),
        },
    )
