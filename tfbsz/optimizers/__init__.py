"""Optimizers for large-batch training: LARS, LAMB, MomentumSGD and a name-based factory.

>>> from tfbsz.optimizers import names
>>> names()
['adam', 'adamw', 'lamb', 'lars', 'momentum', 'nesterov', 'sgd']
"""

from tfbsz.optimizers import per_trial
from tfbsz.optimizers.exclusions import VariableTreatment
from tfbsz.optimizers.factory import build, names, options, schedule_counts_updates
from tfbsz.optimizers.lamb import LAMB
from tfbsz.optimizers.lars import LARS
from tfbsz.optimizers.momentum_sgd import MomentumSGD

__all__ = [
    "LAMB",
    "LARS",
    "MomentumSGD",
    "VariableTreatment",
    "build",
    "names",
    "options",
    "per_trial",
    "schedule_counts_updates",
]
