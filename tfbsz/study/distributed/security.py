"""Who may talk to the chief's oracle: a shared token, TLS, and a loopback default.

* **Token.** Every call carries the token as gRPC metadata (`tfbsz-oracle-token`); the chief's
  server interceptor (`TokenCheck`) answers any call without the right one with
  UNAUTHENTICATED, before KerasTuner sees it. The token comes from `TFBSZ_ORACLE_TOKEN`, else
  from the file `TFBSZ_ORACLE_TOKEN_FILE` (`--token-file`), else from
  `<output>/.tfbsz_oracle_token`: the chief creates that file (mode 0600) with a random token,
  and workers, which share the output folder anyway (heartbeats, the DONE marker), read it.
  A token file that other users may read is refused.
* **TLS** when certificates are given: the chief serves with `TFBSZ_ORACLE_TLS_CERT` and
  `TFBSZ_ORACLE_TLS_KEY`, workers check it against `TFBSZ_ORACLE_TLS_CA`.
* **Bind.** The chief listens on `TFBSZ_ORACLE_BIND` (`--bind`), 127.0.0.1 unless told otherwise.

Example:

>>> from tfbsz.study.distributed.security import check_token
>>> check_token("too short", "TFBSZ_ORACLE_TOKEN")
Traceback (most recent call last):
...
tfbsz.core.errors.ConfigError: TFBSZ_ORACLE_TOKEN: the token must be 16 to 4096 printable ASCII characters without spaces
"""

import hmac
import os
import pathlib
import secrets
import stat
import tempfile
import time

import grpc

from tfbsz.core.errors import ConfigError, TfbszError

__all__ = ["DEFAULT_TOKEN_FILE", "TOKEN_KEY", "WORKER_KEY", "TokenCheck", "bind_address", "check_token",
           "client_credentials", "resolve_token", "server_credentials"]

TOKEN_KEY = "tfbsz-oracle-token"
WORKER_KEY = "tfbsz-worker-id"
DEFAULT_TOKEN_FILE = ".tfbsz_oracle_token"


def check_token(token, source):
    """Returns `token` if usable as gRPC metadata and hard to guess; raises `ConfigError`."""
    if not (16 <= len(token) <= 4096 and all(33 <= ord(c) <= 126 for c in token)):
        raise ConfigError(f"{source}: the token must be 16 to 4096 printable ASCII characters without spaces")
    return token


def _read_token_file(path, source):
    try:
        mode = os.stat(path).st_mode
        if mode & (stat.S_IROTH | stat.S_IWOTH):
            raise ConfigError(f"{source}: {path} may be read or written by other users "
                              f"(mode {stat.S_IMODE(mode):04o}); run chmod 600 on it")
        with open(path) as f:
            text = f.read(8192).strip()
    except OSError as e:
        raise ConfigError(f"{source}: cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        text = ""
    return check_token(text, f"{source} ({path})")


def _create_token_file(path):
    """Writes a random token to `path` (mode 0600) unless another process made it first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # atomic, and never replaces a token already there
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


def resolve_token(role, study_root=None, wait_seconds=0.0):
    """The shared token for `role` ("chief" or "worker"); see the module docstring.

    The chief creates the default token file when it is missing; a worker waits up to
    `wait_seconds` for the chief to make it.
    """
    token = os.environ.get("TFBSZ_ORACLE_TOKEN")
    if token:
        return check_token(token, "TFBSZ_ORACLE_TOKEN")
    explicit = os.environ.get("TFBSZ_ORACLE_TOKEN_FILE")
    if explicit:
        return _read_token_file(explicit, "--token-file")
    if study_root is None:
        raise ConfigError("--token-file: distributed tuning needs a shared token "
                          "(--token-file, or TFBSZ_ORACLE_TOKEN)")
    path = pathlib.Path(study_root) / DEFAULT_TOKEN_FILE
    if role == "chief" and not path.exists():
        _create_token_file(path)
    deadline = time.monotonic() + wait_seconds
    while not path.exists():
        if time.monotonic() >= deadline:
            raise TfbszError(f"--oracle: no token from the chief in {path} after {wait_seconds:.0f} s; start the "
                             "chief with the same --output, or give both --token-file")
        time.sleep(0.2)
    for _ in range(50):  # the chief links the whole file at once; a partial read is a race with it
        try:
            return _read_token_file(str(path), "--token-file")
        except ConfigError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
    return _read_token_file(str(path), "--token-file")


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
