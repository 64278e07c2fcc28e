"""The runnable examples in tfbsz.optimizers' docstrings still run and print what they say."""

import doctest

import pytest

import tfbsz.optimizers
from tfbsz.optimizers import (
    exclusions,
    factory,
    fused_update,
    lamb,
    lars,
    layerwise,
    momentum_sgd,
    per_trial,
    trust_ratio,
    variable_momentum,
)

MODULES = [tfbsz.optimizers, exclusions, factory, fused_update, lamb, lars, layerwise,
           momentum_sgd, per_trial, trust_ratio, variable_momentum]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{module.__name__} has no examples"
    assert result.failed == 0
