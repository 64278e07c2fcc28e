"""Training the trials a tuner took: in cohorts that share one compiled program, or one at a time.

Trials whose model and input shapes agree (equal `cohort_key`) train together as one cohort in
the vectorised JAX engine (`tfbsz.study.cohorts.run_cohort`); everything else (the TensorFlow
backend, a strategy the engine cannot run, a cohort of one) trains with the plain trainer, one
trial after another (`tfbsz.study.trainer.run_in_turn`, the same signature). Either way every
trial is recorded on its own by the `TrialRecorder` passed as `listener`. A cohort that raises
(e.g. out of memory) fails its unfinished trials, each with its failure file, and the search
goes on; a `TfbszError` (bad input) stops it.

Example (without the engine every trial is its own cohort, trained by the plain trainer):

>>> from tfbsz.study import cohort_runs
>>> from tfbsz.study.trainer import CohortMember, run_in_turn
>>> members = [CohortMember({}, seed=1, trial_id="0"), CohortMember({}, seed=2, trial_id="1")]
>>> [(runner is run_in_turn, [m.trial_id for m in group])
...  for runner, group in cohort_runs.plan(None, members, strategy=None, engine=None)]
[(True, ['0']), (True, ['1'])]
"""

import importlib

from tfbsz.core.errors import TfbszError
from tfbsz.study.trainer import run_in_turn

__all__ = ["engine", "plan", "train"]


def engine():
    """The vectorised cohort engine (`tfbsz.study.cohorts`) on the JAX backend, else None."""
    import keras

    if keras.backend.backend() != "jax":
        return None
    try:
        return importlib.import_module("tfbsz.study.cohorts")
    except ImportError:
        return None


def plan(cfg, members, strategy, engine):
    """`[(runner, cohort)]`: members of equal `cohort_key` together under the engine's `run_cohort`
    where it can run them, every other member alone under `run_in_turn`; in trial order."""
    if engine is None or len(members) < 2 or not engine.can_run_as_cohort(cfg, strategy)[0]:
        return [(run_in_turn, [member]) for member in members]
    groups = {}
    for member in members:
        groups.setdefault(engine.cohort_key(cfg, member.parameters), []).append(member)
    return [(engine.run_cohort if len(group) > 1 else run_in_turn, group) for group in groups.values()]


def train(cfg, members, batch_size, dataset, strategy, recorder, engine=None):
    """Trains `members` (`CohortMember`s already begun on `recorder`), recording each as it ends."""
    for runner, cohort in plan(cfg, members, strategy, engine):
        try:
            runner(cfg, cohort, batch_size, dataset, strategy=strategy, listener=recorder)
        except TfbszError:
            raise
        except Exception as error:  # the cohort's unfinished trials fail; the search goes on
            for member in cohort:
                if not recorder.ended(member.trial_id):
                    recorder.trial_failed(member.trial_id, error)
