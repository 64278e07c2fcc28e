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
