"""A small, realistic tfbsz study on disk, written in the documented layout (docs/architecture.md).

Steps to the target follow S(B) = s_min (1 + b_crit / B) for the best trial of each batch size;
other trials are slower, miss the target, or diverge. Everything is deterministic.

>>> import tempfile
>>> root = write_fixture_study(tempfile.mkdtemp() + "/momentum")
>>> sorted(p.name for p in (root / "digits" / "mlp" / "momentum").iterdir())
['1024', '16', '256', '64']
"""

import math
import pathlib

from tfbsz.records import results

TARGET = {"metric": "val/classification_error", "threshold": 0.05, "direction": "min"}
BATCH_SIZES = (16, 64, 256, 1024)
EVAL_EVERY = 10


def expected_steps_to_result(batch_size, s_min, b_crit):
    """The step at which the fixture's best trial of `batch_size` first beats the target.

    The curve carries a fixed, deterministic ±6% "tuning noise" so that fits have honest intervals.
    """
    noise = 1.0 + 0.06 * (round(math.log2(batch_size)) % 3 - 1)
    ideal = s_min * (1.0 + b_crit / batch_size) * noise
    return int(math.ceil(ideal / EVAL_EVERY) * EVAL_EVERY)


def write_fixture_study(root, optimizer="momentum", b_crit=200.0, s_min=100.0,
                        batch_sizes=BATCH_SIZES, trials_per_batch_size=4, lr_exponent=0.5):
    """Writes one study (digits / mlp / `optimizer`) under `root` and returns `root` as a Path.

    The best learning rate grows as `0.05 * (B / 16) ** lr_exponent`.
    """
    root = pathlib.Path(root)
    results.write_json(root / results.STUDY_MARKER, {
        "tfbsz_version": "0.1.0",
        "config": {"optimizer": {"name": optimizer}},
        "dataset": "digits",
        "model": "mlp",
        "optimizer": optimizer,
        "target": dict(TARGET),
        "created": "2026-11-22T00:00:00Z",
    })
    summary_rows = []
    for bs in batch_sizes:
        summary_rows.append(
            _write_batch_size(root, optimizer, bs, s_min, b_crit, trials_per_batch_size, lr_exponent))
    results.write_json(root / "summary.json", {"study": {"optimizer": optimizer}, "batch_sizes": summary_rows})
    return root


def _write_batch_size(root, optimizer, batch_size, s_min, b_crit, n_trials, lr_exponent):
    directory = results.batch_size_dir(root, "digits", "mlp", optimizer, batch_size)
    best_steps = expected_steps_to_result(batch_size, s_min, b_crit)
    max_steps = 4 * best_steps
    results.write_json(directory / "study.json", {
        "batch_size": batch_size, "dataset": "digits", "model": "mlp", "optimizer": optimizer,
        "early_stopping": False, "train_steps": max_steps,
        "parameter_configs": [{"parameter": "learning_rate", "type": "DOUBLE", "min_value": 1e-3,
                               "max_value": 10.0, "scale": "LOG_SCALE"}],
        "tfbsz": {"target": dict(TARGET), "eval_every": EVAL_EVERY, "trials": n_trials},
    })
    best_lr = 0.05 * (batch_size / 16.0) ** lr_exponent
    counts = {"reached": 0, "missed": 0, "diverged": 0}
    for i in range(n_trials):
        kind = ("best", "slow", "missed", "diverged")[i % 4]
        lr = best_lr * (1.0, 0.5, 0.1, 8.0)[i % 4] * (1.0 + 0.01 * i)
        reach_at = {"best": best_steps, "slow": 2 * best_steps, "missed": 10 * best_steps}.get(kind)
        rows, status, outcome = _measurements(batch_size, lr, reach_at, max_steps, kind == "diverged")
        counts[outcome] += 1
        steps = rows[-1]["step"]
        results.write_trial(results.trial_dir(directory, i), {"learning_rate": lr, "momentum": 0.9}, status, steps, rows, {
            "outcome": outcome,
            "steps_to_target": steps if outcome == "reached" else None,
            "wall_time_s": round(0.002 * steps, 3),
            "seed": i,
        })
    return {"batch_size": batch_size, "steps_to_result": best_steps, "best_trial": 0, "trials": n_trials,
            **counts, "best_parameters": {"learning_rate": best_lr, "momentum": 0.9}, "wall_time_s": 1.0}


def _measurements(batch_size, lr, reach_at, max_steps, diverges):
    """Evaluation rows every EVAL_EVERY steps; error decays to just under the target at `reach_at`."""
    rows = []
    if diverges:
        for step in range(EVAL_EVERY, 4 * EVAL_EVERY + 1, EVAL_EVERY):
            rows.append(_row(step, batch_size, lr, 0.9 if step < 4 * EVAL_EVERY else float("nan")))
        return rows, results.STATUS_INFEASIBLE, "diverged"
    # The error crosses the threshold half an evaluation before `reach_at`.
    rate = math.log(0.9 / TARGET["threshold"]) / (reach_at - EVAL_EVERY / 2)
    for step in range(EVAL_EVERY, max_steps + 1, EVAL_EVERY):
        error = 0.9 * math.exp(-rate * step)
        rows.append(_row(step, batch_size, lr, error))
        if error < TARGET["threshold"]:
            return rows, results.STATUS_COMPLETE, "reached"
    return rows, results.STATUS_COMPLETE, "missed"


def _row(step, batch_size, lr, error):
    return {
        "step": step,
        "examples_seen": step * batch_size,
        "wall_time_s": round(0.002 * step, 3),
        "learning_rate": lr,
        "train/cross_entropy_error": 2.3 * error if math.isfinite(error) else error,
        "val/cross_entropy_error": 2.5 * error if math.isfinite(error) else error,
        "val/classification_error": error,
        "val/accuracy": 1.0 - error if math.isfinite(error) else error,
    }
