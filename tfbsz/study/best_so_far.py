"""`BestSoFar`: a batch size's fewest steps to the target so far, and when a trial is beaten.

Steps to result is a minimum over trials (the first step, among all trials, whose measurement
beats the target; ties go to the smaller trial id). A trial that has not reached the target and
whose next chance is an evaluation after the best trial's step can no longer change the steps to
result or the best trial: with `budget.stop_when_beaten: true` the study ends it as `beaten`.

Keras-free: the trainer asks it one trial at a time, a cohort engine for every member.

Example:

>>> from tfbsz.study.best_so_far import BestSoFar
>>> best = BestSoFar()
>>> best.beaten("3", next_step=500)         # nothing has reached the target yet
False
>>> best.update(120, "2")
>>> best.beaten("3", next_step=130), best.beaten("3", next_step=120), best.beaten("1", next_step=120)
(True, True, False)
"""

__all__ = ["BestSoFar"]


class BestSoFar:
    """The best `(steps to the target, trial id)` seen so far at one batch size.

    Args:
        best: a starting `(steps, trial_id)`, e.g. from the batch size's finished trials, or None.
    """

    def __init__(self, best=None):
        self.best = None
        if best is not None:
            self.update(*best)

    def update(self, steps, trial_id):
        """Records that trial `trial_id` reached the target after `steps` updates."""
        candidate = (int(steps), str(trial_id))
        if self.best is None or candidate < self.best:
            self.best = candidate

    def beaten(self, trial_id, next_step):
        """Whether reaching the target at `next_step` could no longer make `trial_id` the best trial."""
        return self.best is not None and (int(next_step), str(trial_id)) > self.best

    @classmethod
    def from_trials(cls, trials, reached_step):
        """From finished trials (`results.Trial`s) and a function giving a trial's first step at the target."""
        best = cls()
        for trial in trials:
            step = reached_step(trial)
            if step is not None:
                best.update(step, trial.trial_id)
        return best
