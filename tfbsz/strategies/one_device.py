"""`one_device`: the whole batch on one device (no replication).

On the TensorFlow backend this is TensorFlow's own default placement (the first
GPU, else the CPU) or, when `device` is given, a `tf.device(device)` scope around
the model, its optimizer and `fit`. It is deliberately not
`tf.distribute.OneDeviceStrategy`: under that strategy Keras feeds every `fit`
and `evaluate` through a `MultiDeviceIterator`, whose prefetching thread can
still be reading when an evaluation's iterator is destroyed; in TensorFlow 2.21
that use-after-free crashed about one study in three with SIGSEGV on a loaded
2-core machine (the smoke study, which evaluates every 10 steps;
docs/architecture.md, "One device on TensorFlow"). Without `tf.distribute` Keras
uses TensorFlow's default strategy and plain `tf.data` iterators, and the numbers
are the same. On the JAX backend (and any other) it is a plain scope: Keras
places everything on the default device, and `device` must be left out.

Example:

>>> from tfbsz import strategies
>>> s = strategies.get({"name": "one_device", "device": "/cpu:0"})  # doctest: +SKIP
>>> s.describe()                                                     # doctest: +SKIP
'one_device: 1 replica on /cpu:0'
"""

import contextlib

from tfbsz.core.errors import ConfigError
from tfbsz.strategies.base import Strategy, check_options

__all__ = ["OPTIONS", "build", "LocalStrategy", "DeviceScopeStrategy"]

OPTIONS = {"device": "TensorFlow device string, e.g. /cpu:0 or /gpu:1 (default: first GPU, else CPU)"}


class LocalStrategy(Strategy):
    """No distribution at all: a no-op scope on the backend's default device."""

    def scope(self):
        return contextlib.nullcontext()


class DeviceScopeStrategy(Strategy):
    """The TensorFlow device a config names, as a `tf.device` scope (no `tf.distribute`: see the
    module docstring). Without a named device `one_device` is a `LocalStrategy`: TensorFlow
    already computes on its first GPU, else the CPU, and keeps the input pipeline on the host."""

    def scope(self):
        import tensorflow as tf

        return tf.device(self.devices[0])


def build(cfg, reason=None):
    """The one-device strategy for the current Keras backend (see the module docstring)."""
    check_options("one_device", cfg, OPTIONS)
    import keras

    backend = keras.backend.backend()
    device = cfg.get("device")
    if device is not None and not isinstance(device, str):
        raise ConfigError(f"strategy.device: expected a device string such as /cpu:0, got {device!r}")
    if backend == "tensorflow":
        return _build_tf(device, reason)
    if device is not None:
        raise ConfigError(
            f"strategy.device: only supported on the TensorFlow backend, got {device!r} "
            f"with the {backend} backend (leave it out: Keras uses the default device)"
        )
    if backend == "jax":
        from tfbsz.strategies.jax_data_parallel import default_device_name

        return LocalStrategy("one_device", [default_device_name()], reason)
    return LocalStrategy("one_device", [f"{backend} default device"], reason)


def _build_tf(device, reason):
    import tensorflow as tf

    if device is None:
        first = "/gpu:0" if tf.config.list_logical_devices("GPU") else "/cpu:0"
        return LocalStrategy("one_device", [first], reason)
    last = device.rsplit("/", 1)[-1]
    if last.lower().startswith("device:"):
        last = last[len("device:"):]
    kind, _, index = last.partition(":")
    kind = kind.upper()
    if kind in {"CPU", "GPU", "TPU"}:
        visible = [d.name for d in tf.config.list_logical_devices(kind)]
        if not index.isdigit() or int(index) >= len(visible):
            raise ConfigError(
                f"strategy.device: {device!r} is not a visible device; visible {kind} "
                f"devices: {', '.join(visible) or 'none'}"
            )
    return DeviceScopeStrategy("one_device", [device], reason)
