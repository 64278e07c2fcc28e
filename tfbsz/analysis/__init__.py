"""Scaling analysis of batch-size studies: steps to result, regimes, critical batch size.

Keras-free (NumPy, SciPy): works on any study tree in Shallue et al.'s layout, including their
released data. See docs/analysis.md for the rules and the statistics.

Example:

>>> from tfbsz.analysis import fit_critical_batch
>>> fit = fit_critical_batch([64, 128, 256, 512, 1024], [5000 * (1 + 300 / b) for b in [64, 128, 256, 512, 1024]])
>>> round(fit.b_crit)
300
"""

from tfbsz.analysis.critical_batch import CriticalBatchFit, fit_critical_batch, fit_log_curves
from tfbsz.analysis.goals import default_goals, goal_sensitivity, workload_steps
from tfbsz.analysis.metaparameters import (
    BestTrial,
    best_metaparameters,
    best_trial,
    find_parameter,
    scaling_heuristics,
)
from tfbsz.analysis.noise import NoiseScaleSummary, measured_noise_scale, summarize_noise_scale
from tfbsz.analysis.regimes import Regimes, classify_regimes, perfect_scaling_line, regime_boundaries
from tfbsz.analysis.saturation import SearchSaturation, search_saturation
from tfbsz.analysis.scaling_intervals import ScalingIntervals, scaling_intervals
from tfbsz.analysis.search_edges import search_edges
from tfbsz.analysis.steps_to_result import (
    StepsEstimate,
    bootstrap_steps_to_result,
    first_step_reaching,
    first_steps,
    steps_to_result,
)
from tfbsz.analysis.study_files import (
    BatchSizeStudy,
    Target,
    Trial,
    Workload,
    default_direction,
    load_workloads,
)
from tfbsz.analysis.workload_analysis import WorkloadAnalysis, analyze_workload

__all__ = [
    "BatchSizeStudy",
    "BestTrial",
    "CriticalBatchFit",
    "NoiseScaleSummary",
    "Regimes",
    "ScalingIntervals",
    "SearchSaturation",
    "StepsEstimate",
    "Target",
    "Trial",
    "Workload",
    "WorkloadAnalysis",
    "analyze_workload",
    "best_metaparameters",
    "best_trial",
    "bootstrap_steps_to_result",
    "classify_regimes",
    "default_direction",
    "default_goals",
    "find_parameter",
    "first_step_reaching",
    "first_steps",
    "fit_critical_batch",
    "fit_log_curves",
    "goal_sensitivity",
    "load_workloads",
    "measured_noise_scale",
    "perfect_scaling_line",
    "regime_boundaries",
    "scaling_heuristics",
    "scaling_intervals",
    "search_edges",
    "search_saturation",
    "steps_to_result",
    "summarize_noise_scale",
    "workload_steps",
]
