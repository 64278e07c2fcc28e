"""bench/cohorts.py runs on a CPU with tiny settings, without TensorFlow, and reports every variant."""

import json
import subprocess
import sys

from helpers import ROOT, subprocess_env

RUN_WITHOUT_TENSORFLOW = """
import runpy, sys
sys.modules["tensorflow"] = None  # as on the GPU machines: importing it must not be needed
sys.argv = ["bench/cohorts.py"] + sys.argv[1:]
runpy.run_path("bench/cohorts.py", run_name="__main__")
"""


def test_cpu_mode_reports_trial_steps_per_second_for_each_variant(tmp_path):
    out = tmp_path / "cohorts.json"
    result = subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT_TENSORFLOW, "--mode", "cpu", "--part", "throughput", "--workload",
         "transformer", "--batch-sizes", "16", "--cohorts", "1,2", "--json", str(out)],
        env=subprocess_env("jax", JAX_PLATFORMS="cpu"), cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "transformer bs    16  plain fit " in result.stdout
    report = json.loads(out.read_text())
    (row,) = report["throughput"]
    assert row["plain_fit"] > 0 and row["trial"]["whole"] > 0 and row["trial"]["steady"] > 0
    assert sorted(row["cohorts"]) == ["1", "2"]
    for rates in row["cohorts"].values():
        assert rates["steady"] > 0 and rates["whole"] > 0


def test_a_cohort_trained_in_groups_is_timed_by_the_group_on_the_device(monkeypatch):
    import os
    import runpy
    import types

    import tfbsz.study.cohorts

    bench = runpy.run_path(os.path.join(ROOT, "bench", "cohorts.py"))
    rows = [{"step": s, "wall_time_s": float(t)} for s, t in ((10, 1), (20, 2), (30, 3))]

    def run_cohort(cfg, members, batch_size, dataset, devices=None):  # 4 members in 2 groups of 2
        return [types.SimpleNamespace(measurements=rows, steps=30, extra={"cohort": {"size": 2, "members": 2}})
                for _ in members]

    monkeypatch.setattr(tfbsz.study.cohorts, "run_cohort", run_cohort)
    monkeypatch.setitem(bench["time_cohort"].__globals__, "members", lambda cfg, count: [object()] * count)
    timing = bench["time_cohort"](None, None, 64, 4)
    assert timing["steady"] == 20.0  # 2 members x 10 steps per second, not 4 x
    assert timing["groups"] == 2
    assert "N=4 in 2 groups" in bench["format_row"]({"workload": "cnn", "batch_size": 64, "plain_fit": 1.0,
                                                      "trial": {"steady": 1.0, "whole": 1.0}, "cohorts": {4: timing}})
