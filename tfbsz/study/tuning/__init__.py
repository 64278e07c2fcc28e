"""Per-batch-size metaparameter search with KerasTuner, scored by steps to the target.

KerasTuner's split: `QuasiRandomOracle` proposes metaparameters (scrambled Halton or Sobol),
`StudyHyperModel` runs one trial of one batch size, `StepsToTargetTuner` connects the two.
"""

from tfbsz.study.tuning.hypermodel import StudyHyperModel, trial_seed
from tfbsz.study.tuning.objective import OBJECTIVE_NAME, objective_value
from tfbsz.study.tuning.oracle import QuasiRandomOracle
from tfbsz.study.tuning.space import build_hyperparameters, parameter_configs, reverse_log_names, reverse_log_value
from tfbsz.study.tuning.tuner import SearchAborted, StepsToTargetTuner

__all__ = [
    "OBJECTIVE_NAME",
    "QuasiRandomOracle",
    "SearchAborted",
    "StepsToTargetTuner",
    "StudyHyperModel",
    "build_hyperparameters",
    "objective_value",
    "parameter_configs",
    "reverse_log_names",
    "reverse_log_value",
    "trial_seed",
]
