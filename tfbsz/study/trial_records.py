"""`TrialRecorder`: what happens around the training of a batch size's trials.

The trainer (or a cohort engine) trains; this object hears of each trial's measurements and end
(it is the trainer's `listener`) and, for every trial on its own: clears the folder a killed
attempt left, writes the trial's files in Shallue et al.'s layout (`tfbsz.records.results`) and its
TensorBoard records (`tfbsz.records.tb_logging`), drives the progress display, keeps the batch
size's best steps to the target (`BestSoFar`, for `budget.stop_when_beaten`) and hands the result
on (`on_end`: the tuner reports it to the oracle). Trials of a cohort end at different times;
each is recorded the moment it ends, so a study killed mid-cohort keeps its finished trials.

Example:

>>> import tempfile
>>> from tfbsz.core.config import from_dict
>>> from tfbsz.study.trainer import TrialResult
>>> from tfbsz.study.trial_records import TrialRecorder
>>> cfg = from_dict({"data": {"name": "digits"}, "model": {"name": "mlp"},
...     "optimizer": {"name": "sgd", "learning_rate": 0.1},
...     "target": {"metric": "val/classification_error", "threshold": 0.1},
...     "budget": {"max_steps": 100}, "batch_sizes": [32]})
>>> recorder = TrialRecorder(cfg, 32, tempfile.mkdtemp())
>>> recorder.begin("0", {"optimizer.learning_rate": 0.2}, max_steps=100)
>>> recorder.measurement("0", {"step": 50, "val/classification_error": 0.08})
>>> recorder.trial_end("0", TrialResult("reached", 50, 50, 100, [{"step": 50,
...     "val/classification_error": 0.08}], 0.08, 1.0))
>>> sorted(p.name for p in (recorder.trial_root / "0").iterdir())
['measurements.csv', 'metadata.json']
>>> recorder.best.best
(50, '0')
"""

import pathlib
import shutil
import traceback

from tfbsz.records import results
from tfbsz.records.summary import as_target
from tfbsz.study import trial_ids
from tfbsz.study.best_so_far import BestSoFar

__all__ = ["TrialRecorder", "RECORDED_OPTIMIZER_KEYS"]

# Written to metadata.json also when fixed (the analysis needs the effective learning rate).
RECORDED_OPTIMIZER_KEYS = ("learning_rate", "momentum")

_STATUS = {
    "reached": results.STATUS_COMPLETE,
    "missed": results.STATUS_COMPLETE,
    "beaten": results.STATUS_COMPLETE,
    "diverged": results.STATUS_INFEASIBLE,
}


class TrialRecorder:
    """Records the trials of one batch size. See the module docstring.

    Args:
        cfg: the checked study config.
        batch_size: the batch size of these trials.
        trial_root: the batch size's folder; trial `id` writes `<trial_root>/<id>/`.
        progress: a progress listener (`tfbsz.study.progress`) or None.
        tensorboard_root: the study's `tensorboard/` folder, or None for no TensorBoard records.
        on_end: optional callable `(trial_id, result, error)`: once per trial, with its
            `TrialResult` (error None) or, for a trial that failed, result None and the exception.
        best: the batch size's `BestSoFar` (finished trials); a fresh one when None.
    """

    def __init__(self, cfg, batch_size, trial_root, progress=None, tensorboard_root=None, on_end=None, best=None):
        self.cfg = cfg
        self.batch_size = int(batch_size)
        self.trial_root = pathlib.Path(trial_root)
        self.progress = progress
        self.tensorboard_root = tensorboard_root
        self.on_end = on_end
        self.best = best if best is not None else BestSoFar()
        self._parameters = {}
        self._ended = set()

    def note(self, line):
        """A one-line message about how the trials train (e.g. a cohort split), shown by the progress display."""
        if self.progress is not None:
            self.progress.message(line)

    # ------------------------------------------------------------------ before training

    def recorded_parameters(self, parameters):
        """The trial's parameters plus the learning rate and momentum it trained with."""
        recorded = dict(parameters)
        for key in RECORDED_OPTIMIZER_KEYS:
            path = f"optimizer.{key}"
            if path not in recorded and self.cfg.optimizer.get(key) is not None:
                recorded[path] = self.cfg.optimizer[key]
        return recorded

    def kept(self, trial_id, parameters):
        """The `TrialResult` of a trial whose files a killed run finished writing before the oracle
        heard of it (`tfbsz.study.recorded_trials`), or None. Such a trial is not trained again; its
        TensorBoard records are written again (they replace the earlier ones)."""
        from tfbsz.study import recorded_trials

        recorded = self.recorded_parameters(parameters)
        trial_dir = trial_ids.trial_dir(self.trial_root, trial_id)
        result = recorded_trials.finished_result(trial_dir, recorded)
        if result is not None and self.tensorboard_root is not None:
            from tfbsz.records import tb_logging

            tb_logging.log_trial(self.tensorboard_root, trial_dir, recorded, result)
        return result

    def begin(self, trial_id, parameters, max_steps):
        """A trial is about to train: clear what a killed attempt left, show it."""
        trial_dir = trial_ids.trial_dir(self.trial_root, trial_id)
        if trial_dir.exists():  # an interrupted attempt: its partial files are stale
            shutil.rmtree(trial_dir)
        self._parameters[str(trial_id)] = dict(parameters)
        self._ended.discard(str(trial_id))
        if self.progress is not None:
            self.progress.trial_begin(self.batch_size, str(trial_id), parameters, max_steps)

    def model_path(self, trial_id):
        """Where the trained model goes (`save_models: all|best`), or None. The folder is made when
        the model is saved: a batch size's folder holds finished trials only."""
        if self.cfg.save_models == "none":
            return None
        return trial_ids.trial_dir(self.trial_root, trial_id) / "model.keras"

    # ------------------------------------------------------------------ during training

    def measurement(self, trial_id, row):
        """One measurement of a running trial."""
        target = as_target(self.cfg.target)
        if target.beats(row.get(target.metric)) and row.get("step") is not None:
            self.best.update(row["step"], trial_id)
        if self.progress is not None:
            self.progress.measurement(row, trial_id=str(trial_id))

    def is_beaten(self, trial_id, next_step):
        """With `budget.stop_when_beaten`, whether the trial should end as `beaten` (see `BestSoFar`)."""
        return self.cfg.budget.stop_when_beaten and self.best.beaten(trial_id, next_step)

    # ------------------------------------------------------------------ after training

    def ended(self, trial_id):
        """Whether the trial has been recorded as finished or failed."""
        return str(trial_id) in self._ended

    def trial_end(self, trial_id, result):
        """A trial finished: write its files and TensorBoard records, show it, hand it on."""
        trial_id = str(trial_id)
        if result.steps_to_target is not None:
            self.best.update(result.steps_to_target, trial_id)
        extra = dict(result.extra)
        extra.update({
            "outcome": result.outcome,
            "steps_to_target": result.steps_to_target,
            "best_value": result.best_value,
            "max_steps": result.max_steps,
            "wall_time_s": round(result.wall_time_s, 3),
            "target": dict(self.cfg.target),
        })
        trial_dir = trial_ids.trial_dir(self.trial_root, trial_id)
        recorded = self.recorded_parameters(self._parameters.get(trial_id, {}))
        if self.tensorboard_root is not None:
            from tfbsz.records import tb_logging

            tb_logging.log_trial(self.tensorboard_root, trial_dir, recorded, result)
        # metadata.json last: its presence says every record of the trial is written (`kept`)
        results.write_trial(trial_dir, recorded, _STATUS[result.outcome], result.steps, result.measurements, extra)
        self._ended.add(trial_id)
        if self.progress is not None:
            self.progress.trial_end(self.batch_size, trial_id, result)
        if self.on_end is not None:
            self.on_end(trial_id, result, None)

    def trial_failed(self, trial_id, error):
        """A trial raised `error` (e.g. out of memory): record why next to it and hand it on."""
        trial_id = str(trial_id)
        shutil.rmtree(trial_ids.trial_dir(self.trial_root, trial_id), ignore_errors=True)  # finished trials only
        results.write_trial_failure(self.trial_root, trial_id, {
            "parameters": self._parameters.get(trial_id, {}),
            "reason": f"{type(error).__name__}: {' '.join(str(error).split())[:2000]}",
            "traceback": "".join(traceback.format_exception(error)),
        })
        self._ended.add(trial_id)
        if self.progress is not None:
            self.progress.message(f"[bs {self.batch_size} trial {trial_id}] failed: {type(error).__name__}")
        if self.on_end is not None:
            self.on_end(trial_id, None, error)
