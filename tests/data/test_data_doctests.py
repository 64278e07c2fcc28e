"""The runnable examples in tfbsz.data's docstrings still run and print what they say."""

import doctest

import pytest

import tfbsz.data
from tfbsz.data import base, digits, mnist5k, stdlib_text, tf_pipeline, tfds_source

MODULES = [tfbsz.data, base, stdlib_text, mnist5k, digits, tfds_source, tf_pipeline]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    tfbsz.data.clear_cache()
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{module.__name__} has no examples"
    assert result.failed == 0
