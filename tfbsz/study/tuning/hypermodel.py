"""`StudyHyperModel`: one batch size of a study, as a KerasTuner HyperModel.

It turns KerasTuner's `hp` into a trial's metaparameters (`parameters_of`) and seed
(`trial_seed`), and trains trials: `fit_trials` takes the trials a tuner drew (a cohort), hands
them to `tfbsz.study.cohort_runs` (the vectorised engine or the plain trainer) with a
`TrialRecorder` that writes each trial's files as it ends, and reports each trial's objective.
`fit(hp)` is KerasTuner's one-trial form of the same; `build(hp)` returns the compiled model for
`hp` (handy to inspect or re-train a trial).

Example (no training, just the declared space):

>>> from tfbsz.core.config import from_dict
>>> from tfbsz.study.tuning.hypermodel import StudyHyperModel
>>> cfg = from_dict({"data": {"name": "digits"}, "model": {"name": "mlp"},
...     "optimizer": {"name": "sgd", "learning_rate": 0.1},
...     "target": {"metric": "val/classification_error", "threshold": 0.1},
...     "budget": {"max_steps": 100}, "batch_sizes": [32],
...     "search": {"space": {"optimizer.learning_rate": {"min": 0.01, "max": 1.0, "scale": "log"}}}})
>>> hm = StudyHyperModel(cfg, dataset=None, batch_size=32, trial_root="/tmp/unused")
>>> [p.name for p in hm.hyperparameters().space]
['optimizer.learning_rate']
"""

import zlib

import keras_tuner as kt

from tfbsz.study.tuning.objective import OBJECTIVE_NAME, objective_value
from tfbsz.study.tuning.space import build_hyperparameters

__all__ = ["StudyHyperModel", "trial_seed"]


def trial_seed(study_seed, batch_size, trial_id):
    """A trial's seed: a fixed function of the study seed, the batch size and the trial id."""
    return zlib.crc32(f"{study_seed}/{batch_size}/{trial_id}".encode()) % (2**31 - 1)


class StudyHyperModel(kt.HyperModel):
    """The trials of one batch size of a study.

    Args:
        cfg: the checked study config.
        dataset: the loaded `tfbsz.data.Dataset`.
        batch_size: the global batch size of these trials.
        trial_root: the batch size's folder; trial `id` writes `results.trial_dir(trial_root, id)`.
        strategy: the `tfbsz.strategies` strategy to train under (None: default device).
        fixed_parameters: values applied to every trial before the searched ones (used by the
            scaling-rule mode).
        progress: a progress listener (`tfbsz.study.progress`) or None.
        tensorboard_root: the study's `tensorboard/` folder, or None for no TensorBoard records.
        best: the batch size's `BestSoFar` from its finished trials (`budget.stop_when_beaten`).
        engine: the vectorised cohort engine (`tfbsz.study.cohort_runs.engine()`), or None to
            train every trial with the plain trainer.
        on_run: optional callable `(size, results, seconds)` for every run of `size` trials at
            once (`tfbsz.study.cohort_size.CohortSizer.observe`).
    """

    def __init__(self, cfg, dataset, batch_size, trial_root, strategy=None, fixed_parameters=None,
                 progress=None, tensorboard_root=None, best=None, engine=None, on_run=None):
        super().__init__(name=f"batch_size_{batch_size}", tunable=True)
        from tfbsz.study.trial_records import TrialRecorder

        self.cfg = cfg
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.strategy = strategy
        self.fixed_parameters = dict(fixed_parameters or {})
        self.engine = engine
        self.on_run = on_run
        self.recorder = TrialRecorder(cfg, batch_size, trial_root, progress=progress,
                                      tensorboard_root=tensorboard_root, on_end=self._trial_ended, best=best)
        self._report = None

    @property
    def trial_root(self):
        """The batch size's folder."""
        return self.recorder.trial_root

    def hyperparameters(self):
        """The searched metaparameters, declared in the config's order."""
        return build_hyperparameters(self.cfg.search.space)

    def declare_hyperparameters(self, hp):
        hp.merge(self.hyperparameters())

    def parameters_of(self, hp):
        """Fixed values, then the trial's searched values, as `{config path: value}`."""
        values = dict(self.fixed_parameters)
        values.update(hp.values if hp is not None else {})
        return values

    def max_steps(self):
        """The budget of every trial of this batch size, in optimizer updates."""
        from tfbsz.study import trainer

        return trainer.plan_trial(self.cfg, self.batch_size, len(self.dataset.x_train)).max_steps

    def build(self, hp):
        from tfbsz.study import trainer

        cfg = trainer.apply_parameters(self.cfg, self.parameters_of(hp))
        replicas = self.strategy.num_replicas if self.strategy is not None else 1
        plan = trainer.plan_trial(cfg, self.batch_size, len(self.dataset.x_train), replicas)
        return trainer.build_compiled_model(cfg, plan, self.dataset)

    def objective(self, result):
        """What the oracle hears of a finished trial: `{steps_to_target: score, reached, diverged}`."""
        score = objective_value(result.outcome, result.steps_to_target, result.max_steps, result.best_value,
                                self.cfg.target.threshold)
        return {
            OBJECTIVE_NAME: score,
            "reached": float(result.outcome == "reached"),
            "diverged": float(result.outcome == "diverged"),
        }

    def fit_trials(self, trials, report):
        """Trains `trials` (`[(trial_id, hp)]`, e.g. a cohort) and calls `report(trial_id, metrics, error)`
        once per trial as it ends: `metrics` for the oracle, or None and the exception that failed it."""
        from tfbsz.study import cohort_runs
        from tfbsz.study.cohorts import CohortMember

        max_steps = self.max_steps()
        members = []
        for trial_id, hp in trials:
            parameters = self.parameters_of(hp)
            kept = self.recorder.kept(str(trial_id), parameters)
            if kept is not None:  # finished before a kill; only the oracle had not heard of it
                if self.recorder.progress is not None:
                    self.recorder.progress.message(f"[bs {self.batch_size} trial {trial_id}] kept: finished before "
                                                   "the interruption")
                report(str(trial_id), self.objective(kept), None)
                continue
            self.recorder.begin(str(trial_id), parameters, max_steps)
            seed = trial_seed(self.cfg.seed, self.batch_size, str(trial_id))
            members.append(CohortMember(parameters, seed, str(trial_id),
                                        save_model_path=self.recorder.model_path(str(trial_id))))
        self._report = report
        try:
            cohort_runs.train(self.cfg, members, self.batch_size, self.dataset, self.strategy, self.recorder,
                              engine=self.engine, on_run=self.on_run)
        finally:
            self._report = None

    def _trial_ended(self, trial_id, result, error):
        if self._report is not None:
            self._report(trial_id, None if error is not None else self.objective(result), error)

    def fit(self, hp, model=None, trial_id=None, **kwargs):
        """Runs one trial end to end and returns `{steps_to_target: score, ...}` for the oracle."""
        ended = {}
        self.fit_trials([(str(trial_id), hp)], lambda _id, metrics, error: ended.update(metrics=metrics, error=error))
        if ended["error"] is not None:
            error = ended["error"]
            raise kt.errors.FailedTrialError(f"{type(error).__name__}: {error}") from error
        return ended["metrics"]
