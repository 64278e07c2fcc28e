"""How many trials train at once (`search.parallel_trials`): fixed, or measured (`auto`).

A cohort of N trials trains as one vectorised program (JAX backend, `tfbsz.study.cohorts`). Some
studies always train one trial at a time, whatever the batch size (`one_at_a_time_reason`): the
TensorFlow backend, a strategy the engine cannot run, a search over a key that changes the model's
shapes (every trial would need its own program), or `strategy: data_parallel` asked for by name
with `parallel_trials: auto` (data parallelism was chosen): `cohorts_possible` says so, once.

`auto` measures, per batch size (`choose`):

1. A memory cap: free device memory over an estimate of one trial's memory (weights, gradients
   and optimizer slots, and the layers' activations at this batch size), and the trials left.
2. A short timing probe: two short runs (S and 2S updates, unreachable target) of one trial alone
   (the plain trainer, every trial paying its own set-up) and of a cohort of the cap (the engine;
   a first run compiles), from which the cost of one full-budget trial follows: the set-up, the
   budget's updates and, for a cohort, its compilation shared by the batch size's trials left.
   A cohort that runs out of memory is retried at half the size.
3. The smallest measured size within 10% of the cheapest. When the cap is not cheaper, a quarter
   of it is tried, and so on down to 2.

A larger batch gains less from vectorising (one trial already fills more of the device), so once
`auto` picks 1 at one batch size it picks 1 at every larger one without probing.

Example (the choice, given a cost per trial for each cohort size):

>>> from tfbsz.study.cohort_size import pick_size
>>> pick_size(lambda n: {1: 4.0, 16: 0.5, 4: 1.2}[n], cap=16)      # a GPU: the cohort is cheaper
(16, {1: 4.0, 16: 0.5})
>>> pick_size(lambda n: {1: 1.0, 16: 1.3, 4: 1.1}[n], cap=16)      # a small CPU: one at a time
(1, {1: 1.0, 16: 1.3, 4: 1.1})
"""

import math
import os
import time

from tfbsz.study.trainer import CohortMember, apply_parameters, run_in_turn

__all__ = ["choose", "cohorts_possible", "pick_size", "shape_keys"]

# A cohort is chosen over a smaller one only when it is this much cheaper per trial.
ENOUGH_BETTER = 0.9
# The most trials `auto` puts in one cohort.
MAX_AUTO = 1024


def shape_keys(cfg, engine):
    """The searched keys whose values change the compiled program (`engine.cohort_key` differs)."""
    from tfbsz.study.tuning.space import build_hyperparameters

    keys = []
    for hp in build_hyperparameters(cfg["search"]["space"]).space:
        ends = {engine.cohort_key(cfg, {hp.name: hp.prob_to_value(p)}) for p in (1e-9, 1 - 1e-9)}
        values = getattr(hp, "values", None) or ()
        ends |= {engine.cohort_key(cfg, {hp.name: v}) for v in values}
        if len(ends) > 1:
            keys.append(hp.name)
    return keys


def cohorts_possible(cfg, strategy, engine, backend):
    """`(possible, line)`: whether trials of this study may train in cohorts, and if not, when the
    config asked for them (or a searched key rules them out), one line saying why."""
    setting = cfg["search"]["parallel_trials"]
    asked = setting != "auto"
    if setting == 1:
        return False, None
    if backend != "jax":
        return False, (f"search.parallel_trials: {setting}: the {backend} backend trains trials one at a time"
                       if asked else None)
    if engine is None:
        return False, (f"search.parallel_trials: {setting}: the cohort engine is not installed; "
                       "trials train one at a time" if asked else None)
    able, why = engine.can_run_as_cohort(cfg, strategy)
    if not able:
        return False, f"search.parallel_trials: {setting}: trials train one at a time ({why})"
    keys = shape_keys(cfg, engine)
    if keys:
        return False, (f"search.space.{keys[0]} changes the model's shapes: every trial needs its own "
                       "program, so trials train one at a time (cohorts of one)")
    if not asked and strategy is not None and strategy.num_replicas > 1 and strategy.reason is None:
        return False, (f"strategy: {strategy.name} was chosen by name: trials train one at a time, "
                       "each over all devices (strategy: auto would compare with cohorts)")
    return True, None


def pick_size(cost, cap):
    """The cohort size to use and the costs measured: `cost(n)` is seconds per trial at size n."""
    costs = {1: cost(1)}
    n = cap
    while n >= 2:
        costs[n] = cost(n)
        if costs[n] < ENOUGH_BETTER * costs[1]:
            break
        n //= 4
    best = min(costs.values())
    return min(n for n, c in costs.items() if c <= best / ENOUGH_BETTER), costs


def choose(cfg, batch_size, trials_left, dataset, strategy, engine, probe_steps=None):
    """`(size, line)` for one batch size: how many trials to train at once, and a line saying why.

    `cfg["search"]["parallel_trials"]` N gives min(N, trials left); `auto` measures (see the module
    docstring). Call only when `cohorts_possible` says they are.
    """
    setting = cfg["search"]["parallel_trials"]
    if trials_left < 2:
        return 1, None
    if setting != "auto":
        return min(setting, trials_left), None
    cap = min(trials_left, MAX_AUTO, _memory_cap(cfg, batch_size, dataset, strategy))
    if cap < 2:
        return 1, f"bs {batch_size}: 1 trial at a time (auto: one trial fills the free device memory)"
    probe = _Probe(cfg, batch_size, dataset, strategy, engine, trials_left, probe_steps)
    size, costs = pick_size(probe.cost, cap)
    shown = ", ".join(f"{n}: {c:.2f} s" for n, c in sorted(costs.items()))
    where = f" over {strategy.num_replicas} devices" if size > 1 and strategy is not None and strategy.num_replicas > 1 else ""
    what = f"{size} trials at once{where}" if size > 1 else "1 trial at a time"
    return size, f"bs {batch_size}: {what} (auto: measured cost per trial by cohort size {shown})"


class _Probe:
    """Times short runs at one batch size and turns them into the cost of one full-budget trial."""

    def __init__(self, cfg, batch_size, dataset, strategy, engine, trials_left, steps=None):
        from tfbsz.core.config import steps_budget

        self.full_steps = steps_budget(cfg, batch_size, len(dataset.x_train))
        self.steps = steps or max(1, min(max(cfg["eval_every"], 10), self.full_steps // 2))
        self.cfg = cfg
        self.batch_size = batch_size
        self.dataset = dataset
        self.strategy = strategy
        self.engine = engine
        self.trials_left = trials_left
        self.parameters = _space_midpoint(cfg["search"]["space"])

    def _probe_cfg(self, steps):
        cfg = apply_parameters(self.cfg, {})
        cfg["budget"] = {**cfg["budget"], "max_steps": steps, "epochs": None, "examples": None,
                         "stop_when_beaten": False}
        target = cfg["target"]
        target["threshold"] = -1e30 if target["direction"] == "min" else 1e30  # never reached
        cfg["save_models"] = "none"
        return cfg

    def _run(self, runner, n, steps):
        members = [CohortMember(dict(self.parameters), seed=k, trial_id=f"probe{k}") for k in range(n)]
        started = time.perf_counter()
        results = runner(self._probe_cfg(steps), members, self.batch_size, self.dataset, strategy=self.strategy)
        return time.perf_counter() - started, max(r.steps for r in results)

    def cost(self, n):
        """Seconds per trial of a full-budget trial trained in a cohort of `n` (inf if it does not fit)."""
        runner = run_in_turn if n == 1 else self.engine.run_cohort
        try:
            compile_time = 0.0
            if n > 1:
                first, _ = self._run(runner, n, self.steps)
            short, short_steps = self._run(runner, n, self.steps)
            long, long_steps = self._run(runner, n, 2 * self.steps)
            if n > 1:
                compile_time = max(0.0, first - short)
        except Exception as error:  # out of memory: this size does not fit
            if n > 1 and _out_of_memory(error):
                return math.inf
            raise
        per_step = (long - short) / (long_steps - short_steps) if long_steps > short_steps else short / max(1, short_steps)
        per_step = max(per_step, 0.0)
        setup = max(0.0, short - short_steps * per_step)
        return (setup + self.full_steps * per_step) / n + compile_time / self.trials_left


def _out_of_memory(error):
    text = f"{type(error).__name__} {error}".lower()
    return any(word in text for word in ("resource_exhausted", "out of memory", "oom", "memoryerror"))


def _space_midpoint(space):
    """The middle of every searched range (quantile 0.5), the first of every list of values."""
    from tfbsz.study.tuning.space import build_hyperparameters, reverse_log_value

    values = {}
    for hp in build_hyperparameters(space).space:
        spec = space[hp.name]
        if "values" in spec:
            values[hp.name] = spec["values"][0]
        elif spec.get("scale") == "reverse_log":
            values[hp.name] = reverse_log_value(0.5, spec["min"], spec["max"])
        else:
            values[hp.name] = hp.prob_to_value(0.5)
    return values


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


def _memory_cap(cfg, batch_size, dataset, strategy):
    """How many trials fit in half the free device memory, by an estimate of one trial's memory."""
    return max(1, int(0.5 * _free_memory_bytes(strategy) // _trial_bytes(cfg, batch_size, dataset)))


def _trial_bytes(cfg, batch_size, dataset):
    """One trial's memory, estimated from its model: weights with their gradients and optimizer
    slots (5 copies), and every layer's output at this batch size, kept for the backward pass
    (twice, and four times over for what layers hold inside, e.g. attention scores)."""
    import keras

    from tfbsz import models

    model = models.build(cfg["model"], dataset)
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
    keras.backend.clear_session()
    return weights + 8 * 4 * batch_size * activations
