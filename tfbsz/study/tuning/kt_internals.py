"""The parts of KerasTuner that tfbsz uses beyond its public API, in one place.

KerasTuner (1.4.x) has no public way to ask an oracle whether values were tried before, to put a
trial back in its retry queue, to reach its lock, to shorten its gRPC client's one-hour timeout or
to serve an oracle without blocking. tfbsz needs each of these, so each is one function here, and
`tests/core/test_kt_internals.py` pins the behaviour relied on: if a KerasTuner release changes
one, that test fails and names it, and only this file needs mending.

Example:

>>> import keras_tuner as kt
>>> from tfbsz.study.tuning import kt_internals
>>> oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("s", "min"), max_trials=2)
>>> kt_internals.max_collisions(oracle) >= 1
True
>>> kt_internals.was_tried(oracle, {"lr": 0.1})
False
"""

from keras_tuner.engine.trial import TrialStatus

__all__ = [
    "TrialStatus",
    "add_oracle_servicer",
    "has_retries",
    "max_collisions",
    "oracle_lock",
    "requeue",
    "set_client_timeout",
    "was_tried",
]


def max_collisions(oracle):
    """How many already-tried draws in a row an oracle accepts before it calls the space exhausted."""
    return oracle._max_collisions


def was_tried(oracle, values):
    """Whether `values` ({name: value}) were the values of an earlier trial of `oracle`."""
    return oracle._duplicate(values)


def oracle_lock(oracle):
    """The oracle's lock: the one its `@keras_tuner.synchronized` methods hold."""
    from keras_tuner.src.engine import oracle as oracle_module

    return oracle_module.LOCKS[oracle]


def has_retries(oracle):
    """Whether trials wait in the oracle's retry queue (they are handed out before new ones)."""
    return bool(oracle._retry_queue)


def requeue(oracle, tuner_id):
    """Takes the trial running for `tuner_id` away from it and puts it first in the retry queue.

    The next `create_trial` of any tuner gets it, under the same trial id. Call under
    `oracle_lock(oracle)`. Returns the trial.
    """
    trial = oracle.ongoing_trials.pop(tuner_id)
    oracle.tuner_ids.discard(tuner_id)
    trial.status = TrialStatus.RUNNING
    oracle._retry_queue.append(trial.trial_id)
    return trial


def set_client_timeout(seconds):
    """How long a worker's calls to the chief's oracle wait (KerasTuner's default: one hour)."""
    from keras_tuner.src.distribute import oracle_client

    oracle_client.TIMEOUT = float(seconds)


def add_oracle_servicer(server, oracle):
    """Adds KerasTuner's oracle service for `oracle` to a `grpc.server` (which the caller starts)."""
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    protos.get_service_grpc().add_OracleServicer_to_server(oracle_chief.OracleServicer(oracle), server)
