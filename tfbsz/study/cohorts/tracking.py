"""Each member's measurements and outcome, decided by the same `StepsToTarget` as `run_trial`'s.

A member has its own `StepsToTarget` callback, built with `run_trial`'s arguments and driven
through the hooks `model.fit` calls (`on_train_begin`, `on_epoch_begin`,
`on_train_batch_end`, `on_train_end`), so the measurement rows (columns, cadence, window means),
the outcome (reached / missed / diverged), `steps_to_target` and `best_value` come from one piece
of code for both paths. The callback reads three things from its model; `MemberModelView`
serves them from the cohort: `evaluate` returns the member's held-out logs that the cohort's
vmapped evaluation computed at this update count, `optimizer.learning_rate` the rate the
member's schedule gives at this update count (as Keras's optimizer reports it after the update),
and `reset_metrics` has nothing to do (each chunk of updates starts with fresh metrics).

Example:

>>> view = MemberModelView()
>>> view.serve(val_logs={"loss": 0.5}, learning_rate=0.1)
>>> view.evaluate(None, None), view.optimizer.learning_rate
({'loss': 0.5}, 0.1)
"""

import types

from tfbsz.study.eval_schedule import evaluation_after

__all__ = ["MemberModelView", "MemberTracker"]


class MemberModelView:
    """The part of a Keras model that `StepsToTarget` reads, for one cohort member."""

    def __init__(self):
        self.stop_training = False
        self.optimizer = types.SimpleNamespace(learning_rate=None)
        self._val_logs = None

    def serve(self, val_logs, learning_rate):
        """Sets what the next measurement reads: held-out logs and the current learning rate."""
        self._val_logs = val_logs
        self.optimizer.learning_rate = learning_rate

    def evaluate(self, *args, **kwargs):
        """The member's held-out logs at this update count (`evaluate(..., return_dict=True)`)."""
        if self._val_logs is None:
            raise RuntimeError("MemberModelView.evaluate: no evaluation was served for this update")
        return dict(self._val_logs)

    def reset_metrics(self):
        """Nothing to reset: every chunk of cohort updates starts with fresh metrics."""


class MemberTracker:
    """One member's `StepsToTarget`, fed by the cohort.

    Args:
        setup: the member's `MemberSetup`.
        eval_data: the held-out `(x, y)` as `run_trial` gives it to `StepsToTarget`.
        batch_size: the global batch size.
        on_measurement: optional callable receiving each measurement row.
        throughput: optional throughput columns, as `run_trial` gives `StepsToTarget` (the
            member's own examples per second: its share of the cohort's work).
    """

    def __init__(self, setup, eval_data, batch_size, on_measurement=None, throughput=None):
        from tfbsz.study.callbacks import StepsToTarget

        cfg, plan = setup.cfg, setup.plan
        self.view = MemberModelView()
        self.callback = StepsToTarget(
            eval_data,
            cfg.target.metric,
            cfg.target.threshold,
            direction=cfg.target.direction,
            eval_every=cfg.eval_every,
            max_steps=plan.max_steps,
            batch_size=batch_size,
            accumulation_steps=plan.accumulation_steps,
            eval_batch_size=max(256, plan.micro_batch),
            on_measurement=on_measurement,
            throughput=throughput,
        )
        self.callback.set_model(self.view)

    @property
    def outcome(self):
        return self.callback.outcome

    def begin(self):
        self.callback.on_train_begin()
        self.callback.on_epoch_begin(0)

    def after_updates(self, updates, train_logs, val_logs, learning_rate):
        """Reports the state after `updates` updates; True once the member has ended."""
        self.view.serve(val_logs, learning_rate)
        self.callback.on_train_batch_end(updates - 1, train_logs)
        self.view.serve(None, None)
        return self.callback.outcome is not None

    def end_if_beaten(self, is_beaten):
        """Ends the member as `beaten` when `is_beaten(next_step)` says reaching the target at its
        next evaluation could no longer beat the best trial so far (`budget.stop_when_beaten`,
        as the trainer's `StopWhenBeaten` decides for a trial alone); True if it ended."""
        cb = self.callback
        if cb.outcome is not None or not cb.measurements:
            return False
        step = cb.measurements[-1]["step"]
        if is_beaten(min(evaluation_after(step, cb.eval_every, cb.max_steps), cb.max_steps)):
            cb.outcome = "beaten"
            return True
        return False

    def end(self):
        self.callback.on_train_end()
