"""The shared token of distributed tuning: where it comes from, and what a usable one is.

The token comes from `TFBSZ_ORACLE_TOKEN`, else from the file `TFBSZ_ORACLE_TOKEN_FILE`
(`--token-file`), else from `<output>/.tfbsz_oracle_token`: the chief creates that file (mode
0600) with a random token, and workers, which share the output folder anyway (heartbeats, the
DONE marker), read it. A token file that other users may read or write is refused, as ssh
refuses such a key. The token is never printed.

Example:

>>> from tfbsz.study.distributed.tokens import check_token
>>> check_token("too short", "TFBSZ_ORACLE_TOKEN")
Traceback (most recent call last):
...
tfbsz.core.errors.ConfigError: TFBSZ_ORACLE_TOKEN: the token must be 16 to 4096 printable ASCII characters without spaces
"""

import os
import pathlib
import secrets
import stat
import tempfile
import time

from tfbsz.core.errors import ConfigError, TfbszError

__all__ = ["DEFAULT_TOKEN_FILE", "TOKEN_KEY", "check_token", "read_token_file", "resolve_token"]

TOKEN_KEY = "tfbsz-oracle-token"  # the gRPC metadata key that carries it
DEFAULT_TOKEN_FILE = ".tfbsz_oracle_token"


def check_token(token, source):
    """Returns `token` if usable as gRPC metadata and hard to guess; raises `ConfigError`."""
    if not (16 <= len(token) <= 4096 and all(33 <= ord(c) <= 126 for c in token)):
        raise ConfigError(f"{source}: the token must be 16 to 4096 printable ASCII characters without spaces")
    return token


def read_token_file(path, source):
    """The token in file `path`, checked; `source` names the setting in errors."""
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
        return read_token_file(explicit, "--token-file")
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
            return read_token_file(str(path), "--token-file")
        except ConfigError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
    return read_token_file(str(path), "--token-file")
