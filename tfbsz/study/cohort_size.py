"""How many trials train at once (`search.parallel_trials`): a number, or measured (`auto`).

A cohort of N trials trains as one vectorised program (JAX backend, `tfbsz.study.cohorts`). Some
studies train one trial at a time at every batch size, and `cohorts_possible` says why, once: the
TensorFlow backend (when N was asked for), a configuration the engine cannot run, a search over a
key that changes the compiled program (a model width, a depth, a sequence length: every trial
would need its own), or `strategy: data_parallel` named with `parallel_trials: auto` (the config
chose data parallelism).

`auto` (a `CohortSizer` per batch size) measures with the batch size's own trials, so nothing
is trained only to be timed:

1. The first trial trains alone (the plain trainer, as with `parallel_trials: 1`); if it ends
   before its steady rate shows (fewer than 3 evaluations), the next one too, up to 3.
2. The next trials train as one cohort of the cap: the trials left, and as many as fit in half the
   free device memory by an estimate of one trial's memory (weights with gradients and optimizer
   slots, and the layers' activations at this batch size).
3. Each run gives the cost of one full-budget trial at its size (`trial_cost`): from its
   measurement rows, the seconds per update (the fastest interval between evaluations once the
   programs are compiled) and the fixed cost (set-up, tracing, compiling), a cohort's compilation
   shared by the batch size's trials.
4. The rest of the batch size trains at the cheaper size. When the cohort was not at least 10%
   cheaper than the trial alone, a quarter of its size is tried next, and so on down to 2, then 1.

What a batch size learned is carried to the larger ones (`carry`, `Carried`), which the study
runs after it (batch sizes in increasing order). A trial alone at a larger batch size with the
same number of updates costs at least what it cost at the smaller one (more work per update, the
same fixed cost); with fewer updates (an `epochs` or `examples` budget), at least that cost scaled
by the ratio of updates. So when a batch size settled on a cohort at least `CLEARLY_BETTER` (2x)
cheaper per trial than one trial alone, the next larger batch size skips step 1: it starts with a
cohort of the size settled on (within its own cap) and keeps that size, with no trial alone, if
that cohort's measured cost per trial is again at most half the carried cost of a trial alone
(the margin covers the noise of one timing: the same trial alone varied by 20% between batch
sizes on one GPU). Otherwise that batch size trains one trial alone after all and decides as in
step 4, with the cohort already measured; its trials count either way, none is lost. Only costs
measured in this process are carried: a resumed study measures again from its first unfinished
batch size, and so does every distributed worker on its own.

A cohort that runs out of memory is split in halves and retried (no trial is lost), and the cap
halves. A larger batch gains less from vectorising (one trial already fills more of the device),
so once `auto` settles on 1 at one batch size, every larger one trains one at a time at once.

Example (the sizes `auto` asks for, given what each size cost per trial):

>>> from tfbsz.study.cohort_size import CohortSizer
>>> gpu = CohortSizer("auto", trials_left=40, cap=32)
>>> first = gpu.next_size(); gpu.record(first, 6.0)     # one trial alone: 6 s per trial
>>> second = gpu.next_size(); gpu.record(second, 0.4)   # 32 at once: 0.4 s per trial
>>> first, second, gpu.next_size()                      # the last 7 together
(1, 32, 7)
>>> cpu = CohortSizer("auto", trials_left=100, cap=32)
>>> for cost in (6.0, 7.5, 6.5, 6.2):                   # alone, then 32, 8, 2 at once: no gain
...     cpu.record(cpu.next_size(), cost)
>>> sorted(cpu.costs), cpu.next_size()
([1, 2, 8, 32], 1)

The next batch size starts from what the first settled on (a cohort 15x cheaper than alone):

>>> carried = gpu.carry(batch_size=8)
>>> larger = CohortSizer("auto", trials_left=40, cap=64, carried=carried)
>>> first = larger.next_size(); larger.record(first, 0.5)  # 32 at once, no trial alone first
>>> first, larger.next_size(), larger.describe(16)
(32, 8, 'bs 16: 32 trials at once (auto: measured seconds per trial, by trials at once: 32: 0.50 s; carried from bs 8, no trial alone here (one took 6.00 s at bs 8))')
"""

import math
import os
import typing

__all__ = ["Carried", "CohortSizer", "cohorts_possible", "memory_cap", "shape_keys", "trial_cost"]

# A cohort is chosen over trials alone only when it is this much cheaper per trial.
ENOUGH_BETTER = 0.9
# A cohort size is carried to the larger batch sizes, and kept there without a trial alone, only
# when the cohort is at least this many times cheaper per trial than one trial alone.
CLEARLY_BETTER = 2.0
# The most trials `auto` puts in one cohort.
MAX_AUTO = 1024
# Trials alone `auto` waits for one that shows its steady rate (3 evaluations or more).
ALONE_TRIES = 3


def shape_keys(cfg, engine):
    """The searched keys whose values change the compiled program (`engine.cohort_key` differs
    between the range's quartiles, or between the listed values)."""
    from tfbsz.study.tuning.space import build_hyperparameters

    keys = []
    for hp in build_hyperparameters(cfg.search.space).space:
        ends = {engine.cohort_key(cfg, {hp.name: hp.prob_to_value(p)}) for p in (0.25, 0.75)}
        values = getattr(hp, "values", None) or ()
        ends |= {engine.cohort_key(cfg, {hp.name: v}) for v in values}
        if len(ends) > 1:
            keys.append(hp.name)
    return keys


def cohorts_possible(cfg, strategy, engine, backend):
    """`(possible, line)`: whether trials of this study may train in cohorts, and if not, when the
    config asked for them (or a searched key rules them out), one line saying why."""
    setting = cfg.search.parallel_trials
    asked = setting != "auto"
    if setting == 1:
        return False, None
    if backend != "jax":
        return False, (f"search.parallel_trials: {setting}: the {backend} backend trains trials one at a time"
                       if asked else None)
    if engine is None:
        return False, (f"search.parallel_trials: {setting}: the cohort engine is not installed; "
                       "trials train one at a time" if asked else None)
    from tfbsz.study import cohort_runs

    able, why = cohort_runs.can_run(cfg, strategy, engine)
    if not able:
        return False, f"search.parallel_trials: {setting}: trials train one at a time ({why})"
    keys = shape_keys(cfg, engine)
    if keys:
        return False, (f"search.space.{keys[0]} changes the compiled program (e.g. the model's shapes): every "
                       "trial needs its own, so trials train one at a time (cohorts of one)")
    if not asked and strategy is not None and strategy.num_replicas > 1 and strategy.reason is None:
        return False, (f"strategy: {strategy.name} was chosen by name: trials train one at a time, "
                       "each over all devices (strategy: auto would compare with cohorts)")
    return True, None


class Carried(typing.NamedTuple):
    """What `auto` settled on at one batch size, handed to the larger ones (`CohortSizer.carry`).

    Attributes:
        batch_size: the batch size `auto` settled at.
        size: the cohort size it settled on there.
        alone: seconds one full-budget trial alone cost, measured at `alone_batch_size` (itself,
            or a smaller batch size this one was carried from) for `budget` updates.
        budget: the updates of a trial at `batch_size`.
        alone_batch_size: where that trial alone was trained.
    """

    batch_size: int
    size: int
    alone: float
    budget: int | None
    alone_batch_size: int

    def alone_at(self, budget):
        """The least one trial alone can cost at a larger batch size whose trials have `budget`
        updates (None: the same budget): at least as much per update (same model, larger
        batches) and as much fixed cost, so `alone`, scaled down for a smaller budget only."""
        if budget is None or self.budget is None:
            return self.alone
        return self.alone * min(1.0, budget / self.budget)


class CohortSizer:
    """The cohort sizes of one batch size's search (see the module docstring).

    Args:
        setting: `search.parallel_trials`, "auto" or a positive integer.
        trials_left: the trials this batch size still has to run.
        cap: the largest cohort `auto` may try (e.g. `memory_cap`); ignored for a fixed number.
        carried: what `auto` settled on at a smaller batch size (`carry`), or None.
        budget: the updates of one of this batch size's trials (scales `carried`'s trial alone;
            None: the same budget as there).
    """

    def __init__(self, setting, trials_left, cap=MAX_AUTO, carried=None, budget=None):
        self.left = self.total = max(0, int(trials_left))
        self.cap = max(1, min(int(cap), MAX_AUTO))
        self.budget = budget
        self.costs = {}  # size -> seconds per full-budget trial, as measured
        self.settled = None if setting == "auto" else int(setting)
        # a carried cohort size is tried first, while it fits (cap >= 2); else a trial alone first
        self.carried = carried if self.settled is None and carried is not None and self.cap >= 2 else None
        self._trying = min(self.carried.size, self.cap) if self.carried else None  # the cohort size measured
        self._alone = []  # costs of trials alone that ended before their rate could be seen
        self._pending = None  # (size, cost) of a carried cohort not clearly cheaper: decided after a trial alone
        self._chosen = None  # (size, cost) of the run the setting was settled by

    def next_size(self):
        """How many trials to take for the next cohort."""
        if self.settled is not None:
            size = self.settled
        elif 1 not in self.costs and (self.carried is None or self._pending is not None):
            size = 1
        else:
            size = self._trying
        return max(1, min(size, self.left))

    def observe(self, size, results, seconds):
        """A run of `size` trials at once ended: its `TrialResult`s and wall time, or None when it
        ran out of memory (its trials are retried in smaller cohorts)."""
        if results is None:
            self.record(size, math.inf)
        else:
            self.record(size, *trial_cost(results, seconds, size, self.total))

    def record(self, size, cost, steady=True):
        """`size` trials ran at once at `cost` seconds per full-budget trial (inf: did not fit).

        A trial alone that ended before its rate could be seen (`steady` False) is followed by
        another trial alone, up to `ALONE_TRIES`.
        """
        if cost == math.inf:
            self.cap = max(1, size // 2)
            if self.settled is not None:
                self.settled = min(self.settled, self.cap)
            else:
                self._trying = self.cap
            return
        self.left -= size
        if self.settled is not None:
            return
        if size == 1:
            self._alone.append(cost)
            if steady or len(self._alone) >= ALONE_TRIES:
                self.costs[1] = cost if steady else min(self._alone)
                if self._pending is not None:  # the carried cohort, now against this batch size's own
                    self._decide(*self._pending)
                    self._pending = None
                elif self.cap < 2:
                    self.settled, self._chosen = 1, (1, self.costs[1])
                else:
                    self._trying = self.cap
            return
        self.costs[size] = cost
        if 1 in self.costs:
            self._decide(size, cost)
        elif self.carried is not None and cost * CLEARLY_BETTER <= self.carried.alone_at(self.budget):
            self.settled, self._chosen = self._trying, (size, cost)
        else:  # not clearly cheaper than the smaller batch size's trial alone: measure one here
            self._pending = (size, cost)

    def _decide(self, size, cost):
        """A cohort of `size` cost `cost` per trial; a trial alone here `costs[1]`."""
        if cost < ENOUGH_BETTER * self.costs[1]:
            self.settled, self._chosen = self._trying, (size, cost)
        elif self._trying // 4 >= 2:
            self._trying //= 4
        else:
            self.settled, self._chosen = 1, (1, self.costs[1])

    def carry(self, batch_size):
        """What the larger batch sizes may start from (`Carried`), or None: only a cohort that was
        at least `CLEARLY_BETTER` times cheaper per trial than one trial alone is carried."""
        if self.settled is None or self.settled < 2 or self._chosen is None:
            return None
        if 1 in self.costs:
            alone, where = self.costs[1], batch_size
        else:
            alone, where = self.carried.alone_at(self.budget), self.carried.alone_batch_size
        if self._chosen[1] * CLEARLY_BETTER > alone:
            return None
        return Carried(batch_size, self.settled, alone, self.budget, where)

    def describe(self, batch_size):
        """One line: what `auto` chose at this batch size and the costs it measured (None before)."""
        if self.settled is None or self._chosen is None:
            return None
        shown = ", ".join(f"{n}: {c:.2f} s" for n, c in sorted(self.costs.items()))
        what = f"{self._chosen[0]} trials at once" if self.settled > 1 else "1 trial at a time"
        line = f"bs {batch_size}: {what} (auto: measured seconds per trial, by trials at once: {shown}"
        if 1 not in self.costs:
            c = self.carried
            line += (f"; carried from bs {c.batch_size}, no trial alone here (one took "
                     f"{c.alone:.2f} s at bs {c.alone_batch_size})")
        return line + ")"


def trial_cost(results, seconds, size, trials):
    """`(seconds per full-budget trial, steady)` for trials trained `size` at a time, from one run.

    A run's measurement rows carry `wall_time_s` since training began, taken before each
    evaluation. The seconds per update are the fastest interval between rows after the second
    (the first intervals hold the tracing and compiling of the train and evaluation programs);
    everything else in the run's wall time is fixed cost. A trial alone pays all of it; a cohort
    shares its fixed cost among its members and its first calls (compilation, done once per
    batch size) among the batch size's `trials`. `steady` is False when the rows were too few to
    see a steady interval (fewer than 3).

    Args:
        results: the run's `TrialResult`s.
        seconds: the run's wall time, set-up included.
        size: how many trials it trained at once.
        trials: the batch size's trials.
    """
    rows = max((r.measurements for r in results), key=len, default=[])
    rows = [r for r in rows if r.get("wall_time_s") is not None and r.get("step")]
    budget = max(r.max_steps for r in results)
    if not rows:
        return seconds / size, False
    steady = len(rows) >= 3
    if steady:
        per_update = min((b["wall_time_s"] - a["wall_time_s"]) / (b["step"] - a["step"])
                         for a, b in zip(rows[1:], rows[2:]))
    elif len(rows) == 2:
        per_update = (rows[1]["wall_time_s"] - rows[0]["wall_time_s"]) / (rows[1]["step"] - rows[0]["step"])
    else:
        per_update = rows[0]["wall_time_s"] / rows[0]["step"]
    per_update = max(per_update, 0.0)
    fixed = max(0.0, seconds - rows[-1]["step"] * per_update)
    if size == 1:  # every trial alone traces and compiles its own programs
        return fixed + budget * per_update, steady
    early = rows[min(1, len(rows) - 1)]
    first_calls = min(fixed, max(0.0, early["wall_time_s"] - early["step"] * per_update))
    return (fixed - first_calls + budget * per_update) / size + first_calls / max(1, trials), steady


def _free_memory_bytes(strategy):
    """Free memory of the devices a cohort would use: the accelerators' own, else the host's."""
    import jax

    devices = jax.local_devices()
    if strategy is not None and strategy.num_replicas > 1:
        devices = devices[:strategy.num_replicas]
    else:
        devices = devices[:1]
    free = 0
    for device in devices:
        stats = device.memory_stats() if hasattr(device, "memory_stats") else None
        if not stats or "bytes_limit" not in stats:
            return _host_available_bytes()
        free += stats["bytes_limit"] - stats.get("bytes_in_use", 0)
    return free


def _host_available_bytes():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def memory_cap(cfg, batch_size, dataset, strategy):
    """How many trials fit in half the free device memory, by an estimate of one trial's memory.

    The devices are those the cohort would use: the strategy's, else the default device."""
    return max(1, int(0.5 * _free_memory_bytes(strategy) // _trial_bytes(cfg, batch_size, dataset)))


def _trial_bytes(cfg, batch_size, dataset):
    """One trial's memory, estimated from its model: weights with their gradients and optimizer
    slots (5 copies), and every layer's output at this batch size, kept for the backward pass
    (twice, and four times over for what layers hold inside, e.g. attention scores)."""
    import keras

    from tfbsz import models

    model = models.build(cfg.model, dataset)
    weights = 5 * 4 * model.count_params()
    activations = 0
    for layer in model.layers:
        try:
            outputs = keras.tree.flatten(layer.output)
        except (AttributeError, ValueError):  # a layer of a subclassed model, never called symbolically
            continue
        for output in outputs:
            activations += math.prod(int(d) for d in output.shape[1:] if d is not None)
    del model
    return weights + 8 * 4 * batch_size * activations
