"""When a trial evaluates: every `eval_every` updates, or `"auto"`, a grid that keeps the same share.

Steps to result can only be measured at an evaluation, so it is rounded up to the next one. With a
fixed `eval_every` the rounding is the same number of steps at every batch size, hence a larger
share of the (fewer) steps at large batch sizes, which bends the curve and biases B_crit down.
`eval_every: auto` evaluates after `step` at ``step + max(min_gap, floor(AUTO_RESOLUTION * step))``
with ``min_gap = ceil(max_steps * AUTO_MIN_GAP_FRACTION)``: wherever the target is hit, the
rounding is at most 5% of the steps to result (at every batch size alike), and no evaluation comes
sooner than 1/200 of the budget after the last. Over a whole budget that is about 70 evaluations
(20 before step max_steps / 10, then about 14 per doubling of the step count). Keras-free.

>>> [s for s in evaluation_steps("auto", 400)][:24:4], len(evaluation_steps("auto", 400))
([2, 10, 18, 26, 34, 42], 71)
>>> evaluation_steps(100, 350)
[100, 200, 300]
"""

import math

__all__ = ["AUTO", "AUTO_RESOLUTION", "AUTO_MIN_GAP_FRACTION", "next_evaluation", "evaluation_after",
           "evaluation_steps", "longest_stretch"]

AUTO = "auto"
AUTO_RESOLUTION = 0.05
AUTO_MIN_GAP_FRACTION = 1.0 / 200.0


def next_evaluation(step, eval_every, max_steps=None):
    """The update count of the first evaluation after `step` (an int eval_every, or "auto")."""
    if eval_every != AUTO:
        return step + eval_every
    min_gap = max(1, math.ceil(max_steps * AUTO_MIN_GAP_FRACTION)) if max_steps else 1
    return step + max(min_gap, int(AUTO_RESOLUTION * step))


def evaluation_after(step, eval_every, max_steps=None):
    """The first evaluation step strictly after `step`, which need not be on the grid.

    For a fixed `eval_every` this is ``(step // eval_every + 1) * eval_every``; a trainer that runs
    stretches of updates between evaluations (a cohort) can call it with its current step.

    >>> evaluation_after(130, 50), evaluation_after(130, "auto", 400), evaluation_after(0, "auto", 400)
    (150, 133, 2)
    """
    if eval_every != AUTO:
        return (step // eval_every + 1) * eval_every
    current = next_evaluation(0, eval_every, max_steps)
    while current <= step:
        current = next_evaluation(current, eval_every, max_steps)
    return current


def evaluation_steps(eval_every, max_steps):
    """Every evaluation step up to `max_steps` (the budget's own final evaluation not included)."""
    steps, step = [], next_evaluation(0, eval_every, max_steps)
    while step <= max_steps:
        steps.append(step)
        step = next_evaluation(step, eval_every, max_steps)
    return steps


def longest_stretch(eval_every, max_steps):
    """The most updates between two evaluations (or from the last one to the budget's end).

    A cohort compiles its train program for stretches of at most this many updates.

    >>> longest_stretch(50, 120), longest_stretch(50, 30), longest_stretch("auto", 400)
    (50, 30, 18)
    """
    if eval_every != AUTO:
        return min(eval_every, max_steps)
    marks = [0, *evaluation_steps(eval_every, max_steps), max_steps]
    return max(b - a for a, b in zip(marks, marks[1:]))
