"""`StepsToTargetTuner`: a KerasTuner Tuner whose objective is steps to the target.

It asks its oracle for metaparameters, lets the `StudyHyperModel` train the trials (each until the
target or the budget, never failing on a miss or a divergence) and reports every trial's score
back the moment that trial ends. With `parallel_trials` N > 1 it takes N trials at a time, each
under its own tuner id (`distributed.cohort_member_id`), so the hypermodel can train them as one
cohort; a study killed mid-cohort keeps the trials that ended, and KerasTuner hands the others
out again on resume. A tfbsz error (bad config) stops the search at once instead of being
retried. KerasTuner's own checkpointing of every trial's weights is skipped: a study keeps
measurements, not models.

It works under KerasTuner's distributed mode: with `KERASTUNER_TUNER_ID`,
`KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT` set, the chief serves the oracle and the
workers take and run trials (cohorts too).
"""

import contextlib
import io
import os
import traceback

import keras_tuner as kt

from tfbsz.core.errors import TfbszError
from tfbsz.study.tuning.kt_internals import TrialStatus
from tfbsz.study.tuner_files import DurableTuner

__all__ = ["StepsToTargetTuner", "SearchAborted"]


class SearchAborted(kt.errors.FatalError):
    """Carries a `TfbszError` out of KerasTuner, which would otherwise retry the trial."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


class StepsToTargetTuner(DurableTuner):  # DurableTuner: KerasTuner's files, crash-safe
    """Tunes one batch size of a study. See the module docstring.

    Args:
        hypermodel: a `tfbsz.study.tuning.StudyHyperModel`.
        oracle: a KerasTuner oracle (tfbsz uses `QuasiRandomOracle`).
        directory: the folder holding the KerasTuner project.
        project_name: the project's folder name.
        parallel_trials: how many trials to take from the oracle at a time (a cohort): a positive
            integer, or a callable returning the size of the next cohort (e.g.
            `tfbsz.study.cohort_size.CohortSizer.next_size`).
    """

    def __init__(self, hypermodel, oracle, directory, project_name, parallel_trials=1):
        if not callable(parallel_trials) and (isinstance(parallel_trials, bool) or not isinstance(parallel_trials, int)
                                              or parallel_trials < 1):
            raise ValueError("`parallel_trials` must be a positive integer or a callable. "
                             f"Received: parallel_trials={parallel_trials!r}")
        with contextlib.redirect_stdout(io.StringIO()):  # KerasTuner prints "Reloading Tuner ..."
            super().__init__(oracle=oracle, hypermodel=hypermodel, directory=directory,
                             project_name=project_name, overwrite=False)
        self.parallel_trials = parallel_trials
        # Save the tuner state at once so that a study killed during its first trial reloads
        # this project (KerasTuner reloads only when the tuner file exists).
        if not os.path.exists(self._get_tuner_fname()):
            self.save()

    def _populate_initial_space(self):
        # The space is declared up front (passed to the oracle); building the model just to
        # discover it, as KerasTuner does by default, would cost a model build per search.
        self.oracle.update_space(self.hypermodel.hyperparameters())

    def take_trials(self):
        """Up to `parallel_trials` trials from the oracle, and the status that ended the asking.

        The status is RUNNING when all were given, else the oracle's answer to the last request
        (STOPPED: no trial left now; IDLE: the oracle is busy).
        """
        from tfbsz.study import distributed

        count = self.parallel_trials() if callable(self.parallel_trials) else self.parallel_trials
        trials = []
        for k in range(count):
            tuner_id = self.tuner_id if count == 1 else distributed.cohort_member_id(self.tuner_id, k)
            trial = self.oracle.create_trial(tuner_id)
            if trial.status != TrialStatus.RUNNING:
                return trials, trial.status
            trials.append(trial)
        return trials, TrialStatus.RUNNING

    def run_trials(self, trials):
        """Trains `trials` and ends each in the oracle as soon as it finishes or fails."""
        by_id = {trial.trial_id: trial for trial in trials}
        for trial in trials:
            self.on_trial_begin(trial)

        def report(trial_id, metrics, error):
            trial = by_id[trial_id]
            if error is None:
                try:
                    self.oracle.update_trial(trial_id, metrics, step=0)
                    trial.status = TrialStatus.COMPLETED
                except kt.errors.FatalError:
                    raise
                except Exception as e:  # as KerasTuner's loop: e.g. a chief that re-queued the trial meanwhile
                    trial.status, trial.message = TrialStatus.INVALID, "".join(traceback.format_exception(e))
            else:
                trial.status = TrialStatus.FAILED
                trial.message = "".join(traceback.format_exception(error))
            self.on_trial_end(trial)

        try:
            self.hypermodel.fit_trials([(trial.trial_id, trial.hyperparameters) for trial in trials], report)
        except TfbszError as e:
            raise SearchAborted(e) from e

    def run_trial(self, trial, *args, **kwargs):
        try:
            return self.hypermodel.fit(trial.hyperparameters, None, trial_id=trial.trial_id)
        except TfbszError as e:
            raise SearchAborted(e) from e

    def search(self, *args, **kwargs):
        from tfbsz.study import distributed

        kwargs.setdefault("verbose", 0)
        with contextlib.redirect_stdout(io.StringIO()):
            if distributed.is_chief():
                self.oracle.verbose = 0
                self.save()
                distributed.serve_oracle(self.oracle, self.project_dir, self.hypermodel.trial_root)
            elif distributed.is_worker():
                distributed.run_worker(self)
            else:
                self.oracle.verbose = kwargs["verbose"]
                self.on_search_begin()
                while True:
                    trials, status = self.take_trials()
                    if trials:
                        self.run_trials(trials)
                    elif status != TrialStatus.IDLE:
                        break
                self.on_search_end()
