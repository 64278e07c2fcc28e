"""`auto`: pick the best strategy this machine and Keras backend support, and say why.

Order of preference:

* TensorFlow backend: `multi_worker` when TF_CONFIG names more than one
  worker; `tpu` when a TPU environment is present (TPU_NAME, COLAB_TPU_ADDR, or
  a TPU VM's /dev/accel0); `mirrored` over all GPUs when there are several;
  else `one_device` (the GPU if there is one, else the CPU).
* JAX backend: `data_parallel` over all devices when there are several
  accelerators (GPUs or TPU cores); else `one_device`. Host CPU devices
  (e.g. from --xla_force_host_platform_device_count) do not count.
* Other backends: `one_device`.

The returned strategy carries the reason; `describe()` prints it.

Example:

>>> from tfbsz import strategies
>>> print(strategies.get({"name": "auto"}).describe())   # doctest: +SKIP
one_device: 1 replica on /cpu:0 (chosen by auto: no GPU or TPU found, TensorFlow backend)
"""

import glob
import json
import os

from tfbsz.strategies import jax_data_parallel, mirrored, multi_worker, one_device, tpu
from tfbsz.strategies.base import check_options

__all__ = ["OPTIONS", "build", "tpu_environment"]

OPTIONS = {}


def tpu_environment(environ=None):
    """The `tpu` setting for a TPU this environment points at, or None when there is none."""
    environ = os.environ if environ is None else environ
    if environ.get("TPU_NAME"):
        return environ["TPU_NAME"]
    if environ.get("COLAB_TPU_ADDR"):
        return "grpc://" + environ["COLAB_TPU_ADDR"]
    if glob.glob("/dev/accel[0-9]*"):
        return "local"
    return None


def _worker_count(environ):
    try:
        return len(json.loads(environ.get("TF_CONFIG") or "{}").get("cluster", {}).get("worker", []))
    except (AttributeError, TypeError, ValueError):
        return 0


def _build_tensorflow():
    environ = os.environ
    workers = _worker_count(environ)
    if workers > 1:
        return multi_worker.build({}, reason=f"TF_CONFIG names {workers} workers")
    address = tpu_environment(environ)
    if address is not None:
        return tpu.build({"tpu": address}, reason=f"TPU environment found ({address})")
    gpus = mirrored.local_gpu_count()
    if gpus > 1:
        return mirrored.build({}, reason=f"{gpus} GPUs visible, TensorFlow backend")
    if gpus == 1:
        return one_device.build({}, reason="1 GPU visible, TensorFlow backend")
    return one_device.build({}, reason="no GPU or TPU found, TensorFlow backend")


def _build_jax():
    count, platform = jax_data_parallel.accelerator_count()
    if platform != "cpu" and count > 1:
        return jax_data_parallel.build({}, reason=f"{count} {platform.upper()} devices, JAX backend")
    if platform != "cpu":
        return one_device.build({}, reason=f"1 {platform.upper()} device, JAX backend")
    return one_device.build({}, reason="no GPU or TPU found, JAX backend")


def build(cfg, reason=None):
    """The strategy `auto` prefers here (see the module docstring)."""
    check_options("auto", cfg, OPTIONS)
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _build_tensorflow()
    if backend == "jax":
        return _build_jax()
    return one_device.build({}, reason=f"{backend} backend: no tfbsz multi-device support")
