"""`StepsToTargetTuner`: a KerasTuner Tuner whose objective is steps to the target.

It asks its oracle for metaparameters, lets the `StudyHyperModel` run the whole trial (which
trains until the target or the budget, never failing on a miss or a divergence), and reports the
score back. A tfbsz error (bad config) stops the search at once instead of being retried.
KerasTuner's own checkpointing of every trial's weights is skipped: a study keeps measurements,
not models.

It works unchanged under KerasTuner's distributed mode: with `KERASTUNER_TUNER_ID`,
`KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT` set, the chief serves the oracle and the
workers run trials.
"""

import contextlib
import io
import os

import keras_tuner as kt

from tfbsz.core.errors import TfbszError
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
    """

    def __init__(self, hypermodel, oracle, directory, project_name):
        with contextlib.redirect_stdout(io.StringIO()):  # KerasTuner prints "Reloading Tuner ..."
            super().__init__(oracle=oracle, hypermodel=hypermodel, directory=directory,
                             project_name=project_name, overwrite=False)
        # Save the tuner state at once so that a study killed during its first trial reloads
        # this project (KerasTuner reloads only when the tuner file exists).
        if not os.path.exists(self._get_tuner_fname()):
            self.save()

    def _populate_initial_space(self):
        # The space is declared up front (passed to the oracle); building the model just to
        # discover it, as KerasTuner does by default, would cost a model build per search.
        self.oracle.update_space(self.hypermodel.hyperparameters())

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
                super().search(*args, **kwargs)
