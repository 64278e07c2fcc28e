"""`Strategy`: where variables live and how a global batch is split across replicas.

This module imports neither TensorFlow nor JAX: the concrete strategies wrap a
`tf.distribute.Strategy` (`tf_wrapper.py`) or a `keras.distribution.Distribution`
(`jax_data_parallel.py`) and are built lazily by `tfbsz.strategies.get`.

Example:

>>> import contextlib
>>> from tfbsz.strategies.base import Strategy
>>> class Local(Strategy):
...     def scope(self):
...         return contextlib.nullcontext()
>>> s = Local("one_device", devices=["/cpu:0"])
>>> s.num_replicas, s.per_replica_batch(64)
(1, 64)
>>> s.describe()
'one_device: 1 replica on /cpu:0'
"""

import abc

from tfbsz.core import checks
from tfbsz.core.errors import ConfigError

__all__ = ["Strategy", "check_options", "check_positive_int"]


def check_positive_int(key, value):
    """`value` as an int; a `ConfigError` naming `key` unless it is an integer >= 1."""
    return checks.integer(value, key)


def check_options(name, cfg, allowed):
    """A `ConfigError` if `cfg` (a strategy config) has keys other than "name" and `allowed`."""
    if not isinstance(cfg, dict):
        raise ConfigError(f"strategy: expected a mapping such as {{name: auto}}, got {cfg!r}")
    unknown = sorted(set(cfg) - {"name"} - set(allowed))
    if unknown:
        valid = ", ".join(sorted(allowed)) or "none"
        raise ConfigError(
            f"strategy: unknown option(s) {', '.join(unknown)} for strategy '{name}'; "
            f"valid options: {valid}"
        )


class Strategy(abc.ABC):
    """A data-parallel placement of one model: `num_replicas` copies, each fed a slice of the batch.

    Args:
        name: the registered strategy name ("mirrored", "tpu", ...).
        devices: the replica devices, as strings, in replica order.
        reason: why this strategy was chosen (set by `auto`), shown by `describe()`.
    """

    def __init__(self, name, devices, reason=None):
        self.name = name
        self.devices = [str(d) for d in devices]
        self.reason = reason

    @property
    def num_replicas(self):
        """How many model replicas each step runs on (the global batch is split this many ways)."""
        return len(self.devices)

    @abc.abstractmethod
    def scope(self):
        """A context manager; create the model, optimizer and metrics (and call `fit`) inside it."""

    def per_replica_batch(self, global_batch):
        """The batch each replica sees: `global_batch / num_replicas`.

        Raises:
            ConfigError: when `global_batch` is not a positive integer or does not divide
                evenly across the replicas.
        """
        global_batch = checks.integer(global_batch, "batch size")
        replicas = self.num_replicas
        if global_batch % replicas:
            lower = global_batch - global_batch % replicas
            upper = lower + replicas
            nearest = f"{lower} or {upper}" if lower else f"{upper}"
            raise ConfigError(
                f"batch size {global_batch} does not divide evenly across {replicas} replicas "
                f"({self.name}); use a multiple of {replicas}, e.g. {nearest}"
            )
        return global_batch // replicas

    def describe(self):
        """One line: the strategy, its replica count and devices (and why `auto` chose it)."""
        n = self.num_replicas
        line = f"{self.name}: {n} replica{'' if n == 1 else 's'} on {', '.join(self.devices)}"
        if self.reason:
            line += f" (chosen by auto: {self.reason})"
        return line

    def __repr__(self):
        return f"<{type(self).__name__} {self.describe()}>"
