"""stdlib_text: the byte-level corpus from Python's standard library."""

import hashlib
import os

import numpy as np
import pytest

from tfbsz.data import stdlib_text
from tfbsz.core.errors import ConfigError, DataUnavailableError


def build(**overrides):
    return stdlib_text.build(dict(stdlib_text.DEFAULTS, **overrides), seed=0)


def test_every_listed_file_exists_and_the_corpus_has_the_documented_size():
    root = stdlib_text.stdlib_dir()
    sizes = [os.path.getsize(os.path.join(root, f)) for f in stdlib_text.STDLIB_FILES]
    assert len(sizes) == 40
    assert 1_500_000 <= sum(sizes) <= 3_000_000
    assert min(sizes) >= 10_000


def test_full_corpus_shapes_dtypes_and_metadata():
    ds = build()
    assert ds.name == "stdlib_text" and ds.task == "language_model"
    assert ds.x_train.dtype == ds.y_train.dtype == np.int32
    assert ds.x_train.shape[1:] == ds.x_eval.shape[1:] == (64,) == ds.input_shape
    assert ds.num_classes == 256
    assert 0 <= ds.x_train.min() and ds.x_train.max() < 256
    assert ds.metadata["files"] == list(stdlib_text.STDLIB_FILES)
    assert ds.metadata["train_examples"] == ds.num_train and ds.metadata["eval_examples"] == ds.num_eval
    corpus = b"".join(
        open(os.path.join(stdlib_text.stdlib_dir(), f), "rb").read() for f in stdlib_text.STDLIB_FILES
    )
    assert ds.metadata["sha256"] == hashlib.sha256(corpus).hexdigest()
    assert ds.metadata["bytes"] == len(corpus)
    # About 10% held out: each stream gives (bytes - 1) // 64 windows.
    assert abs(ds.num_eval / (ds.num_train + ds.num_eval) - 0.1) < 0.01


def test_targets_are_inputs_shifted_by_one_byte_and_windows_do_not_overlap():
    ds = build(seq_len=16, max_bytes=5000)
    np.testing.assert_array_equal(ds.x_train[:, 1:], ds.y_train[:, :-1])
    # Non-overlapping: the next window starts with the last target of the previous one.
    np.testing.assert_array_equal(ds.x_train[1:, 0], ds.y_train[:-1, -1])
    head = open(os.path.join(stdlib_text.stdlib_dir(), "argparse.py"), "rb").read()[:4500]
    assert bytes(ds.x_train[:3].astype(np.uint8).ravel()) == head[:48]


def test_held_out_bytes_are_each_files_tail_and_never_in_training():
    files = ["argparse.py", "difflib.py"]
    ds = build(seq_len=8, files=files, eval_fraction=0.25)
    root = stdlib_text.stdlib_dir()
    texts = [open(os.path.join(root, f), "rb").read() for f in files]
    heads = [t[: len(t) - round(0.25 * len(t))] for t in texts]
    tails = [t[len(h):] for t, h in zip(texts, heads)]
    train_stream, eval_stream = b"".join(heads), b"".join(tails)
    n = (len(eval_stream) - 1) // 8
    assert ds.num_eval == n and ds.num_train == (len(train_stream) - 1) // 8
    assert bytes(ds.x_eval.astype(np.uint8).ravel()) == eval_stream[: n * 8]
    assert bytes(ds.y_train.astype(np.uint8).ravel()) == train_stream[1 : ds.num_train * 8 + 1]


def test_max_bytes_caps_the_corpus():
    ds = build(seq_len=10, max_bytes=1001)
    assert ds.metadata["bytes"] == 1001 and ds.metadata["files"] == ["argparse.py"]
    assert (ds.num_train + ds.num_eval) * 10 <= 1001


def test_absolute_paths_train_on_any_text(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_bytes(bytes(range(256)) * 4)
    ds = build(seq_len=4, files=[str(path)], eval_fraction=0.5)
    assert ds.metadata["files"] == [str(path)]
    assert ds.x_train[0].tolist() == [0, 1, 2, 3] and ds.y_train[0].tolist() == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"seq_len": 0}, r"data\.seq_len: expected an integer >= 1, got 0"),
        ({"seq_len": "64"}, r"data\.seq_len: expected an integer >= 1, got '64'"),
        ({"eval_fraction": 1.0}, r"data\.eval_fraction: expected a number in \(0, 1\), got 1\.0"),
        ({"max_bytes": 1}, r"data\.max_bytes: expected an integer >= 2 or null, got 1"),
        ({"files": "argparse.py"}, r"data\.files: expected a non-empty list"),
        ({"files": ["ast.py", "ast.py"]}, r"data\.files: expected each file once"),
        ({"seq_len": 4096, "max_bytes": 5000}, r"data\.seq_len: the held-out text .* too few"),
    ],
)
def test_bad_options_name_the_key_and_the_value(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build(**overrides)


def test_missing_file_is_reported_with_its_path():
    with pytest.raises(DataUnavailableError, match=r"stdlib_text: cannot read .*no_such_module\.py"):
        build(files=["no_such_module.py"])
