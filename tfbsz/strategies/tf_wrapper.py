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

__all__ = ["TFDistributeStrategy"]


class TFDistributeStrategy(Strategy):
    """Wraps `tf_strategy` (available as `.tf_strategy`); replicas are its worker devices."""

    def __init__(self, name, tf_strategy, reason=None):
        super().__init__(name, tf_strategy.extended.worker_devices, reason)
        self.tf_strategy = tf_strategy

    @property
    def num_replicas(self):
        return self.tf_strategy.num_replicas_in_sync

    def scope(self):
        return self.tf_strategy.scope()
