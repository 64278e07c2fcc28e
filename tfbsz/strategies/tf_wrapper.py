"""`TFDistributeStrategy`: a `Strategy` around a `tf.distribute.Strategy`.

Keras 3 on the TensorFlow backend runs `model.fit` under whichever
`tf.distribute` strategy was active when the model was created, so `scope()`
is simply the wrapped strategy's scope. This file itself imports no
TensorFlow: it is handed a strategy object that `mirrored.py`, `tpu.py`,
`multi_worker.py` or `one_device.py` built.

Example (TensorFlow backend):

>>> import tensorflow as tf
>>> from tfbsz.strategies.tf_wrapper import TFDistributeStrategy
>>> s = TFDistributeStrategy("one_device", tf.distribute.OneDeviceStrategy("/cpu:0"))
>>> s.num_replicas
1
"""

from tfbsz.strategies.base import Strategy

__all__ = ["TFDistributeStrategy", "short_device_name"]

_LOCAL_PREFIX = "/job:localhost/replica:0/task:0/device:"


def short_device_name(name):
    """"/cpu:0" for "/job:localhost/replica:0/task:0/device:CPU:0"; other names unchanged."""
    if name.startswith(_LOCAL_PREFIX):
        kind, _, index = name[len(_LOCAL_PREFIX):].partition(":")
        return f"/{kind.lower()}:{index}"
    return name


class TFDistributeStrategy(Strategy):
    """Wraps `tf_strategy` (available as `.tf_strategy`); replicas are its worker devices."""

    def __init__(self, name, tf_strategy, reason=None):
        devices = [short_device_name(d) for d in tf_strategy.extended.worker_devices]
        super().__init__(name, devices, reason)
        self.tf_strategy = tf_strategy

    @property
    def num_replicas(self):
        return self.tf_strategy.num_replicas_in_sync

    def scope(self):
        return self.tf_strategy.scope()
