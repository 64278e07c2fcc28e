"""What the host feeds a cohort for each stretch of updates: per member, per update.

For each member and each update of a chunk (up to `eval_every` updates):

* the training-example indices of its batch, from `Dataset.train_indices(batch_size, seed)`:
  the very order `run_trial`'s `train_batches` stream gives that trial (the examples themselves
  stay on the device and are gathered inside the compiled program);
* its learning rate, from the trial's own schedule object (the one its optimizer would call
  with the update count, evaluated for a block of update counts at once): every schedule
  setting, the schedule's name included, varies per member without a retrace;
* its momentum, from the one-cycle momentum schedule when it has one, else its constant
  momentum (optimizers that hold momentum in a variable);
* with mixup, its draws (`lam`, permutation) from `regularizers.mixup_rng(seed)` in
  `mixup_batches`' order.

Rows past the chunk's length, and the rows of members that have ended, are zeros: the program
runs only `n` updates and discards the updates of ended members.

Example:

>>> import numpy as np
>>> table = ScheduleTable(lambda t: np.asarray(t, "float32") * 0.5, block=4)
>>> table.values(3, 6).tolist(), table.at(9)
([1.5, 2.0, 2.5], 4.5)
"""

import numpy as np

__all__ = ["ScheduleTable", "MemberFeed", "stack_feeds"]


class ScheduleTable:
    """A schedule's values at consecutive update counts, computed a block at a time.

    Args:
        schedule: callable taking an int array of update counts and returning the values.
        block: how many update counts to compute per call.
    """

    def __init__(self, schedule, block=4096):
        self._schedule = schedule
        self._block = int(block)
        self._start = None
        self._cache = None

    def _load(self, start):
        from keras import ops

        counts = np.arange(start, start + self._block, dtype=np.int64)
        self._cache = np.asarray(ops.convert_to_numpy(self._schedule(counts)), dtype=np.float32)
        self._start = start

    def values(self, start, stop):
        """float32 values at update counts `start .. stop-1`."""
        out = np.empty(stop - start, dtype=np.float32)
        t = start
        while t < stop:
            if self._start is None or not self._start <= t < self._start + self._block:
                self._load(t)
            take = min(stop, self._start + self._block) - t
            out[t - start : t - start + take] = self._cache[t - self._start : t - self._start + take]
            t += take
        return out

    def at(self, t):
        """The value at update count `t`, as a Python float."""
        return float(self.values(t, t + 1)[0])


def _constant(value):
    return lambda counts: np.full(np.shape(counts), value, dtype=np.float32)


class MemberFeed:
    """One member's stream of per-update inputs (see the module docstring).

    Args:
        setup: the member's `MemberSetup`.
        dataset: the `tfbsz.data.Dataset`.
        batch_size: examples per update.
    """

    def __init__(self, setup, dataset, batch_size):
        from tfbsz.training import regularizers

        self.batch_size = int(batch_size)
        self._indices = dataset.train_indices(self.batch_size, setup.member.seed)
        schedule = setup.schedule if callable(setup.schedule) else _constant(float(setup.schedule))
        self.learning_rates = ScheduleTable(schedule)
        if setup.momentum_schedule is not None:
            self.momenta = ScheduleTable(setup.momentum_schedule)
        elif setup.momentum is not None:
            self.momenta = ScheduleTable(_constant(setup.momentum))
        else:
            self.momenta = None
        self._alpha = setup.mixup_alpha
        self._mixup_rng = regularizers.mixup_rng(setup.member.seed) if self._alpha > 0 else None

    def empty(self, length):
        """Zero inputs of `length` rows, with the keys of `chunk` (for members that have ended)."""
        feed = {"indices": np.zeros((length, self.batch_size), dtype=np.int32),
                "learning_rate": np.zeros(length, dtype=np.float32)}
        if self.momenta is not None:
            feed["momentum"] = np.zeros(length, dtype=np.float32)
        if self._mixup_rng is not None:
            feed["mix_lambda"] = np.zeros(length, dtype=np.float32)
            feed["mix_permutation"] = np.zeros((length, self.batch_size), dtype=np.int32)
        return feed

    def chunk(self, start, steps, length):
        """Inputs for updates `start .. start+steps-1`, padded with zeros to `length` rows."""
        from tfbsz.training import regularizers

        feed = self.empty(length)
        for i in range(steps):
            feed["indices"][i] = next(self._indices)
        feed["learning_rate"][:steps] = self.learning_rates.values(start, start + steps)
        if self.momenta is not None:
            feed["momentum"][:steps] = self.momenta.values(start, start + steps)
        if self._mixup_rng is not None:
            for i in range(steps):
                lam, perm = regularizers.mixup_draw(self._mixup_rng, self._alpha, self.batch_size)
                feed["mix_lambda"][i] = lam
                feed["mix_permutation"][i] = perm
        return feed


def stack_feeds(feeds):
    """Stacks per-member feeds (dicts of equal keys) along a new leading member axis."""
    return {key: np.stack([f[key] for f in feeds]) for key in feeds[0]}
