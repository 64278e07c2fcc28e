"""Distributed tuning: one study shared by a KerasTuner chief and any number of workers.

KerasTuner's distributed mode (environment variables `KERASTUNER_TUNER_ID`,
`KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`) serves the oracle from the chief over gRPC;
workers ask it for trials. Two gaps of that mode are closed here:

* **A worker that dies mid-trial** (SIGKILL, a lost machine) leaves its trial "running" for
  ever and the chief never exits. tfbsz workers write a heartbeat file every
  `HEARTBEAT_SECONDS`; the chief (`serve_oracle`) puts the trial of a worker whose heartbeat is
  older than `TFBSZ_WORKER_TIMEOUT` seconds (default 60) back in the retry queue, and another
  worker runs it again under the same trial id. Failure details are written next to the trial
  (`results.failure_path`: `<root>/tfbsz/<dataset>/<model>/<optimizer>/<batch_size>/<n>.failure.json`).
* **A dead chief** makes KerasTuner's client wait up to an hour per call. tfbsz workers give up
  after `TFBSZ_CHIEF_TIMEOUT` seconds (default 300) with a one-line error.

Each batch size is one KerasTuner project, served on port `P + i` for the i-th batch size
(`use_batch_size_port`); the chief marks a finished batch size with `DONE` in its KerasTuner
project (`results.tuner_dir`), and workers move on only then, so a trial re-queued late still
finds a worker.

A worker that trains a cohort (several trials at once) asks the chief for each member under its
own tuner id, `<worker id>#<k>` (`cohort_member_id`); the worker's one heartbeat covers them all.
"""

import os
import pathlib
import threading
import time

from tfbsz.core.errors import TfbszError

__all__ = [
    "HEARTBEAT_SECONDS",
    "cohort_member_id",
    "install_worker_timeouts",
    "is_chief",
    "is_worker",
    "serve_oracle",
    "run_worker",
    "use_batch_size_port",
]

HEARTBEAT_SECONDS = 2.0
DONE_MARKER = "DONE"
_MEMBER_SEPARATOR = "#"


def is_chief():
    return "KERASTUNER_ORACLE_IP" in os.environ and "chief" in os.environ.get("KERASTUNER_TUNER_ID", "")


def is_worker():
    return "KERASTUNER_ORACLE_IP" in os.environ and not is_chief()


def _worker_timeout():
    return float(os.environ.get("TFBSZ_WORKER_TIMEOUT", "60"))


def _chief_timeout():
    return float(os.environ.get("TFBSZ_CHIEF_TIMEOUT", "300"))


def install_worker_timeouts():
    """Makes KerasTuner's gRPC client give up after `TFBSZ_CHIEF_TIMEOUT` seconds, not an hour."""
    from tfbsz.study.tuning import kt_internals

    kt_internals.set_client_timeout(_chief_timeout())


def use_batch_size_port(index):
    """Points KerasTuner at the port of the `index`-th batch size (base port + index).

    Does nothing outside distributed tuning. The base port is the one given with `--oracle`.
    """
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return
    base_port = int(os.environ.get("TFBSZ_ORACLE_BASE_PORT") or os.environ["KERASTUNER_ORACLE_PORT"])
    os.environ.setdefault("TFBSZ_ORACLE_BASE_PORT", str(base_port))
    os.environ["KERASTUNER_ORACLE_PORT"] = str(base_port + index)


def cohort_member_id(tuner_id, k):
    """The tuner id under which cohort member `k` of tuner `tuner_id` asks the oracle for its trial."""
    return f"{tuner_id}{_MEMBER_SEPARATOR}{k}"


def _worker_of(member_id):
    return member_id.split(_MEMBER_SEPARATOR, 1)[0]


# --------------------------------------------------------------------------- chief


def _heartbeat_dir(project_dir):
    path = pathlib.Path(project_dir) / "heartbeats"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _requeue_dead_workers(oracle, project_dir, batch_size_folder):
    from tfbsz.study.tuning import kt_internals

    beats = _heartbeat_dir(project_dir)
    now = time.time()
    for tuner_id, trial in list(oracle.ongoing_trials.items()):
        beat = beats / _worker_of(tuner_id)
        age = now - beat.stat().st_mtime if beat.exists() else None
        if age is not None and age <= _worker_timeout():
            continue
        if age is None:
            # No heartbeat yet: give a worker the timeout from when its trial started.
            started = getattr(trial, "_tfbsz_seen", None)
            if started is None:
                trial._tfbsz_seen = now
                continue
            if now - started <= _worker_timeout():
                continue
        kt_internals.requeue(oracle, tuner_id)
        from tfbsz.records import results

        results.write_trial_failure(batch_size_folder, trial.trial_id, {
            "worker": tuner_id,
            "reason": f"no heartbeat from worker {tuner_id} for more than {_worker_timeout():.0f} s",
            "last_heartbeat_age_s": None if age is None else round(age, 1),
            "requeued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
        oracle.save()


def _finished(oracle):
    from tfbsz.study.tuning import kt_internals

    if oracle.ongoing_trials or kt_internals.has_retries(oracle):
        return False
    if oracle.max_trials is None or len(oracle.trials) < oracle.max_trials:
        return False
    done = (kt_internals.TrialStatus.COMPLETED, kt_internals.TrialStatus.FAILED)
    return all(t.status in done for t in oracle.trials.values())


def serve_oracle(oracle, project_dir, batch_size_folder, poll_seconds=0.5):
    """Serves `oracle` to workers until every trial is finished; re-queues dead workers' trials
    (writing `results.failure_path(batch_size_folder, trial_id)`)."""
    import grpc
    from concurrent import futures

    from tfbsz.study.tuning import kt_internals

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    kt_internals.add_oracle_servicer(server, oracle)
    if server.add_insecure_port(address) == 0:
        raise TfbszError(f"--oracle: the chief cannot listen on {address} (port in use?)")
    server.start()
    try:
        while True:
            time.sleep(poll_seconds)
            with kt_internals.oracle_lock(oracle):
                _requeue_dead_workers(oracle, project_dir, batch_size_folder)
                if _finished(oracle):
                    oracle.save()
                    break
        (pathlib.Path(project_dir) / DONE_MARKER).write_text("done\n")
        time.sleep(max(2 * HEARTBEAT_SECONDS, 1.0))  # let waiting workers see STOPPED
    finally:
        server.stop(grace=1.0)


# --------------------------------------------------------------------------- worker


class _Heartbeat(threading.Thread):
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


def run_worker(tuner):
    """The worker's search loop: take and run trials (a cohort at a time) until the chief marks
    this batch size done."""
    import grpc

    from tfbsz.study.tuning.kt_internals import TrialStatus

    project_dir = pathlib.Path(tuner.project_dir)
    heartbeat = _Heartbeat(_heartbeat_dir(project_dir) / tuner.tuner_id)
    heartbeat.start()
    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    try:
        tuner.on_search_begin()
        while True:
            if (project_dir / DONE_MARKER).exists():
                break
            try:
                trials, status = tuner.take_trials()
            except grpc.RpcError as e:
                if (project_dir / DONE_MARKER).exists():
                    break
                raise TfbszError(
                    f"--oracle: the chief at {address} did not answer for {_chief_timeout():.0f} s "
                    f"({e.code().name}); giving up"
                ) from None
            if trials:
                tuner.run_trials(trials)
            else:
                time.sleep(HEARTBEAT_SECONDS / 2 if status == TrialStatus.STOPPED else 0.2)
        tuner.on_search_end()
    finally:
        heartbeat.stop()
