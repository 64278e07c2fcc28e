"""Distribution strategies: how a global batch is split across replicas, and where variables live.

`get(strategy_cfg)` builds a `Strategy` from the `strategy:` config section.
Every strategy has `.name`, `.num_replicas`, `.scope()` (create the model,
optimizer and metrics inside it), `.per_replica_batch(global_batch)` (a
`ConfigError` unless it divides) and `.describe()` (one line).

Names and their backends:

* `auto`: the best of the ones below for this machine (`auto.py`);
* `one_device`: no replication (any backend);
* `mirrored`: `tf.distribute.MirroredStrategy`, local GPUs or logical CPUs (TensorFlow);
* `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy` from TF_CONFIG (TensorFlow);
* `tpu`: `tf.distribute.TPUStrategy` (TensorFlow);
* `data_parallel`: `keras.distribution.DataParallel` (JAX).

This is about *distribution*; batch-size scaling rules for the learning rate
live in `tfbsz.training.schedules`, gradient accumulation in `tfbsz.training.accumulation`.
Interactions worth knowing (Keras 3.15): Keras turns auto-XLA off under
`tf.distribute`; under `mirrored`, `clipnorm`/`global_clipnorm` act per
replica before the all-reduce; `optimizer.stateless_apply` does not work on
the TensorFlow backend. Importing this package imports neither TensorFlow nor
JAX; each strategy imports its framework when built.

Example:

>>> from tfbsz import strategies
>>> strategies.names()
['auto', 'data_parallel', 'mirrored', 'multi_worker', 'one_device', 'tpu']
>>> sorted(strategies.options("mirrored"))
['cpu_devices', 'devices']
>>> s = strategies.get({"name": "auto"})   # doctest: +SKIP
>>> with s.scope():                        # doctest: +SKIP
...     model = ...                        # build and compile here
"""

from tfbsz.core.errors import ConfigError
from tfbsz.core.registry import Registry
from tfbsz.strategies import auto, jax_data_parallel, mirrored, multi_worker, one_device, tpu
from tfbsz.strategies.base import Strategy

__all__ = ["Strategy", "get", "names", "options"]

_BUILDERS = Registry("strategy", key="strategy.name")
for _name, _module in [
    ("auto", auto),
    ("one_device", one_device),
    ("mirrored", mirrored),
    ("multi_worker", multi_worker),
    ("tpu", tpu),
    ("data_parallel", jax_data_parallel),
]:
    _BUILDERS.register(_name, _module)


def names():
    """The strategy names `get` accepts, sorted."""
    return _BUILDERS.names()


def options(name):
    """{option: description} for strategy `name` (besides "name"); `ConfigError` for unknown names."""
    return dict(_BUILDERS.get(name).OPTIONS)


def get(strategy_cfg):
    """The `Strategy` that `strategy_cfg` (e.g. {"name": "mirrored", "cpu_devices": 2}) describes.

    A missing config or name means "auto".

    Raises:
        ConfigError: unknown name or option, bad value, batch/device mismatch.
        TfbszError: the environment cannot provide it (no TPU answers, a worker cannot start).
    """
    cfg = {"name": "auto"} if strategy_cfg is None else strategy_cfg
    if isinstance(cfg, str):
        cfg = {"name": cfg}
    if not isinstance(cfg, dict):
        raise ConfigError(f"strategy: expected a mapping such as {{name: auto}}, got {cfg!r}")
    cfg = dict(cfg)
    name = cfg.get("name", "auto")
    return _BUILDERS.get(name).build(cfg)
