"""Worker heartbeats: a file per worker, touched every `HEARTBEAT_SECONDS` while it runs.

The chief re-queues the trial of a worker whose file is older than `TFBSZ_WORKER_TIMEOUT`
seconds (see `chief.py`). Workers and chief share the output folder, which holds the files.

Example:

>>> import tempfile, time
>>> from tfbsz.study.distributed.heartbeat import Heartbeat, heartbeat_dir
>>> beat = Heartbeat(heartbeat_dir(tempfile.mkdtemp()) / "worker-a")
>>> beat.start(); beat.stop(); beat.join()
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
    """Touches `path` when started, then every `HEARTBEAT_SECONDS` until `stop()`."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self._stop_event = threading.Event()

    def start(self):
        self._touch()  # the first beat before `start` returns, however late the thread runs
        super().start()

    def _touch(self):
        try:
            self.path.touch()
        except OSError:
            pass

    def run(self):
        while not self._stop_event.wait(HEARTBEAT_SECONDS):
            self._touch()

    def stop(self):
        self._stop_event.set()
