"""How many trials train at once (`search.parallel_trials`): a number, or measured (`auto`).

A cohort of N trials trains as one vectorised program (JAX backend, `tfbsz.study.cohorts`). Some
studies train one trial at a time at every batch size, and `cohorts_possible` says why, once: the
TensorFlow backend (when N was asked for), a configuration the engine cannot run, a search over a
key that changes the compiled program (a model width, a depth, a sequence length: every trial
would need its own), or `strategy: data_parallel` named with `parallel_trials: auto` (the config
chose data parallelism).

`auto` (a `CohortSizer` per batch size) measures with the batch size's own first trials, so
nothing is trained only to be timed:

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
"""

import math
import os

__all__ = ["CohortSizer", "cohorts_possible", "memory_cap", "shape_keys", "trial_cost"]

# A cohort is chosen over trials alone only when it is this much cheaper per trial.
ENOUGH_BETTER = 0.9
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


class CohortSizer:
    """The cohort sizes of one batch size's search (see the module docstring).

    Args:
        setting: `search.parallel_trials`, "auto" or a positive integer.
        trials_left: the trials this batch size still has to run.
        cap: the largest cohort `auto` may try (e.g. `memory_cap`); ignored for a fixed number.
    """

    def __init__(self, setting, trials_left, cap=MAX_AUTO):
        self.left = self.total = max(0, int(trials_left))
        self.cap = max(1, min(int(cap), MAX_AUTO))
        self.costs = {}  # size -> seconds per full-budget trial, as measured
        self.settled = None if setting == "auto" else int(setting)
        self._trying = None  # the cohort size being measured after the trial alone
        self._alone = []  # costs of trials alone that ended before their rate could be seen

    def next_size(self):
        """How many trials to take for the next cohort."""
        if self.settled is not None:
            size = self.settled
        elif 1 not in self.costs:
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
                self._trying = self.cap
                if self.cap < 2:
                    self.settled = 1
            return
        self.costs[size] = cost
        if cost < ENOUGH_BETTER * self.costs[1]:
            self.settled = self._trying
        elif self._trying // 4 >= 2:
            self._trying //= 4
        else:
            self.settled = 1

    def describe(self, batch_size):
        """One line: what `auto` chose at this batch size and the costs it measured (None before)."""
        if self.settled is None or not self.costs:
            return None
        shown = ", ".join(f"{n}: {c:.2f} s" for n, c in sorted(self.costs.items()))
        what = f"{max(self.costs)} trials at once" if self.settled > 1 else "1 trial at a time"
        return f"bs {batch_size}: {what} (auto: measured seconds per trial, by trials at once: {shown})"


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
