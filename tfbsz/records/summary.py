"""Summaries of a study's files: steps to result and trial counts per batch size.

Pure Python over `tfbsz.records.results`; no Keras. Steps to result follows Shallue et al.'s
`compute_steps_to_result`: over all measurements of all trials of a batch size, the smallest
step whose metric strictly beats the threshold.

Example:

>>> from tfbsz.records.results import Trial
>>> from tfbsz.records.summary import first_step_reaching
>>> t = Trial("0", None, {}, "COMPLETE", 30, [{"step": 10, "m": 0.5}, {"step": 20, "m": 0.09}], {})
>>> first_step_reaching(t, "m", 0.1, "min")
20
"""

import csv
import math
import pathlib

from tfbsz.records import results

__all__ = ["first_step_beating", "first_step_reaching", "summarize_batch_size", "summarize_study", "write_summary", "SUMMARY_FIELDS"]

SUMMARY_FIELDS = (
    "batch_size",
    "steps_to_result",
    "best_trial",
    "trials",
    "reached",
    "missed",
    "diverged",
    "beaten",
    "wall_time_s",
    "best_parameters",
)


# How a tfbsz trial ended; "beaten": stopped once it could no longer beat the best trial
# (`budget.stop_when_beaten`), counted apart from "missed".
OUTCOMES = ("reached", "missed", "diverged", "beaten")


def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _beats(value, threshold, direction):
    if not _finite(value):
        return False
    return value < threshold if direction == "min" else value > threshold


def first_step_beating(rows, metric, threshold, direction):
    """The smallest `step` of measurement rows (dicts) whose `metric` strictly beats `threshold`.

    None when no row does. Rows without a numeric step are ignored; their order does not matter.
    """
    steps = [row.get("step") for row in rows if _beats(row.get(metric), threshold, direction)]
    steps = [int(step) for step in steps if _finite(step)]
    return min(steps) if steps else None


def first_step_reaching(trial, metric, threshold, direction):
    """The first measured step of `trial` whose `metric` strictly beats `threshold`, or None."""
    return first_step_beating(trial.measurements, metric, threshold, direction)


def _outcome(trial, reached_step):
    outcome = trial.outcome
    if outcome in OUTCOMES:
        return outcome
    if trial.status == results.STATUS_INFEASIBLE:
        return "diverged"
    return "reached" if reached_step is not None else "missed"


def summarize_batch_size(bs_study, target):
    """One summary row (dict) for a `results.BatchSizeStudy` and a target dict."""
    metric, threshold, direction = target["metric"], float(target["threshold"]), target["direction"]
    counts = dict.fromkeys(OUTCOMES, 0)
    best = None  # (steps, trial)
    wall = 0.0
    for trial in bs_study.trials:
        step = first_step_reaching(trial, metric, threshold, direction)
        counts[_outcome(trial, step)] += 1
        wall += float(trial.extra.get("wall_time_s") or 0.0)
        if step is not None and (best is None or (step, trial.trial_id) < (best[0], best[1].trial_id)):
            best = (step, trial)
    return {
        "batch_size": bs_study.batch_size,
        "steps_to_result": best[0] if best else None,
        "best_trial": best[1].trial_id if best else None,
        "trials": len(bs_study.trials),
        **counts,
        "wall_time_s": round(wall, 3),
        "best_parameters": dict(best[1].parameters) if best else {},
    }


def summarize_study(study, target=None):
    """Summary dict of a loaded `results.Study`: `{"study": meta, "batch_sizes": [rows]}`."""
    target = target or study.target
    if not target:
        raise ValueError("the study declares no target; pass one as {metric, threshold, direction}")
    rows = [summarize_batch_size(bs, target) for bs in study.batch_sizes.values()]
    return {"study": dict(study.meta), "batch_sizes": rows}


def write_summary(root, summary):
    """Writes `summary.json` and `summary.csv` under `root`."""
    root = pathlib.Path(root)
    results.write_json(root / "summary.json", summary)
    tmp = root / ".summary.csv.tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(SUMMARY_FIELDS)
        for row in summary["batch_sizes"]:
            values = []
            for field in SUMMARY_FIELDS:
                value = row.get(field)
                if field == "best_parameters":
                    value = ";".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items())
                values.append("" if value is None else value)
            writer.writerow(values)
    tmp.replace(root / "summary.csv")
