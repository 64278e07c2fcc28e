"""`data_parallel`: Keras 3's `keras.distribution.DataParallel` on the JAX backend.

Variables are replicated on every device of a one-axis mesh and each batch is
split along its first axis; XLA inserts the gradient all-reduce. `scope()`
makes the distribution current with `keras.distribution.set_distribution` and
restores the previous one on exit. Keras's JAX trainer reads the current
distribution when it shards each batch, so call `fit` inside `scope()` too.

This is the only tfbsz module that imports JAX; it never imports TensorFlow.

Example (JAX backend, e.g. XLA_FLAGS=--xla_force_host_platform_device_count=2):

>>> from tfbsz import strategies
>>> s = strategies.get({"name": "data_parallel"})   # doctest: +SKIP
>>> s.describe()                                     # doctest: +SKIP
'data_parallel: 2 replicas on cpu:0, cpu:1'
>>> with s.scope():                                  # doctest: +SKIP
...     model = build_model(); model.compile(...); model.fit(x, y, batch_size=64)
"""

from tfbsz.core.errors import ConfigError
from tfbsz.strategies.base import Strategy, check_options, check_positive_int

__all__ = [
    "OPTIONS",
    "build",
    "JaxDataParallelStrategy",
    "accelerator_count",
    "default_device_name",
]

OPTIONS = {"devices": "use the first N JAX devices (default: all)"}


def _device_name(device):
    return f"{device.platform}:{device.id}"


def default_device_name():
    """The JAX default device, e.g. "gpu:0"."""
    import jax

    return _device_name(jax.devices()[0])


def accelerator_count():
    """(number of JAX devices, their platform); platform is "cpu" on a host without accelerators."""
    import jax

    devices = jax.devices()
    return len(devices), devices[0].platform


class JaxDataParallelStrategy(Strategy):
    """A `Strategy` around a `keras.distribution.DataParallel` (available as `.distribution`)."""

    def __init__(self, distribution, devices, reason=None):
        super().__init__("data_parallel", devices, reason)
        self.distribution = distribution

    def scope(self):
        return self.distribution.scope()


def build(cfg, reason=None):
    """A `DataParallel` over all (or the first `devices`) JAX devices; JAX backend only."""
    check_options("data_parallel", cfg, OPTIONS)
    import keras

    backend = keras.backend.backend()
    if backend != "jax":
        raise ConfigError(
            f"strategy data_parallel: needs the JAX backend (KERAS_BACKEND=jax), got {backend!r}; "
            "use 'mirrored' on TensorFlow"
        )
    import jax

    devices = jax.devices()
    if "devices" in cfg:
        wanted = check_positive_int("strategy.devices", cfg["devices"])
        if wanted > len(devices):
            raise ConfigError(
                f"strategy.devices: asked for {wanted} devices but JAX sees {len(devices)} "
                f"({', '.join(_device_name(d) for d in devices)})"
            )
        devices = devices[:wanted]
    names = [_device_name(d) for d in devices]
    distribution = keras.distribution.DataParallel(devices=names)
    return JaxDataParallelStrategy(distribution, names, reason)
