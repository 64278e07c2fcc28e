"""`tpu`: `tf.distribute.TPUStrategy` on a Cloud TPU, found through a `TPUClusterResolver`.

`tpu` is "local" (a TPU VM, the default), a TPU name (resolved through the
Google Cloud metadata server) or a "grpc://host:port" address. Connecting can
hang for minutes when nothing answers, so tfbsz guards it: a gRPC address must
accept a TCP connection within `timeout_s`, and the whole resolve-connect-
initialise sequence runs in a helper thread that is abandoned after
`timeout_s` seconds. Either way the failure is one `TfbszError` line.

Example:

>>> from tfbsz import strategies
>>> strategies.get({"name": "tpu", "tpu": "local"})   # doctest: +SKIP
Traceback (most recent call last):
...
tfbsz.core.errors.TfbszError: strategy.tpu: no TPU answered at 'local' (TPUs not found in the cluster)
"""

import socket
import threading
from urllib.parse import urlparse

from tfbsz.core.errors import ConfigError, TfbszError
from tfbsz.strategies.base import check_options

__all__ = ["OPTIONS", "DEFAULT_TIMEOUT_S", "build"]

OPTIONS = {
    "tpu": '"local" (TPU VM, default), a Cloud TPU name, or "grpc://host:port"',
    "timeout_s": "seconds to wait for the TPU to answer before failing (default 60)",
}
DEFAULT_TIMEOUT_S = 60.0


def _first_line(error):
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]


def _check_grpc_reachable(address, timeout_s):
    parsed = urlparse(address)
    if not parsed.hostname or not parsed.port:
        raise ConfigError(f"strategy.tpu: expected grpc://host:port, got {address!r}")
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout_s):
            pass
    except OSError as e:
        raise TfbszError(f"strategy.tpu: no TPU answered at {address!r} ({_first_line(e)})") from None


def _connect(tpu):
    import tensorflow as tf

    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    if tpu != "local":
        tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _connect_with_timeout(tpu, timeout_s):
    outcome = {}

    def target():
        try:
            outcome["strategy"] = _connect(tpu)
        except Exception as e:  # reported below as one line
            outcome["error"] = e

    worker = threading.Thread(target=target, name="tfbsz-tpu-connect", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise TfbszError(f"strategy.tpu: no TPU answered at {tpu!r} within {timeout_s:g} s")
    if "error" in outcome:
        raise TfbszError(
            f"strategy.tpu: no TPU answered at {tpu!r} ({_first_line(outcome['error'])})"
        ) from None
    return outcome["strategy"]


def build(cfg, reason=None):
    """A `TPUStrategy` for `cfg["tpu"]`; a one-line `TfbszError` if no TPU answers in time."""
    check_options("tpu", cfg, OPTIONS)
    tpu = cfg.get("tpu", "local")
    if not isinstance(tpu, str) or not tpu:
        raise ConfigError(f'strategy.tpu: expected "local", a TPU name or grpc://host:port, got {tpu!r}')
    timeout_s = cfg.get("timeout_s", DEFAULT_TIMEOUT_S)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or timeout_s <= 0:
        raise ConfigError(f"strategy.timeout_s: expected a number of seconds > 0, got {timeout_s!r}")
    if tpu.startswith("grpc://"):
        _check_grpc_reachable(tpu, timeout_s)
    from tfbsz.strategies.tf_wrapper import TFDistributeStrategy

    return TFDistributeStrategy("tpu", _connect_with_timeout(tpu, timeout_s), reason)
