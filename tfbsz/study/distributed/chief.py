"""The chief: serves one batch size's oracle to the workers until all its trials are done.

KerasTuner's `OracleServicer` applies whatever a client sends. `GuardedOracleServicer` admits
(behind the token check of `security.TokenCheck`) only what a tfbsz worker does:

* `UpdateSpace` may not add names: the search space is the chief's config (a new name would
  become a config path that every worker applies).
* `CreateTrial` needs a worker id that is a plain name without "chief" and that matches the id
  the caller sends with its token.
* `UpdateTrial` and `EndTrial` only for a trial running on the calling worker, with the values
  the oracle issued and a final status; `GetTrial` only for a known trial. KerasTuner's oracle
  holds its lock across these calls without releasing it on an error, so a call that would
  raise inside it (an unknown trial id, a missing objective) is refused before it gets there.

The chief also re-queues the trial of a worker whose heartbeat stopped, and finishes when no
trial runs or waits and either `search.trials` trials exist or the oracle has answered STOPPED
(a space with fewer distinct points than `search.trials`, e.g. a short `values:` list).

Example (the oracle's lock, held re-entrantly as KerasTuner's own methods take it):

>>> import keras_tuner as kt
>>> from tfbsz.study.distributed.chief import holding
>>> oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("score", "min"), max_trials=1)
>>> with holding(oracle):
...     oracle.get_space().space   # a @synchronized method: no deadlock
[]
"""

import contextlib
import os
import pathlib
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc
from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_chief
from keras_tuner.src.engine import hyperparameters as hp_module
from keras_tuner.src.engine import oracle as oracle_module
from keras_tuner.src.engine import trial as trial_module

from tfbsz.core.errors import TfbszError
from tfbsz.records import results
from tfbsz.study.distributed import DONE_MARKER, heartbeat, options, security, tokens
from tfbsz.study.tuning import kt_internals

__all__ = ["DONE_MARKER", "GuardedOracleServicer", "holding", "serve_oracle"]

_ENDED = (trial_module.TrialStatus.COMPLETED, trial_module.TrialStatus.INVALID, trial_module.TrialStatus.FAILED)
_DONE = (trial_module.TrialStatus.COMPLETED, trial_module.TrialStatus.FAILED)


@contextlib.contextmanager
def holding(oracle):
    """Holds the oracle's KerasTuner lock (the one its `@synchronized` methods take), re-entrantly.

    Unlike KerasTuner's decorator it lets go when the body raises.
    """
    name = threading.current_thread().name
    if oracle_module.THREADS[oracle] == name:
        yield
        return
    oracle_module.LOCKS[oracle].acquire()
    oracle_module.THREADS[oracle] = name
    try:
        yield
    finally:
        oracle_module.THREADS[oracle] = None
        oracle_module.LOCKS[oracle].release()


def _caller(context):
    for key, value in context.invocation_metadata() or ():
        if key == security.WORKER_KEY:
            return value
    return None


def _owner(oracle, trial_id):
    for tuner_id, trial in oracle.ongoing_trials.items():
        if trial.trial_id == trial_id:
            return tuner_id
    return None


class GuardedOracleServicer(oracle_chief.OracleServicer):
    """KerasTuner's servicer, admitting only what a tfbsz worker does (see the module docstring).

    Attributes:
        exhausted: the oracle answered STOPPED before `max_trials` trials existed.
    """

    def __init__(self, oracle):
        super().__init__(oracle)
        self.exhausted = False

    def _space_names(self):
        return {hp.name for hp in self.oracle.hyperparameters.space}

    def _check_running_here(self, trial_id, context):
        owner = _owner(self.oracle, trial_id)
        if owner is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          f"trial {trial_id!r} is not running (finished, or re-queued after a missed heartbeat)")
        if options.worker_of(owner) != _caller(context):  # a cohort member's trial is its worker's
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"trial {trial_id!r} runs on another worker")

    def UpdateSpace(self, request, context):
        hps = hp_module.HyperParameters.from_proto(request.hyperparameters)
        with holding(self.oracle):
            new = sorted({hp.name for hp in hps.space} - self._space_names())
        if new:
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"the search space is the chief's config; refusing new names {new[:5]}")
        return protos.get_service().UpdateSpaceResponse()

    def CreateTrial(self, request, context):
        tuner_id = request.tuner_id
        try:
            options.check_tuner_id(tuner_id, flag="tuner_id")
        except TfbszError as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        if options.worker_of(tuner_id) != _caller(context):
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "tuner_id differs from the caller's worker id")
        with holding(self.oracle):
            trial = self.oracle.create_trial(tuner_id)
            if trial.status == trial_module.TrialStatus.STOPPED:
                self.stop_triggered = True
                if self.oracle.max_trials is None or len(self.oracle.trials) < self.oracle.max_trials:
                    if not self.exhausted:
                        print(f"tfbsz: note: the search space has no new point after {len(self.oracle.trials)} "
                              "trial(s); this batch size stops there", file=sys.stderr)
                    self.exhausted = True
        return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

    def UpdateTrial(self, request, context):
        with holding(self.oracle):
            self._check_running_here(request.trial_id, context)
            if self.oracle.objective.name not in request.metrics:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"metrics lack the objective {self.oracle.objective.name!r}")
            trial = self.oracle.update_trial(request.trial_id, dict(request.metrics), step=request.step)
            return protos.get_service().UpdateTrialResponse(trial=trial.to_proto())

    def EndTrial(self, request, context):
        sent = trial_module.Trial.from_proto(request.trial)
        with holding(self.oracle):
            self._check_running_here(sent.trial_id, context)
            issued = self.oracle.trials[sent.trial_id]
            if sent.status not in _ENDED:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"status {sent.status!r} does not end a trial")
            extra = sorted({hp.name for hp in sent.hyperparameters.space} - self._space_names())
            if extra or sent.hyperparameters.values != issued.hyperparameters.values:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"trial {sent.trial_id!r}: values differ from those the oracle issued")
            self.oracle.end_trial(sent)
        return protos.get_service().EndTrialResponse()

    def GetTrial(self, request, context):
        with holding(self.oracle):
            if request.trial_id not in self.oracle.trials:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no trial {request.trial_id!r}")
            trial = self.oracle.get_trial(request.trial_id)
            return protos.get_service().GetTrialResponse(trial=trial.to_proto())

    def GetBestTrials(self, request, context):
        with holding(self.oracle):
            return super().GetBestTrials(request, context)

    def GetSpace(self, request, context):
        with holding(self.oracle):
            return super().GetSpace(request, context)


# --------------------------------------------------------------------------- serving


def _bind(server, address, credentials):
    """Binds `server` to `address`; a failure is one line (grpc logs it to stderr otherwise)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            if credentials is None:
                port = server.add_insecure_port(address)
            else:
                port = server.add_secure_port(address, credentials)
        except RuntimeError:
            port = 0
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        log = sink.read().decode(errors="replace")
    if port == 0:
        reason = "address in use, or not an address of this machine"
        if "Address already in use" in log:
            reason = "the port is in use"
        elif "Cannot assign requested address" in log:
            reason = "not an address of this machine"
        raise TfbszError(f"--oracle: the chief cannot listen on {address} ({reason})")
    return port


def _requeue_dead_workers(oracle, project_dir, batch_size_folder):
    beats = heartbeat.heartbeat_dir(project_dir)
    timeout = options.env_seconds("TFBSZ_WORKER_TIMEOUT", 60)
    now = time.time()
    for tuner_id, trial in list(oracle.ongoing_trials.items()):
        beat = beats / options.worker_of(tuner_id)  # one heartbeat covers a worker's whole cohort
        age = now - beat.stat().st_mtime if beat.exists() else None
        if age is not None and age <= timeout:
            continue
        if age is None:
            # No heartbeat yet: give a worker the timeout from when its trial started.
            started = getattr(trial, "_tfbsz_seen", None)
            if started is None:
                trial._tfbsz_seen = now
                continue
            if now - started <= timeout:
                continue
        kt_internals.requeue(oracle, tuner_id)
        results.write_json(results.failure_path(batch_size_folder, trial.trial_id), {
            "trial_id": trial.trial_id,
            "worker": tuner_id,
            "reason": f"no heartbeat from worker {tuner_id} for more than {timeout:.0f} s",
            "last_heartbeat_age_s": None if age is None else round(age, 1),
            "requeued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
        oracle.save()


def _marker(path):
    try:
        return path.read_text()[:100].strip()
    except (OSError, ValueError):
        return None


def _finished(oracle, servicer):
    if oracle.ongoing_trials or kt_internals.has_retries(oracle):
        return False
    enough = oracle.max_trials is not None and len(oracle.trials) >= oracle.max_trials
    if not (enough or servicer.exhausted):
        return False
    return all(t.status in _DONE for t in oracle.trials.values())


def serve_oracle(oracle, project_dir, batch_size_folder, study_root=None, poll_seconds=0.5):
    """Serves `oracle` to workers until every trial is finished; re-queues dead workers' trials.

    Args:
        oracle: the batch size's KerasTuner oracle.
        project_dir: its KerasTuner project folder (heartbeats, the DONE marker).
        batch_size_folder: the batch size's folder (re-queued trials get
            `results.failure_path(batch_size_folder, trial_id)`).
        study_root: the study's output folder (for the default token file).
    """
    token = tokens.resolve_token("chief", study_root)
    address = security.bind_address(os.environ["KERASTUNER_ORACLE_PORT"])
    credentials = security.server_credentials()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), interceptors=[security.TokenCheck(token)],
                         options=[("grpc.so_reuseport", 0)])  # a second chief must not share the port
    servicer = GuardedOracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    done = pathlib.Path(project_dir) / DONE_MARKER
    # A batch size finished before (a resumed chief): over at once, unless more trials are wanted.
    servicer.exhausted = _marker(done) == "exhausted"
    with holding(oracle):
        if not _finished(oracle, servicer):
            done.unlink(missing_ok=True)
    _bind(server, address, credentials)
    server.start()
    try:
        while True:
            time.sleep(poll_seconds)
            with holding(oracle):
                _requeue_dead_workers(oracle, project_dir, batch_size_folder)
                if _finished(oracle, servicer):
                    oracle.save()
                    break
        short = oracle.max_trials is not None and len(oracle.trials) < oracle.max_trials
        results.atomic_write(done, lambda f: f.write("exhausted\n" if short else "done\n"))
        time.sleep(max(2 * heartbeat.HEARTBEAT_SECONDS, 1.0))  # let waiting workers see STOPPED
    finally:
        server.stop(grace=1.0)
