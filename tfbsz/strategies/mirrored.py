"""`mirrored`: synchronous data parallelism over the devices of one host (`tf.distribute.MirroredStrategy`).

By default it takes every local GPU. With `cpu_devices: N` it splits the host
CPU into N logical devices instead, which lets tests and laptops exercise the
real multi-replica code path. Logical devices can only be configured before
TensorFlow initialises its runtime; if that has already happened and fewer
than N logical CPUs exist, `build` raises a `ConfigError` that says so.

Notes (Keras 3.15, TensorFlow backend):

* each replica computes the mean loss of its slice, Keras divides it by the
  replica count and the optimizer all-reduces (sums) the gradients, so one
  update equals a one-device update on the global batch, up to float rounding;
* `clipnorm` / `global_clipnorm` act on each replica's gradients *before* the
  all-reduce;
* Keras turns auto-XLA off under `tf.distribute`.

Example:

>>> from tfbsz import strategies
>>> s = strategies.get({"name": "mirrored", "cpu_devices": 2})  # doctest: +SKIP
>>> s.describe()                                                 # doctest: +SKIP
'mirrored: 2 replicas on /cpu:0, /cpu:1'
"""

from tfbsz.core.errors import ConfigError
from tfbsz.strategies.base import check_options, check_positive_int

__all__ = ["OPTIONS", "build", "ensure_logical_cpus", "local_gpu_count"]

OPTIONS = {
    "cpu_devices": "split the host CPU into N logical devices and mirror over them (tests, laptops)",
    "devices": "explicit list of TensorFlow device strings (default: all local GPUs)",
}


def local_gpu_count():
    """How many GPUs TensorFlow sees on this host."""
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def ensure_logical_cpus(count):
    """Names of `count` logical CPU devices, configuring them if TensorFlow has not started yet.

    Raises:
        ConfigError: when TensorFlow is already initialised with fewer logical CPUs.
    """
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    try:
        existing = tf.config.get_logical_device_configuration(cpus[0]) or []
        if len(existing) < count:
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration()] * count
            )
    except RuntimeError:
        pass  # the runtime is initialised: use what exists, checked below
    logical = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(logical) < count:
        raise ConfigError(
            f"strategy.cpu_devices: asked for {count} logical CPU devices but TensorFlow is "
            f"already initialised with {len(logical)}; build the strategy before any TensorFlow "
            "op runs (logical devices can only be configured at start-up)"
        )
    return logical[:count]


def build(cfg, reason=None):
    """A `MirroredStrategy` over all local GPUs, `devices`, or `cpu_devices` logical CPUs."""
    check_options("mirrored", cfg, OPTIONS)
    if "cpu_devices" in cfg and "devices" in cfg:
        raise ConfigError("strategy: give either cpu_devices or devices for 'mirrored', not both")
    import tensorflow as tf

    from tfbsz.strategies.tf_wrapper import TFDistributeStrategy

    devices = None
    if "cpu_devices" in cfg:
        devices = ensure_logical_cpus(check_positive_int("strategy.cpu_devices", cfg["cpu_devices"]))
    elif "devices" in cfg:
        devices = cfg["devices"]
        if not isinstance(devices, (list, tuple)) or not devices or not all(
            isinstance(d, str) for d in devices
        ):
            raise ConfigError(
                f"strategy.devices: expected a non-empty list of device strings, got {devices!r}"
            )
    cross_device_ops = None
    names = devices or [d.name for d in tf.config.list_logical_devices("GPU")]
    if names and all("CPU" in str(d).upper() for d in names):
        # On CPUs, reduce through one device rather than with collective ops: collective
        # instance keys of two MirroredStrategy objects in one process can collide ("Shape
        # mismatch in the collective instance"), and on a CPU there is nothing to gain from them.
        cross_device_ops = tf.distribute.ReductionToOneDevice()
    strategy = tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=cross_device_ops)
    return TFDistributeStrategy("mirrored", strategy, reason)
