"""The checks distributed tuning relies on, one by one and in-process: trial ids as folder names,
what a worker accepts from a chief, worker ids, the shared token, and the oracle lock."""

import os
import re
import socket
import threading

import keras_tuner as kt
import pytest
from keras_tuner.src.engine import trial as trial_module

from tfbsz.core.errors import ConfigError, TfbszError
from tfbsz.study.distributed import options, tokens
from tfbsz.study.trial_ids import trial_dir


# --------------------------------------------------------------------------- trial ids

@pytest.mark.parametrize("bad", ["/srv/data", "..", "../x", "a/b", "", "x" * 65, "0\n", "a b", "é"])
def test_trial_ids_that_are_not_plain_names_are_refused(tmp_path, bad):
    with pytest.raises(TfbszError, match="trial id"):
        trial_dir(tmp_path, bad)


def test_a_trial_folder_that_is_a_link_out_of_the_batch_size_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "16"
    root.mkdir()
    (root / "3").symlink_to(outside)
    with pytest.raises(TfbszError, match="outside"):
        trial_dir(root, "3")
    assert trial_dir(root, "04") == root / "4"  # the layout names folders by number


def test_error_messages_stay_short_for_huge_ids(tmp_path):
    with pytest.raises(TfbszError) as info:
        trial_dir(tmp_path, "/" * 100_000)
    assert len(str(info.value)) < 300


# --------------------------------------------------------------------------- what a worker accepts

def _space():
    hp = kt.HyperParameters()
    hp.Float("optimizer.learning_rate", 0.01, 1.0, sampling="log")
    hp.Choice("schedule.name", ["constant", "cosine"])
    hp.Int("schedule.warmup_steps", 0, 10)
    return hp


def _trial(trial_id="0", **values):
    hp = kt.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return trial_module.Trial(hp, trial_id=trial_id, status="RUNNING")


def test_a_worker_accepts_its_own_space():
    from tfbsz.study.distributed.worker import check_trial

    check_trial(_trial(**{"optimizer.learning_rate": 0.5, "schedule.name": "cosine", "schedule.warmup_steps": 3}),
                _space())
    check_trial(_trial(**{"optimizer.learning_rate": 1.0}), _space())  # a range's end


@pytest.mark.parametrize("values, message", [
    ({"init.from": "/srv/model.keras"}, "'init.from'"),
    ({"target.threshold": 0.9}, "'target.threshold'"),
    ({"optimizer.learning_rate": 50.0}, "outside"),
    ({"optimizer.learning_rate": float("nan")}, "outside"),
    ({"optimizer.learning_rate": "0.1"}, "outside"),
    ({"schedule.name": "one_cycle"}, "outside"),
    ({"schedule.warmup_steps": 11}, "outside"),
])
def test_a_worker_refuses_values_outside_its_space(values, message):
    from tfbsz.study.distributed.worker import check_trial

    with pytest.raises(TfbszError, match=re.escape(message)):
        check_trial(_trial(**values), _space())


def test_a_worker_refuses_a_trial_id_that_is_a_path():
    from tfbsz.study.distributed.worker import check_trial

    with pytest.raises(TfbszError, match="trial id"):
        check_trial(_trial("../../etc", **{"optimizer.learning_rate": 0.5}), _space())


# --------------------------------------------------------------------------- worker ids

def test_default_worker_ids_differ_between_processes_and_hosts():
    ids = {options.default_worker_id() for _ in range(20)}
    assert len(ids) == 20  # the random part: two containers with the same pid and host differ
    for worker_id in ids:
        options.check_worker_id(worker_id)
        assert f"-{os.getpid()}-" in worker_id


def test_a_host_called_chief_does_not_make_a_chief(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "Chief-node.cluster")
    worker_id = options.default_worker_id()
    assert "chief" not in worker_id.lower()
    options.check_worker_id(worker_id)


@pytest.mark.parametrize("bad", ["chief", "my-CHIEF", "a/b", "-x", "", "x" * 200])
def test_bad_worker_ids(bad):
    with pytest.raises(ConfigError, match="--worker-id"):
        options.check_worker_id(bad)


# --------------------------------------------------------------------------- tokens

def test_the_chief_creates_a_private_token_that_workers_read(tmp_path, monkeypatch):
    monkeypatch.delenv("TFBSZ_ORACLE_TOKEN", raising=False)
    monkeypatch.delenv("TFBSZ_ORACLE_TOKEN_FILE", raising=False)
    token = tokens.resolve_token("chief", tmp_path)
    path = tmp_path / tokens.DEFAULT_TOKEN_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert tokens.resolve_token("chief", tmp_path) == token  # kept across restarts (resume)
    assert tokens.resolve_token("worker", tmp_path) == token
    assert len(token) >= 32 and sorted(p.name for p in tmp_path.iterdir()) == [tokens.DEFAULT_TOKEN_FILE]


def test_a_worker_waits_for_the_chiefs_token_then_gives_up(tmp_path, monkeypatch):
    monkeypatch.delenv("TFBSZ_ORACLE_TOKEN", raising=False)
    monkeypatch.delenv("TFBSZ_ORACLE_TOKEN_FILE", raising=False)
    with pytest.raises(TfbszError, match="no token from the chief"):
        tokens.resolve_token("worker", tmp_path, wait_seconds=0.3)
    timer = threading.Timer(0.3, lambda: tokens.resolve_token("chief", tmp_path))
    timer.start()
    try:
        assert len(tokens.resolve_token("worker", tmp_path, wait_seconds=20)) >= 32
    finally:
        timer.join()


def test_token_sources_in_order(tmp_path, monkeypatch):
    monkeypatch.delenv("TFBSZ_ORACLE_TOKEN", raising=False)
    file = tmp_path / "token"
    file.write_text("from-the-file-0123456789\n")
    file.chmod(0o600)
    monkeypatch.setenv("TFBSZ_ORACLE_TOKEN_FILE", str(file))
    assert tokens.resolve_token("worker", None) == "from-the-file-0123456789"
    monkeypatch.setenv("TFBSZ_ORACLE_TOKEN", "from-the-environment-0123")
    assert tokens.resolve_token("worker", None) == "from-the-environment-0123"
    monkeypatch.delenv("TFBSZ_ORACLE_TOKEN")
    file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        tokens.resolve_token("chief", None)
    monkeypatch.delenv("TFBSZ_ORACLE_TOKEN_FILE")
    with pytest.raises(ConfigError, match="needs a shared token"):
        tokens.resolve_token("chief", None)
    monkeypatch.setenv("TFBSZ_ORACLE_TOKEN", "short")
    with pytest.raises(ConfigError, match="16 to 4096"):
        tokens.resolve_token("chief", None)


# --------------------------------------------------------------------------- the oracle lock

def test_the_oracle_lock_is_released_when_a_call_inside_it_raises():
    """KerasTuner's `@synchronized` keeps the lock when the method raises; `holding` does not."""
    from tfbsz.study.distributed.chief import holding
    from tfbsz.study.tuning import QuasiRandomOracle

    hp = kt.HyperParameters()
    hp.Float("lr", 0.01, 1.0)
    oracle = QuasiRandomOracle(objective=kt.Objective("score", "min"), max_trials=2, hyperparameters=hp)
    with pytest.raises(KeyError):
        with holding(oracle):
            oracle.update_trial("missing", {"score": 1.0})  # raises inside KerasTuner's lock
    done = threading.Event()

    def other_thread():
        with holding(oracle):
            done.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(timeout=10)
    assert done.is_set(), "the oracle's lock stayed held"
