"""Best metaparameters against batch size, and the linear and square-root scaling heuristics.

For each batch size the *best trial* is the COMPLETE trial that reached the goal first (ties
broken by numeric trial id, trial 9 before trial 10, as Shallue et al.'s sort by step then trial:
`tfbsz.records.summary.best_result`). Its learning rate, momentum and
*effective learning rate* ``lr / (1 - momentum)`` are read from `metadata.json` parameters whose
name is `learning_rate` / `momentum` or ends in `.learning_rate` / `/momentum` etc. (so both
Shallue et al.'s flat names and dotted tfbsz names work).

The heuristics start from the smallest batch size B0 with a value v0:
linear ``v0 * B / B0`` (Goyal et al. 2017) and square root ``v0 * sqrt(B / B0)`` (Krizhevsky 2014).
Shallue et al. found that best values follow neither consistently.

Example:

>>> scaling_heuristics([32, 128], 0.1)["linear"]
[0.1, 0.4]
"""

import dataclasses
import math

from tfbsz.analysis.inputs import is_number
from tfbsz.core.errors import ConfigError
from tfbsz.records.summary import best_result

__all__ = ["BestTrial", "best_trial", "find_parameter", "best_metaparameters", "scaling_heuristics"]


@dataclasses.dataclass(frozen=True)
class BestTrial:
    """The fastest trial of one batch size and its key metaparameters (None when absent)."""

    batch_size: int
    trial_id: object  # an int (the trial folder's number), or a text id
    steps: int
    parameters: dict
    learning_rate: float
    momentum: float
    effective_learning_rate: float


def find_parameter(parameters, name):
    """Value of `name` in `parameters`, matching exact keys first, then keys ending in .name or /name."""
    if name in parameters:
        return parameters[name]
    for key in sorted(parameters):
        if key.endswith("." + name) or key.endswith("/" + name):
            return parameters[key]
    return None


def _number(value):
    return float(value) if is_number(value) and math.isfinite(value) else None


def best_trial(study, target):
    """`BestTrial` of one `BatchSizeStudy`, or None when no COMPLETE trial reached `target`."""
    found = best_result(study.trials, target)
    if found is None:
        return None
    step, trial_id = found
    trial = next(t for t in study.trials if t.trial_id == trial_id)
    lr = _number(find_parameter(trial.parameters, "learning_rate"))
    momentum = _number(find_parameter(trial.parameters, "momentum"))
    effective = None
    if lr is not None:
        effective = lr / (1.0 - momentum) if momentum is not None and momentum < 1.0 else lr
    return BestTrial(study.batch_size, trial_id, step, dict(trial.parameters), lr, momentum, effective)


def best_metaparameters(workload, target):
    """List of `BestTrial`, one per batch size that reached `target`, by increasing batch size."""
    found = (best_trial(study, target) for study in workload.studies)
    return [b for b in found if b is not None]


def scaling_heuristics(batch_sizes, base_value, base_batch_size=None):
    """Linear and square-root scaling of `base_value` from `base_batch_size` (default: smallest).

    Returns {"linear": [...], "sqrt": [...]} aligned with `batch_sizes`.
    """
    batch_sizes = list(batch_sizes)
    if not batch_sizes or any(not is_number(b) or b <= 0 for b in batch_sizes):
        raise ConfigError(f"batch_sizes: expected a non-empty list of positive numbers, got {batch_sizes!r}")
    if not is_number(base_value) or not base_value > 0:
        raise ConfigError(f"base_value: expected a positive number, got {base_value!r}")
    b0 = min(batch_sizes) if base_batch_size is None else base_batch_size
    if not is_number(b0) or b0 <= 0:
        raise ConfigError(f"base_batch_size: expected a positive number, got {b0!r}")
    return {
        "linear": [float(base_value * b / b0) for b in batch_sizes],
        "sqrt": [float(base_value * math.sqrt(b / b0)) for b in batch_sizes],
    }
