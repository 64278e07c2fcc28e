"""Who may talk to the chief's oracle: a shared token, TLS, and a loopback default.

* **Token.** Every call carries the token (see `tokens`) as gRPC metadata
  (`tfbsz-oracle-token`); the chief's server interceptor `TokenCheck` answers any call without
  the right one with UNAUTHENTICATED, before KerasTuner sees it.
* **TLS** when certificates are given: the chief serves with `TFBSZ_ORACLE_TLS_CERT` and
  `TFBSZ_ORACLE_TLS_KEY`, workers check it against `TFBSZ_ORACLE_TLS_CA`.
* **Bind.** The chief listens on `TFBSZ_ORACLE_BIND` (`--bind`), 127.0.0.1 unless told otherwise.

Example:

>>> from tfbsz.study.distributed.security import bind_address
>>> bind_address(8000)
'127.0.0.1:8000'
"""

import hmac
import os

import grpc

from tfbsz.core.errors import ConfigError
from tfbsz.study.distributed.tokens import TOKEN_KEY

__all__ = ["TOKEN_KEY", "WORKER_KEY", "TokenCheck", "bind_address", "client_credentials", "server_credentials"]

WORKER_KEY = "tfbsz-worker-id"


def bind_address(port):
    """`HOST:PORT` the chief listens on: `TFBSZ_ORACLE_BIND` (default 127.0.0.1) and `port`."""
    host = os.environ.get("TFBSZ_ORACLE_BIND") or "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def _read_bytes(variable):
    path = os.environ[variable]
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ConfigError(f"{variable}: cannot read {path}: {e.strerror or e}") from None


def server_credentials():
    """The chief's TLS credentials, or None when no certificate is given."""
    if not os.environ.get("TFBSZ_ORACLE_TLS_CERT"):
        return None
    return grpc.ssl_server_credentials([(_read_bytes("TFBSZ_ORACLE_TLS_KEY"), _read_bytes("TFBSZ_ORACLE_TLS_CERT"))])


def client_credentials():
    """A worker's TLS credentials (trusting `TFBSZ_ORACLE_TLS_CA`), or None without TLS."""
    if not os.environ.get("TFBSZ_ORACLE_TLS_CA"):
        return None
    return grpc.ssl_channel_credentials(root_certificates=_read_bytes("TFBSZ_ORACLE_TLS_CA"))


class TokenCheck(grpc.ServerInterceptor):
    """A gRPC server interceptor: any call without the shared `token` is answered UNAUTHENTICATED."""

    def __init__(self, token):
        self._token = token.encode()

        def deny(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong tfbsz oracle token")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)

    def intercept_service(self, continuation, handler_call_details):
        sent = ""
        for key, value in handler_call_details.invocation_metadata or ():
            if key == TOKEN_KEY and isinstance(value, str):
                sent = value
        if hmac.compare_digest(sent.encode(), self._token):
            return continuation(handler_call_details)
        return self._deny
