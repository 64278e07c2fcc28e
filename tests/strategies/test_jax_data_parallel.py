"""DataParallel over two host devices matches one device, with and without accumulation (JAX, no TF)."""

import json
import os
import subprocess
import sys

from helpers import subprocess_env

HERE = os.path.dirname(os.path.abspath(__file__))
TOLERANCE = 1e-5  # float32; the split only reorders the sum inside the gradient all-reduce


def test_data_parallel_two_host_devices_matches_one_device():
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "strategies_jax_check.py")],
        env=subprocess_env(
            "jax", XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu"
        ),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"
    assert report["data_parallel_describe"] == "data_parallel: 2 replicas on cpu:0, cpu:1"
    assert report["one_device_describe"] == "one_device: 1 replica on cpu:0"
    assert "NamedSharding" in report["data_parallel_kernel_sharding"]
    assert report["moved"] > 1e-2
    assert report["difference"] < TOLERANCE
    assert report["accumulation_difference"] < TOLERANCE
    assert report["auto_describe"] == (
        "one_device: 1 replica on cpu:0 (chosen by auto: no GPU or TPU found, JAX backend)"
    )
    assert report["distribution_after_scope"] == "None", "scope() must restore the distribution"
