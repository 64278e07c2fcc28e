"""The runnable examples in the docstrings of the crash-safety and distributed-tuning modules
still run and print what they say."""

import pytest

from helpers import check_docstring_examples
from tfbsz.records import results
from tfbsz.study import distributed, recorded_trials, resume_checks, trial_ids, tuner_files
from tfbsz.study.distributed import chief, heartbeat, options, security, tokens, worker


@pytest.mark.parametrize("module", [results, recorded_trials, resume_checks, trial_ids, tuner_files, distributed,
                                    chief, heartbeat, options, security, tokens, worker], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    check_docstring_examples(module)
