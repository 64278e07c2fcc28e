"""`multi_worker`: synchronous data parallelism over hosts (`tf.distribute.MultiWorkerMirroredStrategy`).

Each worker process runs the same program with its own `TF_CONFIG`
environment variable, a JSON object such as::

    {"cluster": {"worker": ["host1:12345", "host2:12345"]},
     "task": {"type": "worker", "index": 0}}

Worker 0 is the chief (it should be the one that writes results). The
strategy must be built before any other TensorFlow op runs in the process.
Replicas are all devices of all workers; `describe()` names the workers.
LAMB under this strategy failed in tensorflow-addons (tensorflow/addons#1896):
tfbsz tests it explicitly.

Example:

>>> import os
>>> from tfbsz import strategies
>>> os.environ.pop("TF_CONFIG", None) and None
>>> strategies.get({"name": "multi_worker"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
tfbsz.core.errors.ConfigError: strategy multi_worker: the TF_CONFIG environment variable is not set; ...
"""

import json
import os

from tfbsz.core.errors import ConfigError, TfbszError
from tfbsz.strategies.base import check_options
from tfbsz.strategies.tf_wrapper import TFDistributeStrategy

__all__ = ["OPTIONS", "build", "read_tf_config", "MultiWorkerStrategy"]

OPTIONS = {"communication": 'collective implementation: "auto" (default), "ring" or "nccl"'}
_EXAMPLE = (
    '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
)


def read_tf_config(environ=None):
    """The parsed `TF_CONFIG` as (worker addresses, task type, task index).

    Raises:
        ConfigError: when TF_CONFIG is missing, not JSON, or inconsistent.
    """
    environ = os.environ if environ is None else environ
    raw = environ.get("TF_CONFIG")
    where = "strategy multi_worker: "
    if not raw:
        raise ConfigError(
            f"{where}the TF_CONFIG environment variable is not set; set it in every worker, "
            f"e.g. {_EXAMPLE}"
        )
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{where}TF_CONFIG is not valid JSON ({e.msg} at char {e.pos})") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    workers = cluster.get("worker") if isinstance(cluster, dict) else None
    if not isinstance(workers, list) or not workers or not all(isinstance(w, str) for w in workers):
        raise ConfigError(
            f"{where}TF_CONFIG.cluster.worker: expected a non-empty list of host:port strings, "
            f"got {workers!r}"
        )
    task = config.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ConfigError(f"{where}TF_CONFIG.task: expected {{type, index}}, got {task!r}")
    task_type, index = task["type"], task["index"]
    known = [t for t in cluster if isinstance(cluster.get(t), list)]
    if task_type not in known:
        raise ConfigError(
            f"{where}TF_CONFIG.task.type: expected one of {', '.join(known)}, got {task_type!r}"
        )
    size = len(cluster[task_type])
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
        raise ConfigError(
            f"{where}TF_CONFIG.task.index: expected an integer in [0, {size}), got {index!r}"
        )
    return workers, task_type, index


class MultiWorkerStrategy(TFDistributeStrategy):
    """`TFDistributeStrategy` whose `describe()` lists the workers and this process's task."""

    def __init__(self, tf_strategy, workers, task_type, task_index, reason=None):
        super().__init__("multi_worker", tf_strategy, reason)
        self.workers = list(workers)
        self.task = (task_type, task_index)

    def describe(self):
        n = self.num_replicas
        line = (
            f"multi_worker: {n} replica{'' if n == 1 else 's'} over {len(self.workers)} "
            f"worker{'' if len(self.workers) == 1 else 's'} ({', '.join(self.workers)}); "
            f"this is {self.task[0]} {self.task[1]} on {', '.join(self.devices)}"
        )
        if self.reason:
            line += f" (chosen by auto: {self.reason})"
        return line


def build(cfg, reason=None):
    """A `MultiWorkerMirroredStrategy` from `TF_CONFIG`; `ConfigError` when TF_CONFIG is unusable."""
    check_options("multi_worker", cfg, OPTIONS)
    communication = cfg.get("communication", "auto")
    if communication not in ("auto", "ring", "nccl"):
        raise ConfigError(
            f'strategy.communication: expected "auto", "ring" or "nccl", got {communication!r}'
        )
    workers, task_type, task_index = read_tf_config()
    import tensorflow as tf

    implementation = getattr(tf.distribute.experimental.CommunicationImplementation, communication.upper())
    options = tf.distribute.experimental.CommunicationOptions(implementation=implementation)
    try:
        tf_strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except (RuntimeError, ValueError) as e:
        raise TfbszError(
            f"strategy multi_worker: could not start ({str(e).strip().splitlines()[0][:200]}); "
            "build it before any other TensorFlow op runs"
        ) from None
    _reduce_nests_element_by_element(tf_strategy)
    return MultiWorkerStrategy(tf_strategy, workers, task_type, task_index, reason)


def _reduce_nests_element_by_element(tf_strategy):
    """Work around Keras 3 `fit` failing under this strategy (keras-team/keras#20585).

    Keras 3.15's TensorFlow trainer calls `strategy.reduce` in two ways that
    MultiWorkerMirroredStrategy rejects: on a whole `(x, y)` batch of `PerReplica`
    values before training ("Attempt to convert a value (PerReplica ...) to a Tensor"),
    and with `axis=0` on the per-replica scalar loss ("Invalid reduction dimension 0 for
    input with 0 dimensions"). This instance's `reduce` maps over nests and reduces
    scalars across replicas only; for any other single value it is the original method.
    """
    import tensorflow as tf

    original = tf_strategy.reduce

    def reduce_one(reduce_op, value, axis):
        if axis is not None:
            local = tf_strategy.experimental_local_results(value)[0]
            if getattr(local.shape, "rank", None) == 0:
                axis = None
        return original(reduce_op, value, axis)

    def reduce(reduce_op, value, axis=None):
        return tf.nest.map_structure(lambda v: reduce_one(reduce_op, v, axis), value)

    tf_strategy.reduce = reduce
