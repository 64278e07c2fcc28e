"""Cohorts: many trials of one batch size trained together as one compiled JAX program.

A cohort is a list of trials (`CohortMember`: parameters, seed, trial id) whose models and input
shapes agree (`cohort_key`). `run_cohort` trains them side by side, `jax.vmap` over each
trial's weights, optimizer state and per-trial values under one `jax.jit`, and gives every
member the `TrialResult` that `run_trial` would give it alone. See docs/cohorts.md.

* `can_run_as_cohort(cfg, strategy)`: `(True, "")` or `(False, one-line reason)`.
* `cohort_key(cfg, parameters)`: trials with equal keys can share one compiled program.
* `run_cohort(cfg, members, batch_size, dataset, strategy=None, listener=None, devices=None)`.

Example (JAX backend):

>>> from tfbsz.study.cohorts import CohortMember, cohort_key, can_run_as_cohort
>>> members = [CohortMember({"optimizer.learning_rate": lr}, seed=i, trial_id=str(i))
...            for i, lr in enumerate([0.05, 0.1, 0.2])]
>>> results = run_cohort(cfg, members, 64, dataset)       # doctest: +SKIP
>>> [r.outcome for r in results]                           # doctest: +SKIP
['reached', 'reached', 'missed']
"""

from tfbsz.study.cohorts.compatibility import can_run_as_cohort, cohort_key
from tfbsz.study.cohorts.members import CohortMember

__all__ = ["CohortMember", "can_run_as_cohort", "cohort_key", "run_cohort"]


def run_cohort(cfg, members, batch_size, dataset, strategy=None, listener=None, devices=None):
    """Trains `members` together; see `tfbsz.study.cohorts.engine.run_cohort`."""
    from tfbsz.study.cohorts.engine import run_cohort as run

    return run(cfg, members, batch_size, dataset, strategy=strategy, listener=listener, devices=devices)
