"""Training the trials a tuner took: in cohorts that share one compiled program, or one at a time.

Trials whose model and input shapes agree (equal `cohort_key`) train together as one cohort in
the vectorised JAX engine (`tfbsz.study.cohorts.run_cohort`); everything else (the TensorFlow
backend, a configuration the engine cannot run, a cohort of one) trains with the plain trainer,
one trial after another (`tfbsz.study.trainer.run_in_turn`, the same signature). Under a strategy
over several devices (`data_parallel`), a cohort shards its trial axis over those devices (trial
parallelism) while a trial alone splits its batches over them (data parallelism). Either way every
trial is recorded on its own by the `TrialRecorder` passed as `listener`. A cohort that runs out of
device memory is retried in halves; one that raises otherwise fails its unfinished trials, each
with its failure file, and the search goes on; a `TfbszError` (bad input) stops it.

Example (without the engine every trial is its own cohort, trained by the plain trainer):

>>> from tfbsz.study import cohort_runs
>>> from tfbsz.study.cohorts import CohortMember
>>> members = [CohortMember({}, seed=1, trial_id="0"), CohortMember({}, seed=2, trial_id="1")]
>>> [(runner.func.__name__, [m.trial_id for m in group])
...  for runner, group in cohort_runs.plan(None, members, strategy=None, engine=None)]
[('run_in_turn', ['0']), ('run_in_turn', ['1'])]
"""

import functools
import importlib
import time

from keras_tuner.errors import FatalError

from tfbsz.core.errors import TfbszError
from tfbsz.study.trainer import run_in_turn

__all__ = ["can_run", "engine", "out_of_memory", "plan", "runner", "train"]


def engine():
    """The vectorised cohort engine (`tfbsz.study.cohorts`) on the JAX backend, else None."""
    import keras

    if keras.backend.backend() != "jax":
        return None
    try:
        return importlib.import_module("tfbsz.study.cohorts")
    except ImportError:
        return None


def _placement(strategy):
    """`(strategy, devices)` for the engine: a strategy over several devices becomes trial
    parallelism over as many devices (the engine shards the trial axis itself)."""
    if strategy is None or strategy.num_replicas == 1:
        return strategy, None
    return None, strategy.num_replicas


def can_run(cfg, strategy, engine):
    """`(True, "")` when the engine can train cohorts of this study under `strategy`, else `(False, why)`."""
    return engine.can_run_as_cohort(cfg, _placement(strategy)[0])


def runner(size, strategy, engine):
    """`runner(cfg, members, batch_size, dataset, listener=...)` for a cohort of `size` trials."""
    if engine is None or size < 2:
        return functools.partial(run_in_turn, strategy=strategy)
    cohort_strategy, devices = _placement(strategy)
    return functools.partial(engine.run_cohort, strategy=cohort_strategy, devices=devices)


def plan(cfg, members, strategy, engine):
    """`[(runner, cohort)]`: members of equal `cohort_key` together under the engine where it can
    run them, every other member alone under the plain trainer; in trial order."""
    if engine is None or len(members) < 2 or not can_run(cfg, strategy, engine)[0]:
        return [(runner(1, strategy, None), [member]) for member in members]
    groups = {}
    for member in members:
        groups.setdefault(engine.cohort_key(cfg, member.parameters), []).append(member)
    return [(runner(len(group), strategy, engine), group) for group in groups.values()]


def train(cfg, members, batch_size, dataset, strategy, recorder, engine=None, on_run=None):
    """Trains `members` (`CohortMember`s already begun on `recorder`), recording each as it ends.

    `on_run(size, results, seconds)`, if given, hears of every run of `size` trials at once
    (results None: it ran out of memory and its trials were retried in halves).
    """
    for run, cohort in plan(cfg, members, strategy, engine):
        _train_cohort(run, cohort, cfg, batch_size, dataset, strategy, recorder, engine, on_run)


def _train_cohort(run, cohort, cfg, batch_size, dataset, strategy, recorder, engine, on_run):
    started = time.perf_counter()
    try:
        results = run(cfg, cohort, batch_size, dataset, listener=recorder)
    except (TfbszError, FatalError):  # bad input, or the search must stop (e.g. the chief is gone)
        raise
    except Exception as error:
        unfinished = [member for member in cohort if not recorder.ended(member.trial_id)]
        if len(cohort) > 1 and out_of_memory(error):  # retry in halves: no trial is lost to the size
            if on_run is not None:
                on_run(len(cohort), None, time.perf_counter() - started)
            half = (len(unfinished) + 1) // 2
            for part in (unfinished[:half], unfinished[half:]):
                if part:
                    _train_cohort(runner(len(part), strategy, engine), part, cfg, batch_size, dataset, strategy,
                                  recorder, engine, on_run)
            return
        for member in unfinished:  # the cohort's unfinished trials fail; the search goes on
            recorder.trial_failed(member.trial_id, error)
        return
    if on_run is not None:
        on_run(len(cohort), results, time.perf_counter() - started)


def out_of_memory(error):
    """Whether `error` says a device ran out of memory (XLA's RESOURCE_EXHAUSTED and the like)."""
    text = f"{type(error).__name__} {error}".lower()
    return isinstance(error, MemoryError) or any(
        words in text for words in ("resource_exhausted", "resource exhausted", "out of memory", " oom"))
