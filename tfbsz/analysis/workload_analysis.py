"""Everything tfbsz computes about one workload, in one call: `analyze_workload`.

It ties the pieces together: steps to result per batch size, one bootstrap over trials that gives
every interval (`scaling_intervals`: each batch size's search-luck interval, B_crit, S_min and
the regime boundaries, curve refitted per resample), the regimes, the McCandlish fit with its
profile-likelihood interval, the best metaparameters, search-edge flags, search saturation, the
first-evaluation flag, and the measured gradient noise scale B_simple near the goal.
`tfbsz.report` draws and tabulates its result.

Example (given a loaded `workload` from `load_workloads`)::

    result = analyze_workload(workload, Target("val/classification_error", 0.03))
    result.fit.b_crit, result.intervals.b_crit, result.regimes.max_useful_batch_size
    result.rows[0]["steps"], result.rows[0]["steps_low"], result.rows[0]["at_search_edge"]
"""

import dataclasses
import math

import numpy as np

from tfbsz.analysis.critical_batch import fit_critical_batch
from tfbsz.analysis.inputs import check_confidence, check_resamples, is_number
from tfbsz.analysis.metaparameters import best_trial
from tfbsz.analysis.noise import measured_noise_scale
from tfbsz.analysis.regimes import classify_regimes
from tfbsz.analysis.saturation import search_saturation
from tfbsz.analysis.scaling_intervals import scaling_intervals
from tfbsz.analysis.search_edges import WIDEN_HINT, search_edges
from tfbsz.analysis.steps_to_result import first_steps, resampled_trials
from tfbsz.core.errors import ConfigError

__all__ = ["WorkloadAnalysis", "analyze_workload"]


@dataclasses.dataclass
class WorkloadAnalysis:
    """Rows (one dict per batch size), regimes, fit, intervals and notes for one workload and target."""

    workload: object
    target: object
    rows: list
    regimes: object        # `Regimes`, or None with fewer than 2 batch sizes reaching the goal
    fit: object            # `CriticalBatchFit` (profile-likelihood intervals), or None with fewer than 3
    notes: list
    noise_scale: object = None    # `NoiseScaleSummary` (measured B_simple near the goal), or None
    intervals: object = None      # `ScalingIntervals` (bootstrap over trials), or None
    warnings: list = dataclasses.field(default_factory=list)   # one line each: act on these
    saturation: list = dataclasses.field(default_factory=list)  # `SearchSaturation` per batch size

    @property
    def reached(self):
        """Rows whose batch size reached the goal."""
        return [r for r in self.rows if r["steps"] is not None]


def _first_evaluation_hit(study, best):
    """Whether the best trial beat the target at its very first evaluation (step 0 rows aside)."""
    trial = next(t for t in study.trials if t.trial_id == best.trial_id)
    steps = [s for s in trial.column("step") if is_number(s) and math.isfinite(s) and s > 0]
    return bool(steps) and best.steps <= min(steps)


def analyze_workload(workload, target, confidence=0.9, n_resamples=2000, seed=0,
                     tolerance=0.2, min_reduction=0.1):
    """Analyses `workload` against `target` (see the module docstring).

    Args:
        workload: a `Workload` from `load_workloads`.
        target: a `Target`; its metric must be a measurement column.
        confidence: coverage of every interval. Defaults to 0.9.
        n_resamples: bootstrap resamples over trials. Defaults to 2000.
        seed: bootstrap seed. Defaults to 0.
        tolerance, min_reduction: regime rules (see `classify_regimes`).

    Returns:
        `WorkloadAnalysis`.
    """
    confidence = check_confidence(confidence)
    n_resamples = check_resamples(n_resamples)
    rows, notes, warnings, saturation, firsts = [], [], [], [], []
    for study in workload.studies:
        steps = first_steps(study.trials, target)
        firsts.append(steps)
        best = best_trial(study, target)
        edges = search_edges(best.parameters, study.config.get("parameter_configs")) if best else {}
        trial_ids = [t.trial_id for t in resampled_trials(study.trials)]
        saturation.append(search_saturation(study.batch_size, trial_ids, steps, min_reduction))
        reached = int(np.isfinite(steps).sum())
        rows.append({
            "batch_size": study.batch_size,
            "trials": len(study.trials),
            "reached": reached,
            "diverged": sum(t.status == "INFEASIBLE" for t in study.trials),
            "steps": best.steps if best else None,
            "steps_low": None,
            "steps_high": None,
            "best_trial": best.trial_id if best else None,
            "learning_rate": best.learning_rate if best else None,
            "momentum": best.momentum if best else None,
            "effective_learning_rate": best.effective_learning_rate if best else None,
            "regime": None,
            "at_search_edge": sorted(edges),
            "search_edges": edges,
            "first_evaluation_hit": bool(best) and _first_evaluation_hit(study, best),
            "saturated": saturation[-1].saturated,
        })
    missed = [r["batch_size"] for r in rows if r["steps"] is None]
    if missed:
        notes.append(f"batch sizes that never reached the goal: {missed} (they bound the maximal useful batch size)")
    batch_sizes = [r["batch_size"] for r in rows]
    steps = [r["steps"] for r in rows]

    intervals = None
    if any(r["steps"] is not None for r in rows):
        intervals = scaling_intervals(batch_sizes, firsts, confidence, n_resamples, seed, tolerance, min_reduction)
        for r in rows:
            if r["steps"] is not None:
                r["steps_low"], r["steps_high"] = intervals.steps[r["batch_size"]]
        if intervals.fitted < 1.0:
            notes.append(f"{100 * (1 - intervals.fitted):.0f}% of bootstrap resamples had fewer than 3 batch sizes "
                         f"reaching the goal; the B_crit and S_min intervals are over the others")

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

    edge_rows = [r for r in rows if r["at_search_edge"]]
    if edge_rows:
        listed = "; ".join(f"{r['batch_size']}: " + ", ".join(f"{name} ({side})" for name, side in r["search_edges"].items())
                           for r in edge_rows)
        warnings.append(f"best trial at the edge of the search space (outer eighth) at batch size {listed}: {WIDEN_HINT}")
    first_hits = [r["batch_size"] for r in rows if r["first_evaluation_hit"]]
    if first_hits:
        warnings.append(f"target reached at the first evaluation at batch sizes {first_hits}: their steps to result are "
                        f"only an upper bound; evaluate earlier (eval_every: auto) or set a harder target")
    warnings.extend(s.warning for s in saturation if s.warning)

    noise = measured_noise_scale(workload, target, confidence)
    for r in rows:
        r["noise_scale"] = noise.by_batch_size.get(r["batch_size"]) if noise else None
    if noise and noise.infinite:
        notes.append(f"{noise.infinite} of {noise.trials} noise-scale values at the goal are infinite (gradient signal "
                     f"below the noise): B_simple exceeds what the callback's big batch resolves; raise noise_scale.big_batch")
    return WorkloadAnalysis(workload, target, rows, regimes, fit, notes, noise, intervals, warnings, saturation)
