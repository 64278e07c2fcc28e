"""`WallTimeLog` (pure Python): the per-batch-size accounting behind `wall_time.json`. A whole
study writing it is checked in test_cohort_study.py."""

import json
from types import SimpleNamespace

import pytest
from helpers import check_docstring_examples

from tfbsz.study import wall_time


def result(setup_s, compile_s):
    return SimpleNamespace(extra={"cohort": {"size": 2, "setup_s": setup_s, "compile_s": compile_s}})


def test_docstring_examples():
    check_docstring_examples(wall_time)


def test_compilation_counted_once_per_run_and_files_merged(tmp_path):
    log = wall_time.WallTimeLog(tmp_path)
    log.begin(8)
    log.on_run(2, [result(0.1, 5.0), result(0.2, 5.0)], 8.0)   # a cohort that compiled
    log.on_run(2, [result(0.1, 0.0), result(0.1, 0.0)], 2.0)   # the same program again
    log.on_run(1, [SimpleNamespace(extra={})], 1.0)             # a trial alone
    entry = log.end(8, search_s=12.0)
    assert entry["compile_s"] == 5.0 and entry["member_setup_s"] == pytest.approx(0.5)
    assert entry["runs_s"] == 11.0 and entry["outside_runs_s"] == 1.0 and entry["trials"] == 5
    assert entry["host_fraction"] == pytest.approx((1.0 + 0.5) / 12.0, abs=1e-4)
    log.begin(16)
    log.on_run(4, None, 3.0)  # ran out of memory: its trials were retried in halves (counted there)
    log.on_run(2, [result(0.1, 4.0), result(0.1, 4.0)], 6.0)
    log.on_run(2, [result(0.1, 0.0), result(0.1, 0.0)], 2.0)
    entry = log.end(16, search_s=11.5)
    assert entry["runs"] == [[4, 3.0], [2, 6.0], [2, 2.0]] and entry["trials"] == 4
    assert entry["compile_s"] == 4.0 and entry["runs_s"] == 11.0
    # a resumed study (a new log) keeps the batch sizes the earlier session recorded
    again = wall_time.WallTimeLog(tmp_path)
    again.begin(32)
    again.end(32, search_s=0.0)
    saved = json.loads((tmp_path / wall_time.FILE_NAME).read_text())["batch_sizes"]
    assert sorted(saved, key=int) == ["8", "16", "32"] and saved["32"]["host_fraction"] is None
