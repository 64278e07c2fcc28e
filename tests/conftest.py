"""Test-wide set-up.

* Backend: tests run on `KERAS_BACKEND` if set, TensorFlow otherwise.
* On TensorFlow, the one host CPU is split into two logical devices before TensorFlow
  initialises, so `MirroredStrategy` tests have two replicas on any machine.
* Tests that need another backend run a subprocess (see `tests/helpers.py`).
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("PYTHONHASHSEED", "0")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
TESTS = os.path.dirname(os.path.abspath(__file__))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

if os.environ["KERAS_BACKEND"] == "tensorflow":
    import tensorflow as tf

    _cpus = tf.config.list_physical_devices("CPU")
    if _cpus:
        try:
            tf.config.set_logical_device_configuration(
                _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
            )
        except RuntimeError:  # already initialised by an earlier import
            pass
