"""Has the search saturated? Best-so-far against the number of trials, per batch size.

Steps to result is the minimum over a search; if the minimum was still falling when the search
ended, more trials would have lowered it, and the curve measures the search budget as much as
the workload. Two views per batch size:

* **best so far** in search order (trials sorted by numeric trial id): the steps to result after
  1, 2, ..., n trials of this search;
* **a k-trial search** for every k = 1..n, exact over all ways of choosing k of the n trials
  (without replacement, so free of the order's luck): the probability that it reaches the goal
  and its *typical* steps to result, the geometric mean over those choices (None while some
  choice of k trials misses the goal).

The search counts as **saturated** when a typical search of half the trials (k = ceil(n / 2))
needs at most `1 / (1 - min_reduction)` times the steps of all n trials: doubling the search
bought less than 10% (the regime rules' `min_reduction`). A median would not do: with one trial
far ahead of the others, half of all half-size searches contain it. Fewer than 4 trials cannot
tell (None). A batch size where only 1 of n trials reached the goal gets a warning: its steps to
result rest on one trial.

>>> s = search_saturation(64, ["0", "1", "2", "3"], [400, 300, float("inf"), 310])
>>> s.best_so_far, [round(v) for v in s.typical_best_of[1:]], s.saturated
([400.0, 300.0, 300.0, 300.0], [318, 302, 300], True)
>>> search_saturation(64, ["0", "1"], [float("inf"), 250]).warning
'batch size 64: 1 of 2 trials reached the target; its steps to result rest on one trial'
"""

import dataclasses
import math

from tfbsz.analysis.inputs import is_number, trial_order_key
from tfbsz.core.errors import ConfigError

__all__ = ["SearchSaturation", "search_saturation"]


@dataclasses.dataclass(frozen=True)
class SearchSaturation:
    """Best-so-far curves of one batch size's search (module docstring); None = not reached."""

    batch_size: int
    trials: int
    reached: int
    best_so_far: list         # after 1..n trials, in numeric trial-id order
    typical_best_of: list     # geometric-mean steps to result of a k-trial search, k = 1..n
    reach_probability: list   # probability that a k-trial search reaches the goal, k = 1..n
    saturated: bool           # None with fewer than 4 trials or when half a search rarely reaches
    warning: str              # None, or a one-line warning

    def as_dict(self):
        """JSON-ready dict (None for "not reached")."""
        return dataclasses.asdict(self)


def _choose(n, k):
    return math.comb(n, k) if 0 <= k <= n else 0


def search_saturation(batch_size, trial_ids, first_steps, min_reduction=0.1):
    """`SearchSaturation` of one batch size from its trials' ids and first goal-reaching steps.

    Args:
        batch_size: the batch size (for messages).
        trial_ids: the trials' ids (their numeric order is the search order).
        first_steps: each trial's first goal-reaching step; inf or None when it missed.
        min_reduction: saturation threshold (module docstring). Defaults to 0.1.
    """
    trial_ids, first_steps = list(trial_ids), list(first_steps)
    if len(trial_ids) != len(first_steps):
        raise ConfigError(f"trial_ids and first_steps: expected the same length, got {len(trial_ids)} and {len(first_steps)}")
    steps = [math.inf if s is None or not is_number(s) or math.isnan(s) else float(s) for s in first_steps]
    ordered = [s for _, s in sorted(zip(trial_ids, steps), key=lambda p: trial_order_key(p[0]))]
    best, running = [], math.inf
    for s in ordered:
        running = min(running, s)
        best.append(running if math.isfinite(running) else None)

    n, values = len(steps), sorted(steps)
    reached = sum(math.isfinite(s) for s in steps)
    typical, probabilities = [], []
    for k in range(1, n + 1):
        total = _choose(n, k)
        probabilities.append(1.0 - _choose(n - reached, k) / total)
        # P(the minimum of k is the j-th smallest) = C(n - j, k - 1) / C(n, k)
        weights = [_choose(n - j, k - 1) / total for j in range(1, n + 1)]
        if any(w > 0 and not math.isfinite(v) for w, v in zip(weights, values)):
            typical.append(None)
        else:
            typical.append(math.exp(sum(w * math.log(v) for w, v in zip(weights, values) if w > 0)))

    saturated = None
    half = typical[math.ceil(n / 2) - 1] if n else None
    if n >= 4 and typical[-1] is not None:
        saturated = half is not None and typical[-1] >= (1.0 - min_reduction) * half
    warning = None
    if reached == 1 and n > 1:
        warning = f"batch size {batch_size}: 1 of {n} trials reached the target; its steps to result rest on one trial"
    elif saturated is False:
        half_text = "could miss the target" if half is None else f"would typically need {half:.4g} steps"
        warning = (f"batch size {batch_size}: the search had not saturated (half of its {n} trials {half_text}, "
                   f"all of them {typical[-1]:.4g}); more trials would likely lower its steps to result")
    return SearchSaturation(int(batch_size), n, reached, best, typical, probabilities, saturated, warning)
