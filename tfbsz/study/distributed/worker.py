"""A worker: asks the chief for trials of one batch size and runs them until the chief is done.

Its client (`WorkerOracleClient`) sends the shared token and its worker id with every call,
over TLS when a certificate to trust is given, and waits at most `TFBSZ_CHIEF_TIMEOUT` seconds
for an answer (KerasTuner's client waits an hour). A chief that does not answer, or refuses the
worker, ends the worker with one line (`ChiefError`). Before running a trial the worker checks
what the chief sent (`check_trial`): a plain trial id, and only names of its own `search.space`
with values inside their ranges, so a chief (or whoever poses as one) cannot make it change any
other setting of its config.

Example:

>>> import keras_tuner as kt
>>> from keras_tuner.src.engine import trial as trial_module
>>> from tfbsz.study.distributed.worker import check_trial
>>> ours = kt.HyperParameters()
>>> _ = ours.Float("optimizer.learning_rate", 0.01, 1.0)
>>> sent = kt.HyperParameters()
>>> _ = sent.Fixed("init.from", "/srv/model.keras")
>>> check_trial(trial_module.Trial(sent, trial_id="0"), ours)
Traceback (most recent call last):
...
tfbsz.core.errors.TfbszError: --oracle: the chief sent 'init.from' for trial 0, which is not in this worker's search.space (optimizer.learning_rate); refusing it (do chief and workers run the same config?)
"""

import math
import os
import pathlib
import time

import grpc
from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_client
from keras_tuner.src.engine import hyperparameters as hp_module
from keras_tuner.src.engine import trial as trial_module

from tfbsz.core.errors import TfbszError
from tfbsz.study import trial_ids
from tfbsz.study.distributed import heartbeat, options, security, tokens
from tfbsz.study.distributed.chief import DONE_MARKER
from tfbsz.study.tuning.tuner import SearchAborted

__all__ = ["ChiefError", "TrialTakenOver", "WorkerOracleClient", "check_trial", "run_worker"]

_SHOWN = 60


class ChiefError(SearchAborted):
    """The chief did not answer, or refused this worker: the worker stops with one line."""

    def __init__(self, message, code=None):
        super().__init__(TfbszError(message))
        self.code = code


class TrialTakenOver(Exception):
    """The chief no longer counts this trial as ours (re-queued after a missed heartbeat)."""


def _shown(value):
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


class WorkerOracleClient(oracle_client.OracleClient):
    """KerasTuner's `OracleClient` with the token, TLS, a bounded wait and one-line errors.

    Args:
        oracle: the worker's local oracle (for its objective and settings).
        address: `HOST:PORT` of the chief.
        worker_id: this worker's id (sent with every call).
        token: the shared token.
        credentials: `grpc.ChannelCredentials` for TLS, or None.
        timeout: seconds to wait for the chief on each call.
    """

    def __init__(self, oracle, address, worker_id, token, credentials=None, timeout=300.0):
        self._oracle = oracle
        self.address = address
        self.timeout = float(timeout)
        if credentials is None:
            self._channel = grpc.insecure_channel(address)
        else:
            self._channel = grpc.secure_channel(address, credentials)
        self.stub = protos.get_service_grpc().OracleStub(self._channel)
        self.tuner_id = worker_id
        self._metadata = ((tokens.TOKEN_KEY, token), (security.WORKER_KEY, worker_id))
        self.multi_worker = False
        self.should_report = True

    def close(self):
        self._channel.close()

    def _call(self, method, request, taken_over_ok=False):
        try:
            return getattr(self.stub, method)(request, wait_for_ready=True, timeout=self.timeout,
                                              metadata=self._metadata)
        except grpc.RpcError as e:
            code = e.code() if hasattr(e, "code") else None
            details = " ".join(str(e.details() if hasattr(e, "details") else e).split())[:200]
            if taken_over_ok and code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED):
                raise TrialTakenOver(details) from None
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise ChiefError(f"--oracle: the chief at {self.address} did not answer for {self.timeout:.0f} s "
                                 f"({code.name}); giving up", code) from None
            if code == grpc.StatusCode.UNAUTHENTICATED:
                raise ChiefError(f"--oracle: the chief at {self.address} refused this worker's token "
                                 "(use the chief's --token-file or TFBSZ_ORACLE_TOKEN)", code) from None
            name = code.name if code is not None else "error"
            raise ChiefError(f"--oracle: the chief at {self.address} answered {method} with {name}: {details}",
                             code) from None

    def get_space(self):
        response = self._call("GetSpace", protos.get_service().GetSpaceRequest())
        return hp_module.HyperParameters.from_proto(response.hyperparameters)

    def update_space(self, hyperparameters):
        self._call("UpdateSpace", protos.get_service().UpdateSpaceRequest(hyperparameters=hyperparameters.to_proto()))

    def create_trial(self, tuner_id):
        response = self._call("CreateTrial", protos.get_service().CreateTrialRequest(tuner_id=tuner_id))
        return trial_module.Trial.from_proto(response.trial)

    def update_trial(self, trial_id, metrics, step=0):
        response = self._call("UpdateTrial", protos.get_service().UpdateTrialRequest(
            trial_id=trial_id, metrics=metrics, step=step), taken_over_ok=True)
        return trial_module.Trial.from_proto(response.trial)

    def end_trial(self, trial):
        try:
            self._call("EndTrial", protos.get_service().EndTrialRequest(trial=trial.to_proto()), taken_over_ok=True)
        except TrialTakenOver:
            pass  # another worker runs it now; it keeps this worker's files if they are whole

    def get_trial(self, trial_id):
        response = self._call("GetTrial", protos.get_service().GetTrialRequest(trial_id=trial_id))
        return trial_module.Trial.from_proto(response.trial)

    def get_best_trials(self, num_trials=1):
        response = self._call("GetBestTrials", protos.get_service().GetBestTrialsRequest(num_trials=num_trials))
        return [trial_module.Trial.from_proto(trial) for trial in response.trials]


def _in_domain(hp, value):
    """Whether `value` is a value `hp` (a KerasTuner hyperparameter) can take."""
    if hasattr(hp, "values") and not hasattr(hp, "min_value"):  # Choice
        return any(value == v and type(value) is type(v) for v in hp.values) or (
            isinstance(value, (int, float)) and not isinstance(value, bool)
            and any(isinstance(v, (int, float)) and not isinstance(v, bool) and value == v for v in hp.values))
    if hasattr(hp, "min_value"):  # Int, Float
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        slack = 1e-9 * max(1.0, abs(hp.min_value), abs(hp.max_value))  # rounding in a log scale
        return hp.min_value - slack <= value <= hp.max_value + slack
    if hasattr(hp, "value"):  # Fixed
        return value == hp.value
    return isinstance(value, bool)  # Boolean


def check_trial(trial, space):
    """Refuses a trial whose id is not a plain name or whose values leave `space` (ours).

    Raises `TfbszError` naming the first offending id, name or value.
    """
    trial_ids.check_trial_id(trial.trial_id)
    own = {hp.name: hp for hp in space.space}
    for name, value in trial.hyperparameters.values.items():
        if name not in own:
            raise TfbszError(
                f"--oracle: the chief sent {_shown(name)} for trial {trial.trial_id}, which is not in this "
                f"worker's search.space ({', '.join(own) or 'empty'}); refusing it (do chief and workers "
                "run the same config?)"
            )
        if not _in_domain(own[name], value):
            raise TfbszError(
                f"--oracle: the chief sent {name}={_shown(value)} for trial {trial.trial_id}, outside this "
                "worker's search.space; refusing it"
            )


def run_worker(tuner, study_root=None):
    """The worker's search loop: takes trials (a cohort at a time: `tuner.take_trials`, each member
    under `options.cohort_member_id`) and runs them until the chief marks this batch size done."""
    options.check_worker_id(tuner.tuner_id, flag="KERASTUNER_TUNER_ID")  # it names the heartbeat file
    project_dir = pathlib.Path(tuner.project_dir)
    timeout = options.env_seconds("TFBSZ_CHIEF_TIMEOUT", 300)
    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    token = tokens.resolve_token("worker", study_root, wait_seconds=timeout)
    local = getattr(tuner.oracle, "_oracle", tuner.oracle)
    client = WorkerOracleClient(local, address, tuner.tuner_id, token, security.client_credentials(), timeout)
    tuner.oracle = client
    space = tuner.hypermodel.hyperparameters()
    beat = heartbeat.Heartbeat(heartbeat.heartbeat_dir(project_dir) / tuner.tuner_id)
    beat.start()
    try:
        tuner.on_search_begin()
        while True:
            if (project_dir / DONE_MARKER).exists():
                break
            try:
                trials, status = tuner.take_trials()
            except ChiefError:
                if (project_dir / DONE_MARKER).exists():
                    break
                raise
            if not trials:
                if status == trial_module.TrialStatus.STOPPED:
                    time.sleep(heartbeat.HEARTBEAT_SECONDS / 2)  # a re-queued trial may still come
                else:
                    time.sleep(0.2)
                continue
            for trial in trials:
                check_trial(trial, space)
            tuner.run_trials(trials)
        tuner.on_search_end()
    finally:
        beat.stop()
        client.close()
