"""An interrupted study (SIGINT, SIGKILL) resumes with --resume: finished trials are kept, the
interrupted one is run again, and every trial is present exactly once."""

import json
import signal
import subprocess
import sys
import time

import pytest

from helpers import ROOT, run_cli, subprocess_env

from tfbsz.records import results


# Trials that never reach the target run their whole budget (a few seconds each), so the signal
# always lands while the study is still running, however fast the machine.
SLOW = ["--set", "target.threshold=0.0", "--set", "budget.max_steps=300"]


def trial_files(out):
    return sorted(out.glob("digits/mlp/momentum/*/*/metadata.json"))


def interrupt_after_first_trial(out, sig, logs):
    stdout, stderr = open(logs / "stdout.txt", "w"), open(logs / "stderr.txt", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfbsz.run", "--config", "configs/smoke.yaml", "--output", str(out),
         "--progress", "plain", *SLOW],
        cwd=ROOT, env=subprocess_env(), stdout=stdout, stderr=stderr, text=True,
    )
    deadline = time.monotonic() + 300
    try:
        while not trial_files(out):
            assert proc.poll() is None, (logs / "stderr.txt").read_text()[-2000:]
            assert time.monotonic() < deadline, "no trial finished within 300 s"
            time.sleep(0.2)
        time.sleep(0.5)  # the next trial is under way
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stdout.close()
        stderr.close()
    proc.stderr_text = (logs / "stderr.txt").read_text()
    return proc


# SIGKILL mid-study is tests/core/test_kill_resume.py's (ten random moments, results compared with an
# uninterrupted run); this test is the graceful stop (Ctrl-C: exit 130, a one-line hint, no traceback).
@pytest.mark.parametrize("sig", [signal.SIGINT], ids=["SIGINT"])
def test_interrupted_study_resumes_without_duplicates(tmp_path, sig):
    out = tmp_path / "study"
    proc = interrupt_after_first_trial(out, sig, tmp_path)
    assert proc.returncode != 0
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert "--resume" in proc.stderr_text and "Traceback" not in proc.stderr_text
    finished = {p: p.stat().st_mtime_ns for p in trial_files(out)}
    assert 1 <= len(finished) < 4
    # without --resume the folder is protected
    again = run_cli(["--config", "configs/smoke.yaml", "--output", str(out), *SLOW], timeout=120)
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = run_cli(["--config", "configs/smoke.yaml", "--output", str(out), "--resume", "--progress", "plain", *SLOW],
                      timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    files = trial_files(out)
    assert len(files) == 4
    for path, mtime in finished.items():  # finished trials were not run again
        assert path.stat().st_mtime_ns == mtime
    for bs in (16, 64):
        trial_dirs = sorted(p.name for p in (out / "digits/mlp/momentum" / str(bs)).iterdir()
                            if (p / "metadata.json").exists())
        assert trial_dirs == ["0", "1"]
        kt_trials = sorted(results.tuner_dir(out / "digits/mlp/momentum" / str(bs)).glob("trial_*/trial.json"))
        assert [json.loads(p.read_text())["status"] for p in kt_trials] == ["COMPLETED", "COMPLETED"]
    summary = json.loads((out / "summary.json").read_text())
    assert [r["trials"] for r in summary["batch_sizes"]] == [2, 2]
