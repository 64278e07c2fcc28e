"""Everything tfbsz computes about one workload, in one call: `analyze_workload`.

It ties the pieces together: steps to result with bootstrap intervals per batch size, the
regimes, the McCandlish fit (when at least 3 batch sizes reached the goal) and the best
metaparameters, and the measured gradient noise scale B_simple when the trials logged
`train/gradient_noise_scale`. `tfbsz.report` draws and tabulates its result.

Example (given a loaded `workload` from `load_workloads`)::

    result = analyze_workload(workload, Target("val/classification_error", 0.03))
    result.fit.b_crit, result.regimes.max_useful_batch_size, result.rows[0]["steps"]
"""

import dataclasses

from tfbsz.analysis.critical_batch import fit_critical_batch
from tfbsz.analysis.metaparameters import best_trial
from tfbsz.analysis.noise import measured_noise_scale
from tfbsz.analysis.regimes import classify_regimes
from tfbsz.analysis.steps_to_result import bootstrap_steps_to_result
from tfbsz.core.errors import ConfigError

__all__ = ["WorkloadAnalysis", "analyze_workload"]


@dataclasses.dataclass
class WorkloadAnalysis:
    """Rows (one dict per batch size), regimes, fit and notes for one workload and target."""

    workload: object
    target: object
    rows: list
    regimes: object        # `Regimes`, or None with fewer than 2 batch sizes reaching the goal
    fit: object            # `CriticalBatchFit`, or None with fewer than 3
    notes: list
    noise_scale: object = None  # `NoiseScaleSummary` (measured B_simple), or None without the column

    @property
    def reached(self):
        """Rows whose batch size reached the goal."""
        return [r for r in self.rows if r["steps"] is not None]


def analyze_workload(workload, target, confidence=0.9, n_resamples=2000, seed=0,
                     tolerance=0.2, min_reduction=0.1):
    """Analyses `workload` against `target` (see the module docstring).

    Args:
        workload: a `Workload` from `load_workloads`.
        target: a `Target`; its metric must be a measurement column.
        confidence: coverage of every interval. Defaults to 0.9.
        n_resamples: bootstrap resamples for steps-to-result intervals. Defaults to 2000.
        seed: bootstrap seed. Defaults to 0.
        tolerance, min_reduction: regime rules (see `classify_regimes`).

    Returns:
        `WorkloadAnalysis`.
    """
    rows, notes = [], []
    for study in workload.studies:
        estimate = bootstrap_steps_to_result(study.trials, target, confidence, n_resamples, seed)
        best = best_trial(study, target)
        rows.append({
            "batch_size": study.batch_size,
            "trials": len(study.trials),
            "reached": estimate.n_reached if estimate else 0,
            "diverged": sum(t.status == "INFEASIBLE" for t in study.trials),
            "steps": estimate.steps if estimate else None,
            "steps_low": estimate.low if estimate else None,
            "steps_high": estimate.high if estimate else None,
            "best_trial": best.trial_id if best else None,
            "learning_rate": best.learning_rate if best else None,
            "momentum": best.momentum if best else None,
            "effective_learning_rate": best.effective_learning_rate if best else None,
            "regime": None,
        })
    missed = [r["batch_size"] for r in rows if r["steps"] is None]
    if missed:
        notes.append(f"batch sizes that never reached the goal: {missed}")
    batch_sizes = [r["batch_size"] for r in rows]
    steps = [r["steps"] for r in rows]

    regimes = fit = None
    if sum(s is not None for s in steps) >= 2:
        regimes = classify_regimes(batch_sizes, steps, tolerance, min_reduction)
        by_batch = dict(zip(regimes.batch_sizes, regimes.regimes))
        for r in rows:
            r["regime"] = by_batch.get(r["batch_size"])
    else:
        notes.append("regimes need at least 2 batch sizes that reached the goal")
    try:
        fit = fit_critical_batch(batch_sizes, steps, confidence=confidence)
        notes.extend(n for n in fit.notes if not n.startswith("dropped"))
    except ConfigError as e:
        notes.append(f"no critical-batch fit: {e}")
    noise = measured_noise_scale(workload)
    for r in rows:
        r["noise_scale"] = noise.by_batch_size.get(r["batch_size"]) if noise else None
    return WorkloadAnalysis(workload, target, rows, regimes, fit, notes, noise)
