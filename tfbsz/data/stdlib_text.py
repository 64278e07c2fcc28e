"""`stdlib_text`: a byte-level language-modelling corpus from Python's own source files.

The corpus is a fixed list of 40 modules of the standard library of the
running interpreter (`STDLIB_FILES`, about 2.3 MB), read as raw bytes and
concatenated in list order. Every file in the list exists in CPython 3.10 to
3.13, but the text of each file changes a little between Python versions, so
two machines can train on slightly different corpora: `metadata["sha256"]`
(the hash of the bytes read) and `metadata["python_version"]` record exactly
which text a study used.

Hold-out: the last `eval_fraction` of every file's bytes forms the held-out
stream; the first part of every file forms the training stream, so the two
never share a byte. Each stream is cut into non-overlapping windows of
`seq_len` bytes: ``x = stream[i : i + L]``, ``y = stream[i + 1 : i + L + 1]``.
Tokens are byte values, so ``num_classes == 256``.

Options (the ``data:`` section): ``seq_len`` (64), ``max_bytes`` (null: no cap;
otherwise files are read in order until this many bytes), ``eval_fraction``
(0.1), ``files`` (null: `STDLIB_FILES`; otherwise a list of paths, relative to
the standard-library directory or absolute, to train on other text).

Example:

>>> from tfbsz.data import stdlib_text
>>> ds = stdlib_text.build({"seq_len": 32, "max_bytes": 20000, "eval_fraction": 0.1,
...                         "files": None}, seed=0)
>>> ds.x_train.shape[1], ds.num_classes, ds.x_train.dtype.name
(32, 256, 'int32')
>>> bool((ds.x_train[0, 1:] == ds.y_train[0, :-1]).all())   # y is x shifted by one byte
True
"""

import hashlib
import os
import platform
import sysconfig

import numpy as np

from tfbsz.data.base import Dataset, check_fraction, check_integer
from tfbsz.core.errors import ConfigError, DataUnavailableError

__all__ = [
    "DEFAULTS",
    "STDLIB_FILES",
    "build",
    "byte_windows",
    "language_model_dataset",
    "stdlib_dir",
]

NAME = "stdlib_text"
VOCABULARY_SIZE = 256

DEFAULTS = {"seq_len": 64, "max_bytes": None, "eval_fraction": 0.1, "files": None}

# Modules that are plain files (not packages) in every CPython from 3.10 to 3.13,
# 12-125 kB each. Modules that became packages (re, pathlib, zipfile, sysconfig)
# or were removed (asyncore, imp, cgi, ...) are deliberately absent.
STDLIB_FILES = (
    "argparse.py",
    "ast.py",
    "asyncio/base_events.py",
    "calendar.py",
    "collections/__init__.py",
    "concurrent/futures/process.py",
    "configparser.py",
    "contextlib.py",
    "dataclasses.py",
    "difflib.py",
    "doctest.py",
    "email/_header_value_parser.py",
    "enum.py",
    "fractions.py",
    "functools.py",
    "gettext.py",
    "heapq.py",
    "http/client.py",
    "inspect.py",
    "ipaddress.py",
    "json/decoder.py",
    "logging/__init__.py",
    "mailbox.py",
    "optparse.py",
    "pickle.py",
    "pprint.py",
    "random.py",
    "shlex.py",
    "shutil.py",
    "smtplib.py",
    "statistics.py",
    "subprocess.py",
    "tarfile.py",
    "textwrap.py",
    "threading.py",
    "tokenize.py",
    "typing.py",
    "unittest/mock.py",
    "urllib/parse.py",
    "xml/etree/ElementTree.py",
)


def stdlib_dir():
    """The running interpreter's standard-library directory."""
    return sysconfig.get_paths()["stdlib"]


def build(options, seed):
    """Builds the `stdlib_text` `Dataset` from validated-name `options`.

    Args:
        options: dict with every key of `DEFAULTS`.
        seed: unused: the split is fixed, so every seed evaluates on the same text.

    Raises:
        ConfigError: an option out of range, or a corpus too small for `seq_len`.
        DataUnavailableError: a file of the list is missing from this Python.
    """
    del seed
    seq_len = check_integer("data.seq_len", options["seq_len"], minimum=1)
    max_bytes = check_integer("data.max_bytes", options["max_bytes"], minimum=2, allow_none=True)
    eval_fraction = check_fraction("data.eval_fraction", options["eval_fraction"])
    files = _check_files(options["files"])

    chunks = _read_files(files, max_bytes)
    train_parts, eval_parts = [], []
    for data in chunks.values():
        head = len(data) - int(round(eval_fraction * len(data)))
        train_parts.append(data[:head])
        eval_parts.append(data[head:])
    corpus = b"".join(chunks.values())
    metadata = {
        "source": f"Python {platform.python_version()} standard library, {len(chunks)} files",
        "python_version": platform.python_version(),
        "stdlib_dir": stdlib_dir(),
        "files": list(chunks),
        "bytes": len(corpus),
        "sha256": hashlib.sha256(corpus).hexdigest(),
    }
    return language_model_dataset(
        NAME, b"".join(train_parts), b"".join(eval_parts), seq_len, metadata
    )


def language_model_dataset(name, train_bytes, eval_bytes, seq_len, metadata):
    """A byte-level language-modelling `Dataset` from two byte streams.

    Raises:
        ConfigError: either stream holds no complete window of `seq_len` + 1 bytes.
    """
    x_train, y_train = byte_windows(train_bytes, seq_len)
    x_eval, y_eval = byte_windows(eval_bytes, seq_len)
    for split, x, stream in (("training", x_train, train_bytes), ("held-out", x_eval, eval_bytes)):
        if len(x) == 0:
            raise ConfigError(
                f"data.seq_len: the {split} text of {name} has {len(stream)} bytes, too few for "
                f"one window of seq_len={seq_len} (+1); lower data.seq_len or read more text"
            )
    metadata = dict(metadata, train_examples=len(x_train), eval_examples=len(x_eval))
    return Dataset(
        name=name,
        task="language_model",
        x_train=x_train,
        y_train=y_train,
        x_eval=x_eval,
        y_eval=y_eval,
        num_classes=VOCABULARY_SIZE,
        input_shape=(seq_len,),
        metadata=metadata,
    )


def byte_windows(data, seq_len):
    """Non-overlapping windows ``(x, y)`` of `data`'s bytes, int32 ``[n, seq_len]``.

    ``n = (len(data) - 1) // seq_len``; ``y`` is ``x`` shifted by one byte.

    >>> x, y = byte_windows(b"abcdefg", 3)
    >>> x.tolist(), y.tolist()
    ([[97, 98, 99], [100, 101, 102]], [[98, 99, 100], [101, 102, 103]])
    """
    tokens = np.frombuffer(data, dtype=np.uint8)
    count = max(len(tokens) - 1, 0) // seq_len
    x = tokens[: count * seq_len].reshape(count, seq_len).astype(np.int32)
    y = tokens[1 : count * seq_len + 1].reshape(count, seq_len).astype(np.int32)
    return x, y


def _check_files(files):
    if files is None:
        return list(STDLIB_FILES)
    if (
        isinstance(files, (str, bytes))
        or not isinstance(files, (list, tuple))
        or not files
        or not all(isinstance(f, str) and f for f in files)
    ):
        raise ConfigError(
            f"data.files: expected a non-empty list of file paths or null, got {files!r}"
        )
    repeated = sorted({f for f in files if files.count(f) > 1})
    if repeated:
        raise ConfigError(f"data.files: expected each file once, got repeats of {repeated}")
    return list(files)


def _read_files(files, max_bytes):
    """``{path: bytes}`` in list order, stopping once `max_bytes` bytes are read."""
    root = stdlib_dir()
    chunks, total = {}, 0
    for name in files:
        path = os.path.join(root, name)  # an absolute `name` wins over `root`
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as error:
            raise DataUnavailableError(
                f"{NAME}: cannot read {path} ({error.strerror}); check data.files "
                f"(paths are relative to {root})"
            ) from None
        if max_bytes is not None:
            data = data[: max_bytes - total]
        chunks[name] = data
        total += len(data)
        if max_bytes is not None and total >= max_bytes:
            break
    return chunks
