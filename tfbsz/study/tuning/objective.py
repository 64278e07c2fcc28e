"""The tuning objective: steps to reach the target, minimised.

A trial that misses the target or diverges still gets a finite score that ranks it after every
trial that reached the target (KerasTuner drops FAILED trials and browsers reject `Infinity`):

* reached:  the steps it needed (<= max_steps);
* missed:   2 * max_steps * (1 + gap), where gap in [0, 1] is how far its best measurement
            stayed from the threshold, relative to the threshold, so near-misses rank first;
* beaten:   as missed (stopped before the target once another trial had reached it in fewer
            steps, `budget.stop_when_beaten`);
* diverged: 5 * max_steps.

Example:

>>> from tfbsz.study.tuning.objective import objective_value
>>> objective_value("reached", 120, 1000, None, 0.1)
120.0
>>> objective_value("missed", None, 1000, 0.15, 0.1)
3000.0
>>> objective_value("diverged", None, 1000, None, 0.1)
5000.0
"""

import math

__all__ = ["OBJECTIVE_NAME", "objective_value"]

OBJECTIVE_NAME = "steps_to_target"


def objective_value(outcome, steps_to_target, max_steps, best_value, threshold):
    """The score KerasTuner minimises for one trial (see the module docstring)."""
    if outcome == "reached":
        return float(steps_to_target)
    if outcome in ("missed", "beaten"):
        gap = 1.0
        if best_value is not None and math.isfinite(best_value):
            scale = abs(threshold) if threshold else 1.0
            gap = min(1.0, abs(best_value - threshold) / scale)
        return 2.0 * max_steps * (1.0 + gap)
    return 5.0 * max_steps
