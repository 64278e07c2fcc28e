"""`BestSoFar`: a batch size's fewest steps to the target so far, and when a trial is beaten.

Steps to result is a minimum over trials (the first step, among all trials, whose measurement
beats the target; ties go to the smaller trial id, compared as `results.trial_order_key` does:
KerasTuner's "07" is trial 7). A trial that has not reached the target and
whose next chance is an evaluation after the best trial's step can no longer change the steps to
result or the best trial: with `budget.stop_when_beaten: true` the study ends it as `beaten`.

Keras-free: the trainer asks it one trial at a time, a cohort engine for every member.

Example:

>>> from tfbsz.study.best_so_far import BestSoFar
>>> best = BestSoFar()
>>> best.beaten("3", next_step=500)         # nothing has reached the target yet
False
>>> best.update(120, "02")
>>> best.beaten("03", next_step=130), best.beaten("03", next_step=120), best.beaten("1", next_step=120)
(True, True, False)
>>> best.best
(120, '02')
"""

from tfbsz.records.results import trial_order_key

__all__ = ["BestSoFar"]


class BestSoFar:
    """The best `(steps to the target, trial id)` seen so far at one batch size.

    Args:
        best: a starting `(steps, trial_id)`, e.g. `summary.best_result` of the batch size's
            finished trials, or None.

    Attributes:
        best: the best `(steps, trial_id)` so far, or None.
    """

    def __init__(self, best=None):
        self.best = None
        if best is not None:
            self.update(*best)

    def update(self, steps, trial_id):
        """Records that trial `trial_id` reached the target after `steps` updates."""
        if self.best is None or self._key(steps, trial_id) < self._key(*self.best):
            self.best = (int(steps), trial_id)

    def beaten(self, trial_id, next_step):
        """Whether reaching the target at `next_step` could no longer make `trial_id` the best trial."""
        return self.best is not None and self._key(next_step, trial_id) > self._key(*self.best)

    @staticmethod
    def _key(steps, trial_id):
        return int(steps), trial_order_key(trial_id)
