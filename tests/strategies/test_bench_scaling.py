"""bench/scaling.py --cpu runs on two host devices, never imports TensorFlow, and reports efficiency."""

import json
import os
import subprocess
import sys

from helpers import ROOT, subprocess_env

RUN_WITHOUT_TENSORFLOW = """
import runpy, sys
sys.modules["tensorflow"] = None  # as on the GPU machine: importing it must not be needed
sys.argv = ["bench/scaling.py"] + sys.argv[1:]
runpy.run_path("bench/scaling.py", run_name="__main__")
"""


def test_cpu_mode_reports_each_device_count_and_efficiency(tmp_path):
    out = tmp_path / "scaling.json"
    result = subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT_TENSORFLOW, "--cpu", "--devices", "1,2",
         "--warmup", "1", "--steps", "2", "--repeats", "2", "--json", str(out)],
        env=subprocess_env("jax"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    assert lines[0].startswith("devices=1 global_batch=4 ")
    assert lines[1].startswith("devices=2 global_batch=8 ")
    assert lines[2].startswith("weak-scaling efficiency 2 vs 1 devices: ")

    report = json.loads(out.read_text())
    one, two = report["results"]
    assert two["device_names"] == ["cpu:0", "cpu:1"]
    assert len(one["examples_per_s_repeats"]) == 2
    expected = two["examples_per_s_median"] / (2 * one["examples_per_s_median"])
    assert abs(report["efficiency"]["2"] - expected) < 1e-9
    assert one["loss_last"] < one["loss_first"], "the benchmark should actually train"


def test_devices_must_include_the_one_device_baseline():
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "scaling.py"), "--cpu", "--devices", "2,4"],
        env=subprocess_env("jax"), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "--devices: must include 1 (the efficiency baseline), got [2, 4]" in result.stderr
