"""The measured gradient noise scale B_simple of a workload, to compare with the fitted B_crit.

When a study runs with `noise_scale.enabled: true`, every measurement row of every trial gets the
column `train/gradient_noise_scale` (the `GradientNoiseScale` callback's running estimate, see
docs/analysis.md section 8). McCandlish et al. (2018) predict that this simple noise scale
approximates the critical batch size, so tfbsz reports it next to the fitted B_crit.

Rule (`measured_noise_scale`): each trial contributes the **last finite value** of the column (the
estimator is a moving average, so its last value is its best-converged one, measured closest to
the end of training), and the workload's B_simple is the **median over trials** that have one.
The median, rather than the mean, keeps one diverged or barely-trained trial (whose noise scale
can be tiny, huge or infinite) from dominating. Per batch size, the same median over that batch
size's trials is also given. Keras-free (NumPy only).

>>> import numpy as np
>>> from tfbsz.analysis.study_files import BatchSizeStudy, Trial, Workload
>>> col = NOISE_SCALE_COLUMN
>>> trials = [Trial("0", {}, "COMPLETE", {col: np.array([10.0, 30.0])}),
...           Trial("1", {}, "COMPLETE", {col: np.array([20.0, np.nan])}),
...           Trial("2", {}, "COMPLETE", {col: np.array([50.0])})]
>>> w = Workload("r", "d", "m", "o", [BatchSizeStudy(16, trials, {}, "")])
>>> ns = measured_noise_scale(w)
>>> ns.b_simple, ns.trials, ns.by_batch_size
(30.0, 3, {16: 30.0})
"""

import dataclasses
import math

import numpy as np

__all__ = ["NOISE_SCALE_COLUMN", "NoiseScaleSummary", "last_finite", "measured_noise_scale"]

NOISE_SCALE_COLUMN = "train/gradient_noise_scale"


@dataclasses.dataclass
class NoiseScaleSummary:
    """B_simple of a workload: median over trials of each trial's last finite noise scale."""

    b_simple: float        # median over `trials` trials
    trials: int            # trials with a finite value
    by_batch_size: dict    # {batch size: median over that batch size's trials}
    column: str = NOISE_SCALE_COLUMN


def last_finite(values):
    """The last finite number of `values` (NaN, inf and None skipped), or None."""
    for value in reversed(list(values)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            return number
    return None


def measured_noise_scale(workload, column=NOISE_SCALE_COLUMN):
    """A `NoiseScaleSummary` for `workload`, or None when no trial has a finite `column` value."""
    per_batch, everything = {}, []
    for study in workload.studies:
        values = [last_finite(t.columns[column]) for t in study.trials if column in t.columns]
        values = [v for v in values if v is not None]
        if values:
            per_batch[study.batch_size] = float(np.median(values))
            everything.extend(values)
    if not everything:
        return None
    return NoiseScaleSummary(float(np.median(everything)), len(everything), per_batch, column)
