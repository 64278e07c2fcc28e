"""What tfbsz relies on in KerasTuner beyond its public API (`tfbsz.study.tuning.kt_internals`).

Each test pins one behaviour; if a KerasTuner release changes it, the failing test names the
function of `kt_internals` to mend.
"""

import socket
import threading
import time

import grpc
import keras_tuner as kt
import pytest

from tfbsz.study.tuning import QuasiRandomOracle, build_hyperparameters, kt_internals

SPACE = {"optimizer.learning_rate": {"min": 1e-3, "max": 1.0, "scale": "log"}}


def make_oracle(tmp_path, space=SPACE, max_trials=4, name="p"):
    oracle = QuasiRandomOracle(objective=kt.Objective("s", "min"), max_trials=max_trials,
                               hyperparameters=build_hyperparameters(space), seed=0)
    oracle._set_project_dir(str(tmp_path), name)
    return oracle


def end(oracle, trial, score=1.0):
    oracle.update_trial(trial.trial_id, {"s": score})
    trial.status = kt_internals.TrialStatus.COMPLETED
    oracle.end_trial(trial)


def test_was_tried_and_max_collisions_make_an_empty_space_give_one_trial(tmp_path):
    oracle = make_oracle(tmp_path, space={})
    assert isinstance(kt_internals.max_collisions(oracle), int) and kt_internals.max_collisions(oracle) >= 1
    first = oracle.create_trial("t")
    assert first.status == kt_internals.TrialStatus.RUNNING
    assert kt_internals.was_tried(oracle, {})
    end(oracle, first)
    assert oracle.create_trial("t").status == kt_internals.TrialStatus.STOPPED


def test_was_tried_knows_drawn_values(tmp_path):
    oracle = make_oracle(tmp_path)
    trial = oracle.create_trial("t")
    assert kt_internals.was_tried(oracle, dict(trial.hyperparameters.values))
    assert not kt_internals.was_tried(oracle, {"optimizer.learning_rate": 0.123456789})


def test_requeue_hands_the_same_trial_to_the_next_tuner(tmp_path):
    oracle = make_oracle(tmp_path)
    trial = oracle.create_trial("w1")
    with kt_internals.oracle_lock(oracle):
        kt_internals.requeue(oracle, "w1")
    assert "w1" not in oracle.ongoing_trials and kt_internals.has_retries(oracle)
    again = oracle.create_trial("w2")
    assert again.trial_id == trial.trial_id and again.status == kt_internals.TrialStatus.RUNNING
    assert not kt_internals.has_retries(oracle)


def test_reload_puts_a_killed_cohort_s_unfinished_trials_in_the_retry_queue(tmp_path):
    oracle = make_oracle(tmp_path)
    members = [oracle.create_trial(f"tuner0#{k}") for k in range(3)]
    end(oracle, members[1])
    oracle.save()
    resumed = make_oracle(tmp_path)
    resumed.reload()
    assert not resumed.ongoing_trials and kt_internals.has_retries(resumed)
    again = sorted(resumed.create_trial(f"tuner0#{k}").trial_id for k in range(3))
    assert again[:2] == [members[0].trial_id, members[2].trial_id]  # the unfinished ones, once each
    assert again[2] not in {m.trial_id for m in members}  # then a new trial


def test_oracle_lock_is_the_lock_of_synchronized_methods(tmp_path):
    oracle = make_oracle(tmp_path)
    created = threading.Event()
    thread = threading.Thread(target=lambda: (oracle.create_trial("t"), created.set()), daemon=True)
    with kt_internals.oracle_lock(oracle):
        thread.start()
        assert not created.wait(0.5)  # blocked by the lock we hold
    assert created.wait(10)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_servicer_serves_an_oracle_and_the_client_timeout_applies(tmp_path, monkeypatch):
    from concurrent import futures

    from keras_tuner.src.distribute import oracle_client

    monkeypatch.setattr(oracle_client, "TIMEOUT", oracle_client.TIMEOUT)  # restored after the test
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker-test")
    oracle = make_oracle(tmp_path)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    kt_internals.add_oracle_servicer(server, oracle)
    port = server.add_insecure_port("127.0.0.1:0")  # a port the server holds: no other process can take it
    assert port != 0
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
    server.start()
    try:
        client = oracle_client.OracleClient(oracle)
        trial = client.create_trial("worker-test#0")
        assert trial.status == kt_internals.TrialStatus.RUNNING
        assert "worker-test#0" in oracle.ongoing_trials
    finally:
        server.stop(grace=None)
    kt_internals.set_client_timeout(1.0)
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(_free_port()))  # nobody listens there
    started = time.monotonic()
    with pytest.raises(grpc.RpcError):
        oracle_client.OracleClient(oracle).create_trial("worker-test#1")
    assert time.monotonic() - started < 30
