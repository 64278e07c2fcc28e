"""The study pipeline: `Study` (batch sizes in order) -> `tuning` (KerasTuner oracle, tuner,
hypermodel) -> `trainer` (one trial) -> `callbacks` (steps to the target), with `distributed`
(chief and workers over gRPC) and `progress` (the live display).

Example:

>>> from tfbsz.study import Study
>>> Study.__name__
'Study'
"""

from tfbsz.study.study import WORKLOAD_KEYS, Study, check_components

__all__ = ["Study", "WORKLOAD_KEYS", "check_components"]
