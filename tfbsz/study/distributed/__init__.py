"""Distributed tuning: one study shared by a KerasTuner chief and any number of workers.

KerasTuner's distributed mode (environment variables `KERASTUNER_TUNER_ID`,
`KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`) serves the oracle from the chief over gRPC;
workers ask it for trials. tfbsz closes its gaps, one module each:

* `options`: the flags (`--role`, `--oracle`, `--worker-id`, `--bind`, `--token-file`, `--tls-*`),
  checked (ports in range, worker ids unique by default and never "chief").
* `security`: a shared token checked by a server interceptor, TLS when certificates are given,
  the chief listening on 127.0.0.1 unless told otherwise.
* `chief`: serves one batch size's oracle, admitting only what a tfbsz worker does; re-queues
  the trial of a worker whose heartbeat stopped; finishes when nothing runs and the trials are
  all there or the space has no new point.
* `worker`: the worker's loop and client; a chief that does not answer ends it with one line,
  and a trial whose id or values are not its own is refused.
* `heartbeat`: the workers' heartbeat files.

Each batch size is one KerasTuner project, served on port `P + i` for the i-th batch size; the
chief marks a finished batch size with `DONE` in its KerasTuner project (`results.tuner_dir`), and workers move on only then, so a
trial re-queued late still finds a worker. A worker that trains a cohort asks for each member's
trial under `<worker id>#<k>` (`cohort_member_id`); the chief admits those from that worker only,
and the worker's one heartbeat covers them all. See docs/distributed.md.

Example:

>>> from tfbsz.study import distributed
>>> distributed.is_chief()   # no KERASTUNER_ORACLE_IP here
False
"""

import os
import pathlib

from tfbsz.core.errors import ConfigError
from tfbsz.study.distributed.heartbeat import HEARTBEAT_SECONDS
from tfbsz.study.distributed.options import MAX_PORT, cohort_member_id

__all__ = ["DONE_MARKER", "HEARTBEAT_SECONDS", "cohort_member_id", "is_chief", "is_worker", "prepare_batch_size",
           "run_worker", "serve_oracle"]

DONE_MARKER = "DONE"

_study = {"root": None}


def is_chief():
    return "KERASTUNER_ORACLE_IP" in os.environ and "chief" in os.environ.get("KERASTUNER_TUNER_ID", "")


def is_worker():
    return "KERASTUNER_ORACLE_IP" in os.environ and not is_chief()


def prepare_batch_size(study_root, index):
    """Points this process at the oracle of the study's `index`-th batch size (port P + index).

    Does nothing outside distributed tuning. `study_root` is the output folder (it holds the
    default token file).
    """
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return
    _study["root"] = pathlib.Path(study_root)
    base = int(os.environ.get("TFBSZ_ORACLE_BASE_PORT") or os.environ["KERASTUNER_ORACLE_PORT"])
    os.environ.setdefault("TFBSZ_ORACLE_BASE_PORT", str(base))
    if base + index > MAX_PORT:
        raise ConfigError(f"--oracle: batch size {index + 1} would be served on port {base + index}, beyond {MAX_PORT}")
    os.environ["KERASTUNER_ORACLE_PORT"] = str(base + index)


def serve_oracle(oracle, project_dir, batch_size_folder, poll_seconds=0.5):
    """The chief's loop for one batch size (see `chief.serve_oracle`)."""
    from tfbsz.study.distributed import chief

    chief.serve_oracle(oracle, project_dir, batch_size_folder, study_root=_study["root"], poll_seconds=poll_seconds)


def run_worker(tuner):
    """The worker's loop for one batch size (see `worker.run_worker`)."""
    from tfbsz.study.distributed import worker

    worker.run_worker(tuner, study_root=_study["root"])
