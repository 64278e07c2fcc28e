"""Two worker processes (TF_CONFIG over 127.0.0.1) train to the same weights as one process.

Checked for SGD and, once it exists, tfbsz's LAMB (tensorflow/addons#1896: LAMB failed under
MultiWorkerMirroredStrategy in tensorflow-addons).
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from helpers import subprocess_env

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
WORKER = os.path.join(HERE, "strategies_worker.py")
TIMEOUT_S = 240
TOLERANCE = 1e-5  # same float32 argument as the mirrored test: only the summation order differs

pytestmark = pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND") != "tensorflow", reason="MultiWorkerMirroredStrategy needs TensorFlow"
)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start(strategy, out, **env):
    return subprocess.Popen(
        [sys.executable, WORKER, strategy, str(out)],
        env=subprocess_env("tensorflow", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(processes):
    outputs = []
    try:
        for p in processes:
            out, _ = p.communicate(timeout=TIMEOUT_S)
            outputs.append(out)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for p, out in zip(processes, outputs):
        assert p.returncode == 0, out[-3000:]


def _weights(path):
    """({optimizer: [arrays]}, describe, replicas) from a worker's npz file."""
    with np.load(path) as f:
        weights = {}
        for key in sorted(k for k in f.files if k not in ("describe", "replicas")):
            name, index = key.rsplit("_", 1)
            weights.setdefault(name, {})[int(index)] = f[key]
        weights = {name: [arrays[i] for i in sorted(arrays)] for name, arrays in weights.items()}
        return weights, str(f["describe"]), int(f["replicas"])


def test_two_workers_match_one_worker(tmp_path):
    from strategies_worker import train_all

    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    workers = [
        _start(
            "multi_worker",
            tmp_path / f"worker{i}.npz",
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
        )
        for i in range(2)
    ]
    try:  # the one-worker reference trains here while the workers start up
        reference = train_all()
    finally:
        _finish(workers)

    assert "sgd" in reference
    for i in range(2):
        weights, describe, replicas = _weights(tmp_path / f"worker{i}.npz")
        assert replicas == 2
        assert describe.startswith("multi_worker: 2 replicas over 2 workers (127.0.0.1:")
        assert f"this is worker {i}" in describe
        assert sorted(weights) == sorted(reference)
        for name, expected in reference.items():
            difference = max(float(np.max(np.abs(a - b))) for a, b in zip(weights[name], expected))
            assert difference < TOLERANCE, f"{name}: worker {i} differs from one worker by {difference}"
