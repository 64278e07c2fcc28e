"""Distributed tuning's command-line options, checked, and the environment they set.

KerasTuner's distributed mode reads its settings from the environment (`KERASTUNER_TUNER_ID`,
`KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`); tfbsz adds its own variables beside them, so
the Python API (`Study(..., role=...)`) works the same as the command line:

| variable | flag | meaning |
| --- | --- | --- |
| `TFBSZ_ORACLE_BIND` | `--bind` | address the chief listens on (default `127.0.0.1`) |
| `TFBSZ_ORACLE_TOKEN` | | the shared token itself |
| `TFBSZ_ORACLE_TOKEN_FILE` | `--token-file` | a file holding the shared token |
| `TFBSZ_ORACLE_TLS_CERT`, `TFBSZ_ORACLE_TLS_KEY` | `--tls-cert`, `--tls-key` | the chief's certificate and key (PEM) |
| `TFBSZ_ORACLE_TLS_CA` | `--tls-ca` | the certificate workers trust for the chief (PEM) |
| `TFBSZ_CHIEF_TIMEOUT` | | seconds a worker waits for the chief (default 300) |
| `TFBSZ_WORKER_TIMEOUT` | | seconds without a heartbeat before a worker's trial is re-queued (default 60) |

Example:

>>> from tfbsz.study.distributed.options import check_worker_id, parse_address
>>> parse_address("127.0.0.1:8000", batch_sizes=3)
('127.0.0.1', 8000)
>>> check_worker_id("chief-7")
Traceback (most recent call last):
...
tfbsz.core.errors.ConfigError: --worker-id: 'chief-7' contains 'chief', which makes a process KerasTuner's chief; choose another id
"""

import ipaddress
import os
import re
import secrets
import socket
import sys

from tfbsz.core.errors import ConfigError

__all__ = ["WORKER_ID_PATTERN", "add_arguments", "check_tuner_id", "check_worker_id", "cohort_member_id",
           "configure", "default_worker_id", "env_seconds", "is_loopback", "parse_address", "worker_of"]

WORKER_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
MAX_PORT = 65535

_CHIEF_ONLY = {"bind": "--bind", "tls_cert": "--tls-cert", "tls_key": "--tls-key"}
_WORKER_ONLY = {"worker_id": "--worker-id", "tls_ca": "--tls-ca"}


def add_arguments(parser):
    """Adds the distributed-tuning flags to the `tfbsz.run` parser."""
    group = parser.add_argument_group("distributed tuning (see docs/distributed.md)")
    group.add_argument("--role", choices=("chief", "worker"),
                       help="chief serves the oracle, workers run trials")
    group.add_argument("--oracle", metavar="HOST:PORT",
                       help="the chief's address (port P serves the first batch size, P+1 the second, ...)")
    group.add_argument("--worker-id", metavar="ID",
                       help="this worker's id (default: worker-<host>-<pid>-<random>)")
    group.add_argument("--bind", metavar="HOST",
                       help="chief: the address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    group.add_argument("--token-file", metavar="FILE",
                       help="file with the shared token (default: $TFBSZ_ORACLE_TOKEN, else a token the chief "
                            "writes to <output>/.tfbsz_oracle_token)")
    group.add_argument("--tls-cert", metavar="PEM", help="chief: TLS certificate (with --tls-key)")
    group.add_argument("--tls-key", metavar="PEM", help="chief: TLS private key")
    group.add_argument("--tls-ca", metavar="PEM", help="worker: certificate that signed the chief's (enables TLS)")
    return group


def env_seconds(name, default):
    """A positive number of seconds from environment variable `name`."""
    text = os.environ.get(name)
    if text is None or text == "":
        return float(default)
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name}: expected a positive number of seconds, got {text[:40]!r}")
    return value


def parse_address(text, batch_sizes=1, flag="--oracle"):
    """`(host, port)` from `HOST:PORT`; the ports P .. P + batch_sizes - 1 must all be valid."""
    host, sep, port = str(text).rpartition(":")
    if not sep or not host:
        raise ConfigError(f"{flag}: expected HOST:PORT of the chief, got {str(text)[:80]!r}")
    if not port.isdigit() or not 1 <= int(port) <= MAX_PORT:
        raise ConfigError(f"{flag}: the port must be a number from 1 to {MAX_PORT}, got {port[:20]!r}")
    last = int(port) + max(1, int(batch_sizes)) - 1
    if last > MAX_PORT:
        raise ConfigError(
            f"{flag}: batch size i is served on port {port} + i, and {batch_sizes} batch sizes need ports up to "
            f"{last}, beyond {MAX_PORT}; choose a lower port"
        )
    return host, int(port)


def check_worker_id(text, flag="--worker-id"):
    """Returns `text` if it is a usable worker id; raises `ConfigError` otherwise."""
    text = str(text)
    if "chief" in text.lower():
        raise ConfigError(
            f"{flag}: {text[:80]!r} contains 'chief', which makes a process KerasTuner's chief; choose another id"
        )
    if not WORKER_ID_PATTERN.fullmatch(text):
        raise ConfigError(
            f"{flag}: expected 1-128 letters, digits, '.', '_' or '-' starting with a letter or digit, "
            f"got {text[:80]!r}"
        )
    return text


# A worker training a cohort asks for each member's trial as `<worker id>#<k>` ('#' is never in a
# worker id); its heartbeat, and the right to report the trial, stay the worker's.
MEMBER_SEPARATOR = "#"


def cohort_member_id(worker_id, k):
    """The tuner id under which cohort member `k` of `worker_id` asks the oracle for its trial.

    >>> cohort_member_id("worker-a", 3), worker_of("worker-a#3"), worker_of("worker-a")
    ('worker-a#3', 'worker-a', 'worker-a')
    """
    return f"{worker_id}{MEMBER_SEPARATOR}{int(k)}"


def worker_of(tuner_id):
    """The worker id in a tuner id (the id itself, or a cohort member's `<worker id>#<k>`)."""
    return str(tuner_id).split(MEMBER_SEPARATOR, 1)[0]


def check_tuner_id(text, flag="tuner_id"):
    """Returns `text` if it is a worker id, or a worker id's cohort member `<id>#<k>`; else `ConfigError`."""
    text = str(text)
    worker, separator, member = text.partition(MEMBER_SEPARATOR)
    check_worker_id(worker, flag=flag)
    if separator and not (member.isascii() and member.isdigit() and len(member) <= 6):
        raise ConfigError(f"{flag}: expected <worker id>#<member number>, got {text[:80]!r}")
    return text


def default_worker_id():
    """`worker-<host>-<pid>-<random>`: unique across hosts and containers that reuse pids."""
    host = re.sub(r"[^A-Za-z0-9_.-]+", "-", socket.gethostname())
    host = re.sub("chief", "", host, flags=re.IGNORECASE).strip(".-_")[:40] or "host"
    return f"worker-{host}-{os.getpid()}-{secrets.token_hex(3)}"


def is_loopback(host):
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost).

    >>> is_loopback("127.0.0.1"), is_loopback("[::1]"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _note(text):
    print(f"tfbsz: note: {text}", file=sys.stderr)


def _readable_file(path, flag):
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ConfigError(f"{flag}: {path} is not a readable file")
    return os.path.abspath(path)


def configure(args, batch_sizes=1):
    """Checks the distributed flags of parsed `args` and sets the environment they stand for.

    `batch_sizes` is how many batch sizes the study has (each needs its own port).
    """
    flags = {**_CHIEF_ONLY, **_WORKER_ONLY, "oracle": "--oracle", "token_file": "--token-file"}
    if args.role is None:
        for attr, flag in flags.items():
            if getattr(args, attr, None):
                raise ConfigError(f"{flag}: needs --role chief or --role worker")
        return
    wrong = _WORKER_ONLY if args.role == "chief" else _CHIEF_ONLY
    for attr, flag in wrong.items():
        if getattr(args, attr, None):
            raise ConfigError(f"{flag}: not an option of --role {args.role}")
    address = args.oracle or (
        f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
        if "KERASTUNER_ORACLE_IP" in os.environ and "KERASTUNER_ORACLE_PORT" in os.environ else None
    )
    if not address:
        raise ConfigError("--oracle: expected HOST:PORT of the chief (or set KERASTUNER_ORACLE_IP/PORT)")
    host, port = parse_address(address, batch_sizes)
    os.environ["KERASTUNER_ORACLE_IP"] = host
    os.environ["KERASTUNER_ORACLE_PORT"] = str(port)
    os.environ["TFBSZ_ORACLE_BASE_PORT"] = str(port)
    if args.token_file:
        from tfbsz.study.distributed.tokens import read_token_file

        os.environ["TFBSZ_ORACLE_TOKEN_FILE"] = _readable_file(args.token_file, "--token-file")
        read_token_file(os.environ["TFBSZ_ORACLE_TOKEN_FILE"], "--token-file")  # its mode and content, now
    if args.role == "chief":
        os.environ["KERASTUNER_TUNER_ID"] = "chief"
        if args.bind is not None:
            if not args.bind.strip() or any(c.isspace() for c in args.bind):
                raise ConfigError(f"--bind: expected a host name or address, got {args.bind[:80]!r}")
            os.environ["TFBSZ_ORACLE_BIND"] = args.bind
        if bool(args.tls_cert) != bool(args.tls_key):
            raise ConfigError("--tls-cert: --tls-cert and --tls-key go together")
        if args.tls_cert:
            os.environ["TFBSZ_ORACLE_TLS_CERT"] = _readable_file(args.tls_cert, "--tls-cert")
            os.environ["TFBSZ_ORACLE_TLS_KEY"] = _readable_file(args.tls_key, "--tls-key")
        bind = os.environ.get("TFBSZ_ORACLE_BIND") or "127.0.0.1"
        if is_loopback(bind) and not is_loopback(host):
            _note(f"the chief listens on {bind} only; for workers on other machines pass --bind {host} "
                  "(or --bind 0.0.0.0)")
        if not is_loopback(bind) and not os.environ.get("TFBSZ_ORACLE_TLS_CERT"):
            _note(f"the oracle listens on {bind} without TLS: the token and the trials cross the network "
                  "in clear text (see --tls-cert and --tls-key)")
    else:
        worker_id = check_worker_id(args.worker_id) if args.worker_id else default_worker_id()
        os.environ["KERASTUNER_TUNER_ID"] = worker_id
        if args.tls_ca:
            os.environ["TFBSZ_ORACLE_TLS_CA"] = _readable_file(args.tls_ca, "--tls-ca")
    env_seconds("TFBSZ_CHIEF_TIMEOUT", 300)
    env_seconds("TFBSZ_WORKER_TIMEOUT", 60)
