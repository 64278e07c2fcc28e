"""tfbsz.data.load / names / options: registry, option checks, defaults, cache."""

import numpy as np
import pytest

import tfbsz.data
from tfbsz.core.errors import ConfigError
from helpers import run_python

SMALL_TEXT = {"name": "stdlib_text", "seq_len": 16, "max_bytes": 4000}


@pytest.fixture(autouse=True)
def fresh_cache():
    tfbsz.data.clear_cache()
    yield
    tfbsz.data.clear_cache()


def test_names_are_the_documented_ones():
    assert tfbsz.data.names() == sorted(
        ["stdlib_text", "mnist5k", "digits", "tfds:mnist", "tfds:fashion_mnist", "tfds:cifar10",
         "tfds:lm1b", "tfds:tiny_shakespeare"]
    )


def test_options_give_defaults_and_a_fresh_copy():
    assert tfbsz.data.options("stdlib_text") == {
        "seq_len": 64, "max_bytes": None, "eval_fraction": 0.1, "files": None
    }
    assert set(tfbsz.data.options("tfds:lm1b")) == {
        "download", "data_dir", "train_split", "eval_split", "max_examples", "seq_len"
    }
    assert "seq_len" not in tfbsz.data.options("tfds:cifar10")
    assert tfbsz.data.options("tfds:tiny_shakespeare")["eval_split"] == "validation"
    assert tfbsz.data.options("tfds:mnist")["download"] is False
    tfbsz.data.options("digits")["eval_fraction"] = 0.9
    assert tfbsz.data.options("digits")["eval_fraction"] == 0.2


def test_unknown_name_lists_valid_names_and_suggests_one():
    with pytest.raises(ConfigError, match=r"^data\.name: unknown data set 'stdlib_txt' "
                       r"\(did you mean 'stdlib_text'\?\); valid names: digits, mnist5k, stdlib_text, tfds:"):
        tfbsz.data.load({"name": "stdlib_txt"}, seed=0)
    with pytest.raises(ConfigError, match=r"data\.name: unknown data set"):
        tfbsz.data.options("tfds:imagenet2012")


def test_unknown_option_names_the_key_and_the_valid_options():
    with pytest.raises(ConfigError, match=r"^data\.seqlen: unknown option for data set 'stdlib_text'; "
                       r"valid options: eval_fraction, files, max_bytes, seq_len$"):
        tfbsz.data.load({"name": "stdlib_text", "seqlen": 32}, seed=0)
    with pytest.raises(ConfigError, match=r"data\.seq_len: unknown option for data set 'tfds:mnist'"):
        tfbsz.data.load({"name": "tfds:mnist", "seq_len": 32}, seed=0)


@pytest.mark.parametrize("cfg,message", [
    ({"seq_len": 64}, r"data\.name: missing; valid names: digits"),
    ("stdlib_text", r"data: expected a mapping"),
])
def test_malformed_section(cfg, message):
    with pytest.raises(ConfigError, match=message):
        tfbsz.data.load(cfg, seed=0)


def test_load_fills_defaults_and_caches_by_config():
    ds = tfbsz.data.load(SMALL_TEXT, seed=0)
    assert ds.input_shape == (16,) and ds.metadata["bytes"] == 4000
    assert tfbsz.data.load(dict(SMALL_TEXT), seed=1) is ds          # same config, same object
    assert tfbsz.data.load(dict(SMALL_TEXT, eval_fraction=0.1), seed=0) is ds   # default spelled out
    other = tfbsz.data.load(dict(SMALL_TEXT, seq_len=8), seed=0)
    assert other is not ds and other.input_shape == (8,)
    tfbsz.data.clear_cache()
    assert tfbsz.data.load(SMALL_TEXT, seed=0) is not ds


def test_cached_arrays_are_read_only_but_batches_are_not():
    ds = tfbsz.data.load(SMALL_TEXT, seed=0)
    with pytest.raises(ValueError, match="read-only"):
        ds.x_train[0, 0] = 1
    x, y = next(ds.train_batches(8, seed=0))
    x[0, 0] = 1
    x_eval, _ = ds.eval_arrays(4)
    assert not x_eval.flags.writeable


def test_load_is_keras_and_tensorflow_free_for_local_sets():
    code = (
        "import sys, tfbsz.data as d\n"
        "ds = d.load({'name': 'stdlib_text', 'max_bytes': 3000}, seed=0)\n"
        "print(ds.num_train, 'keras' in sys.modules, 'tensorflow' in sys.modules)\n"
    )
    result = run_python(code, timeout=60)
    assert result.returncode == 0, result.stderr
    count, keras_loaded, tf_loaded = result.stdout.split()
    assert int(count) > 0 and keras_loaded == "False" and tf_loaded == "False"


def test_public_api_is_exported():
    for name in tfbsz.data.__all__:
        assert hasattr(tfbsz.data, name), name
    assert isinstance(tfbsz.data.load({"name": "digits"}, seed=0), tfbsz.data.Dataset)
    assert np.issubdtype(tfbsz.data.load({"name": "digits"}, seed=0).y_train.dtype, np.integer)
