"""Distributed tuning on loopback: a KerasTuner chief and workers share one study.

Every trial must be present exactly once, also when a worker is killed with SIGKILL in the
middle of a trial (its trial is re-queued by the chief and run by the other worker), when the
chief is killed mid-trial (the worker stops with one line; the resumed study keeps the trial the
worker finished), and when the space has fewer points than `search.trials` (the chief finishes
with the points there are). Hard timeouts everywhere: no process outlives the test.
"""

import json
import os
import signal

import pytest

from distributed_helpers import (expect_one_line_failure, expect_success, free_port, log_text, running_trial,
                                 start, start_study, stop_all, wait_for)

from tfbsz.records import results

pytestmark = pytest.mark.slow


# Trials run their whole (small) budget, so a worker killed "mid-trial" really is mid-trial.
SLOW = ["--set", "target.threshold=0.0", "--set", "budget.max_steps=200"]
BASE = "digits/mlp/momentum"


def trial_dirs(out, bs):
    base = out / BASE / str(bs)
    return sorted(p.name for p in base.iterdir() if (p / "metadata.json").exists())


def kt_statuses(out, bs):
    return [json.loads(p.read_text())["status"]
            for p in sorted(results.tuner_dir(out / BASE / str(bs)).glob("trial_*/trial.json"))]


def failure_files(out):
    return [p for bs in (16, 64) for p in results.failure_paths(out / BASE / str(bs))]


def check_complete(out, trials=2):
    summary = json.loads((out / "summary.json").read_text())
    assert [r["trials"] for r in summary["batch_sizes"]] == [trials, trials]
    for bs in (16, 64):
        assert trial_dirs(out, bs) == [str(i) for i in range(trials)]
        assert kt_statuses(out, bs) == ["COMPLETED"] * trials


@pytest.mark.parametrize("kill_worker", [False, True], ids=["all-alive", "worker-SIGKILL"])
def test_chief_and_two_workers_finish_the_study(tmp_path, kill_worker):
    out = tmp_path / "study"
    port = free_port()
    # The killed worker is noticed after 8 s; live ones on the 2-core machine, starved by the
    # chief and each other, get 60 s before the chief would take their trials back.
    env = {"TFBSZ_WORKER_TIMEOUT": "8" if kill_worker else "60", "TFBSZ_CHIEF_TIMEOUT": "120"}
    chief, workers = start_study(out, port, tmp_path, SLOW, workers=2, **env)
    procs = [chief, *workers]
    try:
        if kill_worker:
            wait_for(lambda: running_trial(workers[0]), workers[0], 240, "worker 0 starts a trial")
            os.killpg(workers[0].pid, signal.SIGKILL)
        expect_success(chief, workers[int(kill_worker):])
    finally:
        stop_all(procs)
    check_complete(out)
    failures = failure_files(out)
    if kill_worker:
        assert failures, "the dead worker's trial was not recorded as re-queued"
        assert "w0" in json.loads(failures[0].read_text())["worker"]
    else:
        assert not failures


def test_worker_gives_up_on_a_dead_chief(tmp_path):
    out = tmp_path / "study"
    out.mkdir()
    port = free_port()  # nobody listens there
    worker = start("worker", out, port, tmp_path, "lonely", TFBSZ_CHIEF_TIMEOUT="5",
                   TFBSZ_ORACLE_TOKEN="a-token-long-enough-for-tfbsz")
    assert "did not answer" in expect_one_line_failure(worker, timeout=180)


def test_chief_killed_mid_trial_ends_the_worker_in_one_line_and_the_study_resumes(tmp_path):
    out = tmp_path / "study"
    port = free_port()
    env = {"TFBSZ_WORKER_TIMEOUT": "8", "TFBSZ_CHIEF_TIMEOUT": "5"}
    chief, (worker,) = start_study(out, port, tmp_path, SLOW, **env)
    procs = [chief, worker]
    try:
        wait_for(lambda: running_trial(worker), worker, 240, "the worker starts a trial")
        os.killpg(chief.pid, signal.SIGKILL)
        assert "did not answer" in expect_one_line_failure(worker)
        # The trial the worker was running finished on disk after the chief died.
        finished = {p: p.stat().st_mtime_ns for p in out.glob(f"{BASE}/*/*/metadata.json")}
        assert finished, log_text(worker)[-3000:]
        env["TFBSZ_CHIEF_TIMEOUT"] = "120"
        chief = start("chief", out, port, tmp_path, "chief2", [*SLOW, "--resume"], **env)
        worker = start("worker", out, port, tmp_path, "w1", SLOW, **env)
        procs += [chief, worker]
        expect_success(chief, [worker])
    finally:
        stop_all(procs)
    check_complete(out)
    for path, mtime in finished.items():  # kept, not trained again
        assert path.stat().st_mtime_ns == mtime
    assert "kept: finished before the interruption" in log_text(worker)


def test_a_space_with_fewer_points_than_trials_finishes(tmp_path):
    """The oracle answers STOPPED after the space's two points: the chief must not wait for four."""
    out = tmp_path / "study"
    port = free_port()
    tiny = ["--set", "search.space={optimizer.learning_rate: {values: [0.05, 0.1]}}", "--trials", "4",
            "--set", "budget.max_steps=30"]
    env = {"TFBSZ_WORKER_TIMEOUT": "30", "TFBSZ_CHIEF_TIMEOUT": "60"}
    chief, (worker,) = start_study(out, port, tmp_path, tiny, **env)
    procs = [chief, worker]
    try:
        expect_success(chief, [worker], timeout=300)
    finally:
        stop_all(procs)
    check_complete(out, trials=2)
    for bs in (16, 64):
        assert (results.tuner_dir(out / BASE / str(bs)) / "DONE").read_text().strip() == "exhausted"
        values = sorted(json.loads((out / BASE / str(bs) / t / "metadata.json").read_text())
                        ["parameters"]["optimizer.learning_rate"] for t in ("0", "1"))
        assert values == [0.05, 0.1]
    assert "no new point after 2 trial(s)" in log_text(chief)
