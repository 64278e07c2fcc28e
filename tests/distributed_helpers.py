"""Chief and worker processes of distributed tuning for tests: real `python -m tfbsz.run`
processes over loopback, each in its own session so that a test can kill it with its children,
with their output in a log file and hard timeouts everywhere."""

import os
import signal
import socket
import subprocess
import sys
import time

from helpers import ROOT, subprocess_env


def free_port(count=2):
    """A port P such that P .. P + count - 1 are free on 127.0.0.1 now."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + count - 1 > 65535:
            continue
        try:
            for offset in range(1, count):
                with socket.socket() as t:
                    t.bind(("127.0.0.1", port + offset))
            return port
        except OSError:
            continue
    raise RuntimeError("no free run of ports")


def start(role, out, port, logs, name, extra=(), config="configs/smoke.yaml", **env):
    """Starts `python -m tfbsz.run --role ROLE`; the log is `logs/<name>.log`."""
    args = [sys.executable, "-m", "tfbsz.run", "--config", str(config), "--output", str(out),
            "--progress", "plain", "--role", role, "--oracle", f"127.0.0.1:{port}", *extra]
    if role == "worker" and "--worker-id" not in extra:
        args += ["--worker-id", name]
    log = open(logs / f"{name}.log", "w")
    proc = subprocess.Popen(args, cwd=ROOT, env=subprocess_env(**env), stdout=log, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    proc.log_path = logs / f"{name}.log"
    proc.log_file = log
    return proc


def log_text(proc):
    return proc.log_path.read_text()


def stop_all(procs):
    """Kills whatever still runs of `procs` (and their children) and closes their logs."""
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        p.log_file.close()


def wait_for(condition, proc, timeout, what):
    """Polls `condition()` until true; fails if `proc` ends first or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"{what}: process ended early:\n{log_text(proc)[-3000:]}"
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s:\n{log_text(proc)[-3000:]}"
        time.sleep(0.1)


def running_trial(proc):
    """Whether the worker's log shows a trial started and not yet ended."""
    state = False
    for line in log_text(proc).splitlines():
        if "] start" in line:
            state = True
        elif any(word in line for word in ("] reached", "] missed", "] diverged")):
            state = False
    return state


def one_line_error(text):
    """The `tfbsz: error:` line of a log that must end in exactly one such line, no traceback."""
    assert "Traceback" not in text, text[-3000:]
    errors = [line for line in text.splitlines() if line.startswith("tfbsz: error:")]
    assert len(errors) == 1, text[-3000:]
    return errors[0]


def expect_success(chief, workers, timeout=480):
    """Waits for the chief, then the workers; each must exit 0."""
    chief.wait(timeout=timeout)
    assert chief.returncode == 0, log_text(chief)[-3000:]
    for worker in workers:
        worker.wait(timeout=60)
        assert worker.returncode == 0, log_text(worker)[-3000:]


def expect_one_line_failure(proc, timeout=240):
    """Waits for `proc` (then cleans up); it must exit 2 with one `tfbsz: error:` line, returned."""
    try:
        proc.wait(timeout=timeout)
    finally:
        stop_all([proc])
    assert proc.returncode == 2, log_text(proc)[-3000:]
    return one_line_error(log_text(proc))


def start_study(out, port, logs, extra=(), workers=1, **env):
    """Starts a chief, waits for its study marker and token, then starts `workers` workers
    (`w0`, `w1`, ...). Returns `(chief, [workers])`; on a failure nothing is left running."""
    chief = start("chief", out, port, logs, "chief", extra, **env)
    try:
        wait_for(lambda: (out / "tfbsz_study.json").exists() and (out / ".tfbsz_oracle_token").exists(),
                 chief, 180, "the chief's study marker and token")
    except BaseException:
        stop_all([chief])
        raise
    return chief, [start("worker", out, port, logs, f"w{i}", extra, **env) for i in range(workers)]
