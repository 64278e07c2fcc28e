"""TensorFlow Datasets by name: ``tfds:mnist``, ``tfds:fashion_mnist``, ``tfds:cifar10``,
``tfds:lm1b``, ``tfds:tiny_shakespeare``.

TensorFlow and tensorflow-datasets are imported only when one of these sets is
loaded. Every split is read whole into NumPy arrays (use `max_examples` to cap
big ones such as lm1b's 30 million training sentences).

* Image sets: float32 ``[H, W, C]`` in [0, 1], int32 labels.
* Text sets: the split's records joined with newlines and encoded byte by byte
  exactly like `stdlib_text` (non-overlapping windows of `seq_len` bytes,
  256 classes).

Offline use: with ``download: false`` (the default) the data must already be
prepared in ``data_dir`` (default: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``);
otherwise `DataUnavailableError` says where tfbsz looked and how to fix it
(``--set data.download=true``, or ``tfds build NAME --data_dir=DIR`` on a
machine with internet, then copy DIR over).

Options: ``download`` (false), ``data_dir`` (null), ``train_split`` ("train"),
``eval_split`` ("test"; "validation" for tiny_shakespeare), ``max_examples``
(null: every record of each split) and, for text sets, ``seq_len`` (64).

Example (with tfds's mock data, so no download):

>>> import tensorflow_datasets as tfds
>>> from tfbsz.data import tfds_source
>>> with tfds.testing.mock_data(num_examples=8, policy=tfds.testing.MockPolicy.USE_CODE):
...     ds = tfds_source.build("mnist", tfds_source.defaults("mnist"), seed=0)
>>> ds.name, ds.x_train.shape, ds.x_train.dtype.name
('tfds:mnist', (8, 28, 28, 1), 'float32')
"""

import hashlib

import numpy as np

from tfbsz.data.base import Dataset, check_integer, content_hash
from tfbsz.data.stdlib_text import language_model_dataset
from tfbsz.core.errors import ConfigError, DataUnavailableError

__all__ = ["PREFIX", "TFDS_SETS", "build", "defaults"]

PREFIX = "tfds:"

# TFDS name -> (kind, default held-out split).
TFDS_SETS = {
    "mnist": ("image", "test"),
    "fashion_mnist": ("image", "test"),
    "cifar10": ("image", "test"),
    "lm1b": ("text", "test"),
    "tiny_shakespeare": ("text", "validation"),
}

_READ_BATCH = 4096


def defaults(tfds_name):
    """The options of ``tfds:<tfds_name>`` and their default values."""
    kind, eval_split = TFDS_SETS[tfds_name]
    options = {
        "download": False,
        "data_dir": None,
        "train_split": "train",
        "eval_split": eval_split,
        "max_examples": None,
    }
    if kind == "text":
        options["seq_len"] = 64
    return options


def build(tfds_name, options, seed):
    """Loads ``tfds:<tfds_name>`` into a `Dataset`; `seed` is unused (splits are fixed).

    Raises:
        ConfigError: an option of the wrong type, or a split name TFDS does not know.
        DataUnavailableError: ``download`` is false and the data is not in ``data_dir``.
    """
    del seed
    _check_options(options)
    import tensorflow_datasets as tfds  # lazily: imports TensorFlow

    kind, _ = TFDS_SETS[tfds_name]
    builder = tfds.builder(tfds_name, data_dir=options["data_dir"])
    train = _read_split(tfds, builder, tfds_name, "train_split", options)
    held_out = _read_split(tfds, builder, tfds_name, "eval_split", options)
    metadata = {
        "source": f"TensorFlow Datasets {tfds_name} {builder.info.version}",
        "tfds_name": tfds_name,
        "tfds_version": str(builder.info.version),
        "data_dir": options["data_dir"],
        "train_split": options["train_split"],
        "eval_split": options["eval_split"],
    }
    if kind == "text":
        return _text_dataset(tfds_name, train, held_out, options, metadata)
    return _image_dataset(tfds_name, train, held_out, builder, metadata)


def _check_options(options):
    if not isinstance(options["download"], bool):
        raise ConfigError(f"data.download: expected true or false, got {options['download']!r}")
    if options["data_dir"] is not None and not isinstance(options["data_dir"], str):
        raise ConfigError(
            f"data.data_dir: expected a directory path or null, got {options['data_dir']!r}"
        )
    for key in ("train_split", "eval_split"):
        if not isinstance(options[key], str) or not options[key]:
            raise ConfigError(
                f"data.{key}: expected a TFDS split name such as 'train', got {options[key]!r}"
            )
    check_integer("data.max_examples", options["max_examples"], minimum=1, allow_none=True)
    if "seq_len" in options:
        check_integer("data.seq_len", options["seq_len"], minimum=1)


def _read_split(tfds, builder, tfds_name, key, options):
    """Every record of the split named by ``options[key]``, as a dict of NumPy arrays."""
    split = options[key]
    try:
        records = tfds.load(
            tfds_name,
            split=split,
            data_dir=options["data_dir"],
            download=options["download"],
            shuffle_files=False,
        )
    except AssertionError:  # tfds: "Dataset NAME: could not find data in DIR"
        if options["download"]:
            raise
        raise DataUnavailableError(_missing_message(tfds_name, builder, options)) from None
    except ValueError as error:
        if "split" not in str(error).lower():
            raise
        raise ConfigError(f"data.{key}: {str(error).splitlines()[0]}") from None
    if options["max_examples"] is not None:
        records = records.take(options["max_examples"])
    batches = list(tfds.as_numpy(records.batch(_READ_BATCH)))
    if not batches:
        raise DataUnavailableError(f"{PREFIX}{tfds_name}: split '{split}' (data.{key}) is empty")
    return {name: np.concatenate([b[name] for b in batches]) for name in batches[0]}


def _missing_message(tfds_name, builder, options):
    where = options["data_dir"] or "DIR"
    return (
        f"{PREFIX}{tfds_name}: data not found in {builder.data_dir} and data.download is false; "
        f"download it with --set data.download=true, or prepare it with "
        f"`tfds build {tfds_name} --data_dir={where}` (on a machine with internet) "
        f"and set data.data_dir to that directory"
    )


def _image_dataset(tfds_name, train, held_out, builder, metadata):
    x_train, y_train = _images(train["image"]), train["label"].astype(np.int32)
    x_eval, y_eval = _images(held_out["image"]), held_out["label"].astype(np.int32)
    metadata.update(
        train_examples=len(x_train),
        eval_examples=len(x_eval),
        sha256=content_hash(x_train, y_train, x_eval, y_eval),
    )
    return Dataset(
        name=PREFIX + tfds_name,
        task="classification",
        x_train=x_train,
        y_train=y_train,
        x_eval=x_eval,
        y_eval=y_eval,
        num_classes=int(builder.info.features["label"].num_classes),
        input_shape=x_train.shape[1:],
        metadata=metadata,
    )


def _images(pixels):
    if pixels.dtype != np.uint8:
        raise DataUnavailableError(f"expected uint8 images from TFDS, got {pixels.dtype}")
    return pixels.astype(np.float32) / 255.0


def _text_dataset(tfds_name, train, held_out, options, metadata):
    train_bytes = b"\n".join(_as_bytes(t) for t in train["text"])
    eval_bytes = b"\n".join(_as_bytes(t) for t in held_out["text"])
    digest = hashlib.sha256(train_bytes)
    digest.update(eval_bytes)
    metadata.update(bytes=len(train_bytes) + len(eval_bytes), sha256=digest.hexdigest())
    return language_model_dataset(
        PREFIX + tfds_name, train_bytes, eval_bytes, options["seq_len"], metadata
    )


def _as_bytes(text):
    return text if isinstance(text, bytes) else str(text).encode("utf-8")
