"""Steps to result and trial counts per batch size, from the trials read by `tfbsz.records.results`.

Pure Python, no Keras. The one definition of steps to result used by `summary.json`, the report,
the analysis and the dashboard (Shallue et al.'s `compute_steps_to_result` over the trials their
loader reads by default): among the **COMPLETE** trials of a batch size, the measurement rows
ordered by (step, trial id); the first row whose metric strictly beats the threshold gives the
steps to result and the best trial. INCOMPLETE trials (stopped early) and INFEASIBLE ones
(diverged) never count.

Example:

>>> from tfbsz.core.targets import Target
>>> from tfbsz.records.results import Trial
>>> from tfbsz.records.summary import best_result, first_step_reaching
>>> target = Target("m", 0.1, "min")
>>> a = Trial(0, {}, "COMPLETE", [{"step": 10, "m": 0.5}, {"step": 20, "m": 0.09}])
>>> b = Trial(1, {}, "INCOMPLETE", [{"step": 10, "m": 0.05}])
>>> first_step_reaching(a, target), first_step_reaching(b, target)
(20, 10)
>>> best_result([a, b], target)        # (steps to result, best trial): the INCOMPLETE one does not count
(20, 0)
"""

import csv
import math
import pathlib

from tfbsz.core.targets import Target
from tfbsz.records import results
from tfbsz.records.results import trial_order_key

__all__ = [
    "OUTCOMES",
    "SUMMARY_FIELDS",
    "as_target",
    "best_result",
    "first_step_reaching",
    "outcome_from_first_step",
    "summarize_batch_size",
    "summarize_study",
    "trial_order_key",
    "trial_outcome",
    "write_summary",
]

SUMMARY_FIELDS = (
    "batch_size",
    "steps_to_result",
    "best_trial",
    "trials",
    "reached",
    "missed",
    "diverged",
    "incomplete",
    "beaten",
    "wall_time_s",
    "best_parameters",
)
# "beaten": stopped once it could no longer beat the best trial (`budget.stop_when_beaten`),
# counted apart from "missed".
OUTCOMES = ("reached", "missed", "diverged", "incomplete", "beaten")


def as_target(target):
    """A `tfbsz.core.targets.Target` from a Target or a `{metric, threshold, direction}` dict."""
    return target if isinstance(target, Target) else Target.from_dict(target)


def _step(value):
    """A finite numeric step as int, else None (text, blanks, NaN and infinities are no step)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        return int(value) if math.isfinite(value) else None
    except OverflowError:
        return None


def first_step_reaching(trial, target):
    """The first measured step of `trial` whose metric strictly beats `target`, or None.

    Args:
        trial: a `tfbsz.records.results.Trial` (any status: this is the trial's own record).
        target: a `Target` or a `{metric, threshold, direction}` dict.
    """
    target = as_target(target)
    metric, threshold, lower = target.metric, target.threshold, target.direction == "min"
    for row in trial.measurements:  # in step order
        value = row.get(metric)
        if value.__class__ is float or value.__class__ is int:  # the common case, decided here
            hit = math.isfinite(value) and (value < threshold if lower else value > threshold)
        else:
            hit = target.beats(value)
        if hit:
            step = _step(row.get("step"))
            if step is not None:
                return step
    return None


def _best(pairs):
    """`(steps, trial id)` of the smallest (step, trial id) among `(trial, first step)` pairs of
    COMPLETE trials, or None."""
    best = None
    for trial, step in pairs:
        if step is not None and trial.counts_toward_result:
            key = (step, trial_order_key(trial.trial_id))
            if best is None or key < best[0]:
                best = (key, trial.trial_id)
    return None if best is None else (best[0][0], best[1])


def best_result(trials, target):
    """`(steps, trial id)` of the first (step, trial id) row of a COMPLETE trial that beats
    `target`, or None when no COMPLETE trial beats it."""
    target = as_target(target)
    return _best((t, first_step_reaching(t, target)) for t in trials if t.counts_toward_result)


def outcome_from_first_step(trial, first_step):
    """`diverged` (INFEASIBLE, or recorded so by tfbsz), `incomplete` (any other status but
    COMPLETE), else `reached` or `missed` by whether the trial has a `first_step` beating the target
    (`beaten` instead of missed for a trial tfbsz stopped as beaten)."""
    if trial.status == results.STATUS_INFEASIBLE or trial.extra.get("outcome") == "diverged":
        return "diverged"
    if trial.status != results.STATUS_COMPLETE:
        return "incomplete"
    if first_step is None and trial.extra.get("outcome") == "beaten":
        return "beaten"
    return "reached" if first_step is not None else "missed"


def trial_outcome(trial, target):
    """`outcome_from_first_step` for `target`: diverged, incomplete, reached, missed or beaten."""
    return outcome_from_first_step(trial, first_step_reaching(trial, target))


def summarize_batch_size(bs_study, target):
    """One summary row (dict) for a `results.BatchSizeStudy` and a target (Target or dict)."""
    target = as_target(target)
    pairs = [(trial, first_step_reaching(trial, target)) for trial in bs_study.trials]
    counts = dict.fromkeys(OUTCOMES, 0)
    wall = 0.0
    for trial, step in pairs:
        counts[outcome_from_first_step(trial, step)] += 1
        seconds = trial.extra.get("wall_time_s")
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and math.isfinite(seconds):
            wall += float(seconds)
    found = _best(pairs)
    best = None
    if found is not None:
        best = next(t for t in bs_study.trials if t.trial_id == found[1])
    from tfbsz.analysis.search_edges import search_edges  # noqa: PLC0415  (the analysis's rule)

    edges = search_edges(best.parameters, bs_study.config.get("parameter_configs")) if best else {}
    return {
        "batch_size": bs_study.batch_size,
        "steps_to_result": found[0] if found else None,
        "best_trial": found[1] if found else None,
        "trials": len(bs_study.trials),
        **counts,
        "wall_time_s": round(wall, 3),
        "best_parameters": dict(best.parameters) if best else {},
        "at_search_edge": sorted(edges),
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

    def dump(f):
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

    results.atomic_write(root / "summary.csv", dump, newline="")
