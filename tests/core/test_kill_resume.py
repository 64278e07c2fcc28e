"""SIGKILL at random moments, again and again: the study still ends with every trial once and
with the same per-trial results as a study that was never interrupted.

A tiny study (two batch sizes, four trials each, every trial trains its whole short budget) runs
once uninterrupted, its trials' ends timed. Then the same study is started, killed with SIGKILL,
resumed with `--resume`, killed again, ... ten times, and finally resumed to the end. Each run is
killed a random time after its start or after the end of its first trial (random, but shorter
than the quickest trial, so each run gets on by at most about one trial and the kills walk
through the whole study without finishing it). So kills land everywhere: in start-up, in
training, right after a trial's files (its TensorBoard events, KerasTuner's files, the next
trial's creation), between batch sizes (the summary). The random moments come from a seeded
generator; the seed, the moments and where each kill landed are in every failure message.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from helpers import ROOT, run_cli, subprocess_env
from tfbsz.records import results

pytestmark = pytest.mark.slow

KILLS = 10
TRIALS = 8  # in all: two batch sizes, four each
SEED = 20240613
BASE = "digits/mlp/momentum"

CONFIG = """\
name: kill
seed: 3
data: {name: digits}
model: {name: mlp, hidden_units: [16]}
optimizer: {name: momentum, learning_rate: 0.1, momentum: 0.9}
target: {metric: val/classification_error, threshold: 0.0}
budget: {max_steps: 40}
eval_every: 10
batch_sizes: [16, 64]
search:
  trials: 4
  space:
    optimizer.learning_rate: {min: 0.02, max: 0.3, scale: log}
logging: {tensorboard: true, progress: plain}
"""


def args(config, out, resume):
    return ["--config", str(config), "--output", str(out), "--progress", "plain"] + (["--resume"] if resume else [])


def started(log):
    """Whether the study has begun (the progress display's first study line)."""
    return "study: batch sizes" in log.read_text()


def trial_ends(log):
    return sum(1 for line in log.read_text().splitlines()
               if any(word in line for word in ("] reached", "] missed", "] diverged")))


def run_and_kill(config, out, log, resume, after_ends=0, delay=None, timeout=300):
    """Starts the study; SIGKILLs it `delay` s after its start (`after_ends=0`) or after the end of
    its first trial (`after_ends=1`); `delay=None` lets it finish.

    Returns `(finished, [seconds from the study's start to each trial's end])`.
    """
    with open(log, "w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "tfbsz.run", *args(config, out, resume)], cwd=ROOT,
                                env=subprocess_env(), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while not started(log) and proc.poll() is None:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.02)
            begun, ends, kill_at = time.monotonic(), [], None
            while proc.poll() is None:
                now = time.monotonic()
                assert now < deadline, f"not done within {timeout} s:\n{log.read_text()[-3000:]}"
                while trial_ends(log) > len(ends):
                    ends.append(now - begun)
                if delay is not None and kill_at is None and len(ends) >= after_ends:
                    kill_at = now + delay
                if kill_at is not None and now >= kill_at:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
                    return False, ends
                time.sleep(0.005)
            assert proc.returncode == 0, log.read_text()[-3000:]
            return True, ends
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


def per_trial(out):
    """{(batch size, trial id): everything measured about the trial except wall times}."""
    trials = {}
    for metadata in sorted(out.glob(f"{BASE}/*/*/metadata.json")):
        trial_dir = metadata.parent
        meta = json.loads(metadata.read_text())
        meta["tfbsz"].pop("wall_time_s", None)
        rows = (trial_dir / "measurements.csv").read_text().splitlines()
        header = rows[0].split(",")
        wall = header.index("wall_time_s")
        rows = [",".join(c for i, c in enumerate(r.split(",")) if i != wall) for r in rows]
        trials[(int(trial_dir.parent.name), trial_dir.name)] = (meta, rows)
    return trials


def tensorboard_runs(out):
    """{run folder: number of event files}."""
    counts = {}
    for path in (out / "tensorboard").rglob("events.out.tfevents.*"):
        key = path.parent.relative_to(out / "tensorboard").as_posix()
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_results(tmp_path):
    config = tmp_path / "kill.yaml"
    config.write_text(CONFIG)
    reference = tmp_path / "reference"
    finished, ends = run_and_kill(config, reference, tmp_path / "reference.log", resume=False)
    assert finished and len(ends) == TRIALS
    first_trial = ends[0]  # a fresh process's first trial, start-up included
    quickest = min(b - a for a, b in zip(ends, ends[1:]))  # a later trial, with its writes
    expected = per_trial(reference)
    assert sorted(expected) == [(bs, str(i)) for bs in (16, 64) for i in range(TRIALS // 2)]

    rng = random.Random(SEED)
    out = tmp_path / "killed"
    kills, moments, landed = 0, [], []
    while kills < KILLS:
        done = len(list(out.glob(f"{BASE}/*/*/metadata.json")))
        # Get on by a trial while more than one trial is left; then kill within the next one.
        after_ends = 1 if done < TRIALS - 1 and rng.random() < 0.8 else 0
        # A resumed process's first trial (start-up included) took as little as 0.76 of the
        # reference's first; killing within half of it keeps a kill from coming after the last trial.
        delay = rng.uniform(0.0, 0.8 * quickest if after_ends else 0.5 * first_trial)
        moments.append((after_ends, round(delay, 2)))
        log = tmp_path / f"run{len(moments)}.log"
        finished, _ = run_and_kill(config, out, log, resume=bool(kills), after_ends=after_ends, delay=delay)
        landed.append((log.read_text().strip().splitlines() or ["(nothing)"])[-1][:60])
        if finished:
            break  # the study ended before this kill: it is complete, and no more kills are possible
        kills += 1
    context = f"seed {SEED}, kills (after trial ends, s) {moments}, at: {landed}"
    if kills < KILLS:
        pytest.fail(f"the study finished after {kills} kills, not {KILLS}; {context}")
    final = run_cli(args(config, out, resume=True), timeout=300)
    assert final.returncode == 0, f"{context}\n{final.stderr[-3000:]}"

    got = per_trial(out)
    assert sorted(got) == sorted(expected), context  # every trial exactly once
    for key in expected:
        assert got[key] == expected[key], f"trial {key} differs; {context}"
    for bs in (16, 64):
        project = results.tuner_dir(out / BASE / str(bs))
        statuses = [json.loads(p.read_text())["status"] for p in sorted(project.glob("trial_*/trial.json"))]
        assert statuses == ["COMPLETED"] * (TRIALS // 2), context
    assert not [p for bs in (16, 64) for p in results.failure_paths(out / BASE / str(bs))], context
    summary = json.loads((out / "summary.json").read_text())
    reference_summary = json.loads((reference / "summary.json").read_text())
    for row, ref in zip(summary["batch_sizes"], reference_summary["batch_sizes"]):
        assert {k: v for k, v in row.items() if k != "wall_time_s"} == \
            {k: v for k, v in ref.items() if k != "wall_time_s"}, context
    assert tensorboard_runs(out) == tensorboard_runs(reference), context  # no event logged twice
