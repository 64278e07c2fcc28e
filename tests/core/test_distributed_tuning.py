"""Distributed tuning on loopback: a KerasTuner chief and two workers share one study.

Every trial must be present exactly once, also when a worker is killed with SIGKILL in the
middle of a trial (its trial is re-queued by the chief and run by the other worker). Hard
timeouts everywhere: no process outlives the test.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from helpers import ROOT, subprocess_env

from tfbsz.records import results

pytestmark = pytest.mark.slow


# Trials run their whole (small) budget, so a worker killed "mid-trial" really is mid-trial.
SLOW = ["--set", "target.threshold=0.0", "--set", "budget.max_steps=200"]


def free_port_pair():
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket() as t:
                t.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free pair of ports")


def start(role, out, port, logs, name, **env):
    args = [sys.executable, "-m", "tfbsz.run", "--config", "configs/smoke.yaml", "--output", str(out),
            "--progress", "plain", "--role", role, "--oracle", f"127.0.0.1:{port}", *SLOW]
    if role == "worker":
        args += ["--worker-id", name]
    log = open(logs / f"{name}.log", "w")
    proc = subprocess.Popen(args, cwd=ROOT, env=subprocess_env(**env), stdout=log, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    proc.log_path = logs / f"{name}.log"
    proc.log_file = log
    return proc


def stop_all(procs):
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        p.log_file.close()


def running_trial(proc):
    """Whether the worker's log shows a trial started and not yet ended."""
    lines = proc.log_path.read_text().splitlines()
    state = False
    for line in lines:
        if "] start" in line:
            state = True
        elif any(word in line for word in ("] reached", "] missed", "] diverged")):
            state = False
    return state


def check_complete(out):
    summary = json.loads((out / "summary.json").read_text())
    assert [r["trials"] for r in summary["batch_sizes"]] == [2, 2]
    for bs in (16, 64):
        base = out / "digits/mlp/momentum" / str(bs)
        trials = sorted(p.name for p in base.iterdir() if (p / "metadata.json").exists())
        assert trials == ["0", "1"]
        statuses = [json.loads(p.read_text())["status"] for p in sorted(results.tuner_dir(base).glob("trial_*/trial.json"))]
        assert statuses == ["COMPLETED", "COMPLETED"]


@pytest.mark.parametrize("kill_worker", [False, True], ids=["all-alive", "worker-SIGKILL"])
def test_chief_and_two_workers_finish_the_study(tmp_path, kill_worker):
    out = tmp_path / "study"
    port = free_port_pair()
    env = {"TFBSZ_WORKER_TIMEOUT": "8", "TFBSZ_CHIEF_TIMEOUT": "120"}
    chief = start("chief", out, port, tmp_path, "chief", **env)
    procs = [chief]
    try:
        deadline = time.monotonic() + 120
        while not (out / "tfbsz_study.json").exists():
            assert chief.poll() is None, chief.log_path.read_text()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.2)
        workers = [start("worker", out, port, tmp_path, f"w{i}", **env) for i in range(2)]
        procs += workers
        if kill_worker:
            deadline = time.monotonic() + 240
            while not running_trial(workers[0]):
                assert workers[0].poll() is None, workers[0].log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, "worker 0 never started a trial"
                time.sleep(0.1)
            time.sleep(0.3)
            os.killpg(workers[0].pid, signal.SIGKILL)
        chief.wait(timeout=480)
        assert chief.returncode == 0, chief.log_path.read_text()[-3000:]
        for w in workers[int(kill_worker):]:
            w.wait(timeout=60)
            assert w.returncode == 0, w.log_path.read_text()[-3000:]
    finally:
        stop_all(procs)
    check_complete(out)
    failures = [p for bs in (16, 64) for p in results.failure_paths(out / "digits/mlp/momentum" / str(bs))]
    if kill_worker:
        assert failures, "the dead worker's trial was not recorded as re-queued"
        assert "w0" in json.loads(failures[0].read_text())["worker"]
    else:
        assert not failures


def test_worker_gives_up_on_a_dead_chief(tmp_path):
    out = tmp_path / "study"
    out.mkdir()
    port = free_port_pair()  # nobody listens there
    worker = start("worker", out, port, tmp_path, "lonely", TFBSZ_CHIEF_TIMEOUT="5")
    try:
        worker.wait(timeout=180)
    finally:
        stop_all([worker])
    text = worker.log_path.read_text()
    assert worker.returncode == 2, text[-3000:]
    assert "did not answer" in text and "Traceback" not in text
