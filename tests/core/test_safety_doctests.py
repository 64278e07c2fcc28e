"""The runnable examples in the docstrings of the crash-safety and distributed-tuning modules
still run and print what they say."""

import doctest

import pytest

from tfbsz.records import results
from tfbsz.study import recorded_trials, resume_checks, trial_ids, tuner_files
from tfbsz.study import distributed
from tfbsz.study.distributed import chief, heartbeat, options, security, tokens, worker

MODULES = [results, recorded_trials, resume_checks, trial_ids, tuner_files, distributed, chief, heartbeat,
           options, security, tokens, worker]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{module.__name__} has no examples"
    assert result.failed == 0
