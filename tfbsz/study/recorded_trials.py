"""Trials that finished on disk before the oracle recorded them.

A trial's files are written (`measurements.csv`, then `metadata.json`) before the oracle hears
that it ended. A study killed in between resumes with that trial back in the oracle's queue,
under the same id and with the same metaparameters. Training it again would waste its time and
log its TensorBoard events twice; `finished_result` instead reads the finished trial back, so
the oracle records it as it is.

Only a trial whose `metadata.json` is whole and whose recorded parameters equal the ones the
oracle sends now is kept; anything else in the folder is stale and is trained again.

Example:

>>> import tempfile, pathlib
>>> from tfbsz.records import results
>>> from tfbsz.study.recorded_trials import finished_result
>>> trial = pathlib.Path(tempfile.mkdtemp()) / "0"
>>> results.write_trial(trial, {"optimizer.learning_rate": 0.1}, "COMPLETE", 20,
...     [{"step": 20, "val/classification_error": 0.05}],
...     {"outcome": "reached", "steps_to_target": 20, "best_value": 0.05, "max_steps": 100,
...      "wall_time_s": 1.5, "seed": 7})
>>> kept = finished_result(trial, {"optimizer.learning_rate": 0.1})
>>> kept.outcome, kept.steps_to_target, kept.steps, kept.extra["seed"]
('reached', 20, 20, 7)
>>> finished_result(trial, {"optimizer.learning_rate": 0.2}) is None  # other values: stale
True
"""

import json
import pathlib

from tfbsz.records import results

__all__ = ["finished_result"]

# Keys of metadata.json's "tfbsz" entry that are TrialResult fields, not extras.
_RESULT_KEYS = ("outcome", "steps_to_target", "best_value", "max_steps", "wall_time_s")
_OUTCOMES = ("reached", "missed", "diverged", "beaten")


def _normalised(parameters):
    # The form metadata.json stores (NumPy scalars as Python numbers; floats round-trip exactly).
    return json.loads(json.dumps(results.json_safe(dict(parameters))))


def finished_result(trial_dir, recorded_parameters):
    """The `TrialResult` of a trial already finished in `trial_dir`, or None.

    Args:
        trial_dir: the trial's folder.
        recorded_parameters: the parameters the trial would record now (searched values, fixed
            values, learning rate and momentum), as `StudyHyperModel.recorded_parameters` makes them.

    Returns None when the folder holds no whole `metadata.json`, when its parameters differ, or
    when it lacks what the oracle needs (an outcome, the budget).
    """
    from tfbsz.study.trainer import TrialResult

    trial_dir = pathlib.Path(trial_dir)
    try:
        metadata = results.read_json(trial_dir / "metadata.json")
    except (OSError, ValueError):
        return None
    if not isinstance(metadata, dict) or metadata.get("parameters") != _normalised(recorded_parameters):
        return None
    extra = metadata.get("tfbsz")
    if not isinstance(extra, dict) or extra.get("outcome") not in _OUTCOMES or not extra.get("max_steps"):
        return None
    csv_path = trial_dir / "measurements.csv"
    try:
        measurements = results.read_measurements(csv_path) if csv_path.exists() else []
    except (OSError, ValueError):
        return None
    return TrialResult(
        outcome=extra["outcome"],
        steps_to_target=extra.get("steps_to_target"),
        steps=int(metadata.get("steps") or 0),
        max_steps=int(extra["max_steps"]),
        measurements=measurements,
        best_value=extra.get("best_value"),
        wall_time_s=float(extra.get("wall_time_s") or 0.0),
        extra={k: v for k, v in extra.items() if k not in _RESULT_KEYS},
    )
