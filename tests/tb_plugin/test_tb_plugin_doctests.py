"""The examples in the plugin's and the HParams writer's docstrings run and give what they show."""

import doctest
import importlib

import pytest

MODULES = [
    "tfbsz.tb_plugin",
    "tfbsz.tb_plugin.metadata",
    "tfbsz.tb_plugin._files",
    "tfbsz.tb_plugin._scaling",
    "tfbsz.tb_plugin.plugin",
    "tfbsz.records.hparams_logging",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no example"
    assert result.failed == 0
