"""Worker heartbeats: a file per worker, touched every `HEARTBEAT_SECONDS` while it runs.

The chief re-queues the trial of a worker whose file is older than `TFBSZ_WORKER_TIMEOUT`
seconds (see `chief.py`). Workers and chief share the output folder, which holds the files.

Example:

>>> import tempfile, time
>>> from tfbsz.study.distributed.heartbeat import Heartbeat, heartbeat_dir
>>> beat = Heartbeat(heartbeat_dir(tempfile.mkdtemp()) / "worker-a")
>>> beat.start(); time.sleep(0.1); beat.stop()
>>> beat.path.exists()
True
"""

import pathlib
import threading

__all__ = ["HEARTBEAT_SECONDS", "Heartbeat", "heartbeat_dir"]

HEARTBEAT_SECONDS = 2.0


def heartbeat_dir(project_dir):
    """`<project_dir>/heartbeats`, created if needed."""
    path = pathlib.Path(project_dir) / "heartbeats"
    path.mkdir(parents=True, exist_ok=True)
    return path


class Heartbeat(threading.Thread):
    """Touches `path` every `HEARTBEAT_SECONDS` until `stop()`."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            try:
                self.path.touch()
            except OSError:
                pass
            self._stop_event.wait(HEARTBEAT_SECONDS)

    def stop(self):
        self._stop_event.set()
