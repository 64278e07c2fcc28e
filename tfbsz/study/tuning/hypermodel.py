"""`StudyHyperModel`: one batch size of a study, as a KerasTuner HyperModel.

`build(hp)` returns the compiled model for the metaparameters in `hp` (handy for a user who
wants to inspect or re-train a trial), and `fit(hp, model)` runs a whole trial with
`tfbsz.study.trainer.run_trial` — training to the target or the budget — writes the trial's files in
Shallue et al.'s layout and returns the tuning objective. The tuner (`StepsToTargetTuner`)
calls only `fit`.

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

import pathlib
import shutil
import traceback
import zlib

import keras_tuner as kt

from tfbsz.records import results
from tfbsz.study import recorded_trials, trial_ids
from tfbsz.core.errors import TfbszError
from tfbsz.study.tuning.objective import OBJECTIVE_NAME, objective_value
from tfbsz.study.tuning.space import build_hyperparameters

__all__ = ["StudyHyperModel", "trial_seed"]

RECORDED_OPTIMIZER_KEYS = ("learning_rate", "momentum")

_STATUS = {"reached": results.STATUS_COMPLETE, "missed": results.STATUS_COMPLETE, "diverged": results.STATUS_INFEASIBLE}


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
        listener: optional object with `trial_begin(batch_size, trial_id, parameters, max_steps)`,
            `measurement(row)` and `trial_end(batch_size, trial_id, result)` (progress display).
        on_trial_written: optional callable `(trial_dir, parameters, result)` after the files are
            written (TensorBoard logging).
    """

    def __init__(self, cfg, dataset, batch_size, trial_root, strategy=None, fixed_parameters=None,
                 listener=None, on_trial_written=None):
        super().__init__(name=f"batch_size_{batch_size}", tunable=True)
        self.cfg = cfg
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.trial_root = pathlib.Path(trial_root)
        self.strategy = strategy
        self.fixed_parameters = dict(fixed_parameters or {})
        self.listener = listener
        self.on_trial_written = on_trial_written

    def hyperparameters(self):
        """The searched metaparameters, declared in the config's order."""
        return build_hyperparameters(self.cfg["search"]["space"])

    def declare_hyperparameters(self, hp):
        hp.merge(self.hyperparameters())

    def parameters_of(self, hp):
        """Fixed values, then the trial's searched values, as `{config path: value}`."""
        values = dict(self.fixed_parameters)
        values.update(hp.values if hp is not None else {})
        return values

    def recorded_parameters(self, parameters):
        """The trial's parameters plus the learning rate and momentum it trained with.

        The analysis needs both (effective learning rate lr / (1 - momentum)) also when they are
        fixed in the config rather than searched, so they are always written to metadata.json.
        """
        recorded = dict(parameters)
        for key in RECORDED_OPTIMIZER_KEYS:
            path = f"optimizer.{key}"
            if path not in recorded and self.cfg["optimizer"].get(key) is not None:
                recorded[path] = self.cfg["optimizer"][key]
        return recorded

    def build(self, hp):
        from tfbsz.study import trainer

        cfg = trainer.apply_parameters(self.cfg, self.parameters_of(hp))
        replicas = self.strategy.num_replicas if self.strategy is not None else 1
        plan = trainer.plan_trial(cfg, self.batch_size, len(self.dataset.x_train), replicas)
        return trainer.build_compiled_model(cfg, plan, self.dataset)

    def fit(self, hp, model=None, trial_id=None, **kwargs):
        """Runs one trial end to end and returns `{steps_to_target: score, ...}` for the oracle."""
        from tfbsz.study import trainer

        parameters = self.parameters_of(hp)
        trial_id = str(trial_id)
        trial_dir = trial_ids.trial_dir(self.trial_root, trial_id)  # ids come from the (remote) oracle
        recorded = self.recorded_parameters(parameters)
        kept = recorded_trials.finished_result(trial_dir, recorded)
        if kept is not None:  # finished before an interruption, not yet recorded by the oracle
            if self.listener is not None:
                self.listener.message(f"[bs {self.batch_size} trial {trial_id}] kept: finished before the interruption")
            return self._report(trial_dir, recorded, kept)
        if trial_dir.exists():  # an interrupted attempt: its partial files are stale
            shutil.rmtree(trial_dir)
        seed = trial_seed(self.cfg["seed"], self.batch_size, trial_id)
        if self.listener is not None:
            max_steps = trainer.plan_trial(self.cfg, self.batch_size, len(self.dataset.x_train)).max_steps
            self.listener.trial_begin(self.batch_size, trial_id, parameters, max_steps)
        save_path = None
        if self.cfg.get("save_models", "none") != "none":
            save_path = trial_dir / "model.keras"  # the trainer makes the folder when it saves
        try:
            result = trainer.run_trial(
                self.cfg, parameters, self.batch_size, seed, self.dataset, strategy=self.strategy,
                on_measurement=self.listener.measurement if self.listener is not None else None,
                save_model_path=save_path,
            )
        except TfbszError:
            raise
        except Exception as e:  # e.g. out of memory: record it next to the trial, let the search go on
            shutil.rmtree(trial_dir, ignore_errors=True)  # a batch size holds finished trials only
            results.write_json(results.failure_path(self.trial_root, trial_id), {
                "trial_id": trial_id,
                "parameters": parameters,
                "reason": f"{type(e).__name__}: {' '.join(str(e).split())[:2000]}",
                "traceback": traceback.format_exc(),
            })
            if self.listener is not None:
                self.listener.message(f"[bs {self.batch_size} trial {trial_id}] failed: {type(e).__name__}")
            raise kt.errors.FailedTrialError(f"{type(e).__name__}: {e}") from e
        extra = dict(result.extra)
        extra.update({
            "outcome": result.outcome,
            "steps_to_target": result.steps_to_target,
            "best_value": result.best_value,
            "max_steps": result.max_steps,
            "wall_time_s": round(result.wall_time_s, 3),
            "target": dict(self.cfg["target"]),
        })
        results.write_trial(trial_dir, recorded, _STATUS[result.outcome], result.steps, result.measurements, extra)
        if self.listener is not None:
            self.listener.trial_end(self.batch_size, trial_id, result)
        return self._report(trial_dir, recorded, result)

    def _report(self, trial_dir, recorded, result):
        """Logs a trial written to disk (TensorBoard) and returns its metrics for the oracle."""
        if self.on_trial_written is not None:
            self.on_trial_written(trial_dir, recorded, result)
        score = objective_value(result.outcome, result.steps_to_target, result.max_steps, result.best_value,
                                self.cfg["target"]["threshold"])
        return {
            OBJECTIVE_NAME: score,
            "reached": float(result.outcome == "reached"),
            "diverged": float(result.outcome == "diverged"),
        }
