"""Gradient accumulation: train at a global batch larger than the devices can hold.

`plan_accumulation` splits each global batch into `k` micro-batches so that
each replica sees at most `max_device_batch` examples at a time. The trainer
then feeds micro-batches of `micro_batch_global` examples and builds the
optimizer with `optimizer_kwargs(k)`, i.e. Keras's
`gradient_accumulation_steps=k` (Keras 3.15 `BaseOptimizer`):

* on k-1 micro-steps the gradients are added into accumulators; on the k-th
  the optimizer applies `(g_k + sum of the others) / k`, the *mean* gradient,
  so with a mean-reduced loss one update equals one update on the global
  batch (clipping and weight decay also happen once, on the mean);
* `optimizer.iterations` counts updates (`floor(micro_steps / k)`), which is
  what Adam/LAMB bias correction sees; the raw micro-step counter
  (`optimizer._iterations`) is what a `LearningRateSchedule` receives, so
  schedules must divide by k (`tfbsz.training.schedules.build(..., accumulation_steps=k)`);
* Keras rejects `gradient_accumulation_steps=1`; `optimizer_kwargs(1)` is empty;
* it works with the `one_device` strategy (TensorFlow or JAX) and with
  `data_parallel` (JAX), but not under `mirrored`, `multi_worker` or `tpu`
  (Keras 3.15 calls `merge_call` inside `ops.cond`): `check_strategy_supports`
  turns that into a `ConfigError` before training starts.

tfbsz counts *steps* as optimizer updates throughout.

Example:

>>> from tfbsz.training.accumulation import plan_accumulation, optimizer_kwargs
>>> plan = plan_accumulation(global_batch=1024, num_replicas=2, max_device_batch=128)
>>> plan
AccumulationPlan(micro_batch_global=256, accumulation_steps=4)
>>> plan.micro_batch_global // 2, plan.global_batch      # per replica per micro-step, per update
(128, 1024)
>>> optimizer_kwargs(plan.accumulation_steps)
{'gradient_accumulation_steps': 4}
>>> plan_accumulation(64, 1, None)
AccumulationPlan(micro_batch_global=64, accumulation_steps=1)
"""

from typing import NamedTuple

from tfbsz.core import checks
from tfbsz.core.errors import ConfigError

__all__ = [
    "AccumulationPlan",
    "plan_accumulation",
    "optimizer_kwargs",
    "check_strategy_supports",
    "UNSUPPORTED_STRATEGIES",
]

# Keras 3.15 on TensorFlow wraps the accumulate-or-update choice in `ops.cond`, and under a
# multi-replica tf.distribute strategy the update inside it calls `merge_call`, which raises
# "`merge_call` called while defining a new graph or a tf.function". Measured with
# MirroredStrategy; MultiWorkerMirrored and TPU strategies take the same code path.
UNSUPPORTED_STRATEGIES = ("mirrored", "multi_worker", "tpu")


class AccumulationPlan(NamedTuple):
    """How to run one global batch: `accumulation_steps` micro-batches of `micro_batch_global`."""

    micro_batch_global: int
    accumulation_steps: int

    @property
    def global_batch(self):
        return self.micro_batch_global * self.accumulation_steps


def plan_accumulation(global_batch, num_replicas, max_device_batch):
    """The smallest accumulation that keeps every replica's micro-batch within `max_device_batch`.

    Finds the smallest k >= 1 such that `global_batch / (num_replicas * k)` is a whole
    number no larger than `max_device_batch`.

    Args:
        global_batch: examples per optimizer update, over all replicas.
        num_replicas: replicas of the strategy (`Strategy.num_replicas`).
        max_device_batch: most examples one replica can process at once; None = no limit.

    Returns:
        `AccumulationPlan(micro_batch_global, accumulation_steps)`, a 2-tuple.

    Raises:
        ConfigError: an argument is not a positive integer, or `global_batch` does not divide
            evenly across `num_replicas`.
    """
    global_batch = checks.integer(global_batch, "batch size")
    num_replicas = checks.integer(num_replicas, "num_replicas")
    if max_device_batch is not None:
        max_device_batch = checks.integer(max_device_batch, "max_device_batch")
    if global_batch % num_replicas:
        raise ConfigError(
            f"batch size {global_batch} does not divide evenly across {num_replicas} replicas; "
            f"use a multiple of {num_replicas}"
        )
    per_replica = global_batch // num_replicas
    steps = 1
    if max_device_batch is not None:
        steps = next(
            k for k in range(1, per_replica + 1)
            if per_replica % k == 0 and per_replica // k <= max_device_batch
        )
    return AccumulationPlan(global_batch // steps, steps)


def optimizer_kwargs(accumulation_steps):
    """Keyword arguments for a Keras optimizer: {} for 1, {"gradient_accumulation_steps": k} for k >= 2."""
    accumulation_steps = checks.integer(accumulation_steps, "accumulation_steps")
    return {} if accumulation_steps == 1 else {"gradient_accumulation_steps": accumulation_steps}


def check_strategy_supports(strategy_name, accumulation_steps):
    """A `ConfigError` when Keras cannot accumulate gradients under strategy `strategy_name`.

    Example:

    >>> check_strategy_supports("one_device", 4)
    >>> check_strategy_supports("mirrored", 1)
    >>> check_strategy_supports("mirrored", 4)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tfbsz.core.errors.ConfigError: gradient accumulation (4 steps) does not work with strategy 'mirrored' ...
    """
    accumulation_steps = checks.integer(accumulation_steps, "accumulation_steps")
    if accumulation_steps > 1 and strategy_name in UNSUPPORTED_STRATEGIES:
        raise ConfigError(
            f"gradient accumulation ({accumulation_steps} steps) does not work with strategy "
            f"'{strategy_name}' in Keras 3.15 (merge_call inside ops.cond under tf.distribute); "
            "raise the per-device batch limit so no accumulation is needed, or use one_device, "
            "or data_parallel on the JAX backend"
        )
