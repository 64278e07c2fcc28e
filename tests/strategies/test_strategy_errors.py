"""Clear errors: bad configs, non-dividing batches, missing TPU / TF_CONFIG, wrong backend."""

import json
import os
import time

import pytest

from tfbsz import strategies
from tfbsz.training.accumulation import optimizer_kwargs, plan_accumulation
from tfbsz.core.errors import ConfigError, TfbszError

TENSORFLOW = os.environ.get("KERAS_BACKEND") == "tensorflow"
needs_tf = pytest.mark.skipif(not TENSORFLOW, reason="TensorFlow strategies")


def test_names_and_options_describe_every_strategy():
    assert strategies.names() == [
        "auto", "data_parallel", "mirrored", "multi_worker", "one_device", "tpu"
    ]
    assert set(strategies.options("mirrored")) == {"cpu_devices", "devices"}
    assert set(strategies.options("tpu")) == {"tpu", "timeout_s"}
    assert strategies.options("auto") == {}
    with pytest.raises(ConfigError, match="unknown strategy 'mirored' \\(did you mean 'mirrored'\\?\\)"):
        strategies.options("mirored")


def test_unknown_option_is_named_with_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown option\\(s\\) gpus for strategy 'mirrored'; "
                       "valid options: cpu_devices, devices"):
        strategies.get({"name": "mirrored", "gpus": 2})


@needs_tf
def test_non_dividing_batch_names_batch_and_replicas():
    strategy = strategies.get({"name": "mirrored", "cpu_devices": 2})
    with pytest.raises(ConfigError, match="batch size 33 does not divide evenly across 2 replicas "
                       "\\(mirrored\\); use a multiple of 2, e.g. 32 or 34"):
        strategy.per_replica_batch(33)
    with pytest.raises(ConfigError, match="batch size: expected an integer >= 1, got 0"):
        strategy.per_replica_batch(0)


@needs_tf
def test_too_many_logical_cpus_after_start_up_is_a_config_error():
    import tensorflow as tf

    tf.constant(1.0) + 1.0  # make sure the runtime is initialised
    with pytest.raises(ConfigError, match="strategy.cpu_devices: asked for 5 logical CPU devices but "
                       "TensorFlow is already initialised with 2"):
        strategies.get({"name": "mirrored", "cpu_devices": 5})
    with pytest.raises(ConfigError, match="strategy.cpu_devices: expected an integer >= 1, got 0"):
        strategies.get({"name": "mirrored", "cpu_devices": 0})


@needs_tf
def test_one_device_rejects_an_invisible_device():
    with pytest.raises(ConfigError, match="strategy.device: '/gpu:3' is not a visible device; "
                       "visible GPU devices: none"):
        strategies.get({"name": "one_device", "device": "/gpu:3"})
    with pytest.raises(ConfigError, match="strategy.device: expected a device string"):
        strategies.get({"name": "one_device", "device": 0})


@needs_tf
def test_missing_tpu_fails_fast_with_one_line():
    started = time.monotonic()
    with pytest.raises(TfbszError, match="^strategy.tpu: no TPU answered at 'local' \\(") as info:
        strategies.get({"name": "tpu", "tpu": "local", "timeout_s": 30})
    assert "\n" not in str(info.value)
    assert time.monotonic() - started < 30


def test_unreachable_grpc_tpu_fails_fast():
    import socket

    with socket.socket() as s:  # a port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(TfbszError, match=f"^strategy.tpu: no TPU answered at 'grpc://127.0.0.1:{port}'"):
        strategies.get({"name": "tpu", "tpu": f"grpc://127.0.0.1:{port}", "timeout_s": 2})
    assert time.monotonic() - started < 5
    with pytest.raises(ConfigError, match="strategy.timeout_s: expected a number of seconds > 0, got -1"):
        strategies.get({"name": "tpu", "timeout_s": -1})


@pytest.mark.parametrize(
    "tf_config, message",
    [
        (None, "the TF_CONFIG environment variable is not set"),
        ("{not json", "TF_CONFIG is not valid JSON"),
        ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}',
         "TF_CONFIG.cluster.worker: expected a non-empty list of host:port strings, got \\[\\]"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}',
         "TF_CONFIG.task.index: expected an integer in \\[0, 1\\), got 3"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}',
         "TF_CONFIG.task.type: expected one of worker, got 'ps'"),
    ],
)
def test_multi_worker_needs_a_sound_tf_config(monkeypatch, tf_config, message):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ConfigError, match="strategy multi_worker: " + message):
        strategies.get({"name": "multi_worker"})


def test_read_tf_config_returns_workers_and_task():
    from tfbsz.strategies.multi_worker import read_tf_config

    environ = {"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                                        "task": {"type": "worker", "index": 1}})}
    assert read_tf_config(environ) == (["a:1", "b:2"], "worker", 1)


@needs_tf
def test_data_parallel_needs_the_jax_backend():
    with pytest.raises(ConfigError, match="strategy data_parallel: needs the JAX backend "
                       "\\(KERAS_BACKEND=jax\\), got 'tensorflow'"):
        strategies.get({"name": "data_parallel"})


@needs_tf
def test_auto_on_a_cpu_host_picks_one_device_and_says_why(monkeypatch):
    for name in ("TF_CONFIG", "TPU_NAME", "COLAB_TPU_ADDR"):
        monkeypatch.delenv(name, raising=False)
    strategy = strategies.get({"name": "auto"})
    assert strategy.name == "one_device"
    assert strategy.describe() == (
        "one_device: 1 replica on /cpu:0 (chosen by auto: no GPU or TPU found, TensorFlow backend)"
    )
    assert strategies.get(None).name == "one_device"


def test_tpu_environment_detection():
    from tfbsz.strategies.auto import tpu_environment

    assert tpu_environment({"TPU_NAME": "my-tpu"}) == "my-tpu"
    assert tpu_environment({"COLAB_TPU_ADDR": "10.0.0.2:8470"}) == "grpc://10.0.0.2:8470"


@pytest.mark.parametrize(
    "global_batch, replicas, max_device, expected",
    [
        (64, 1, 16, (16, 4)),
        (64, 1, 64, (64, 1)),
        (64, 1, None, (64, 1)),
        (1024, 2, 128, (256, 4)),
        (96, 2, 20, (32, 3)),  # 48 per replica: 48/3 = 16 <= 20, while 48/2 = 24 is too big
        (7, 1, 2, (1, 7)),
    ],
)
def test_plan_accumulation_picks_the_smallest_k(global_batch, replicas, max_device, expected):
    assert plan_accumulation(global_batch, replicas, max_device) == expected


def test_plan_accumulation_rejects_bad_input():
    with pytest.raises(ConfigError, match="batch size 30 does not divide evenly across 4 replicas"):
        plan_accumulation(30, 4, 8)
    with pytest.raises(ConfigError, match="max_device_batch: expected an integer >= 1, got 0"):
        plan_accumulation(32, 1, 0)
    with pytest.raises(ConfigError, match="num_replicas: expected an integer >= 1, got 2.0"):
        plan_accumulation(32, 2.0, 8)


def test_optimizer_kwargs_leave_out_one_step():
    assert optimizer_kwargs(1) == {}
    assert optimizer_kwargs(4) == {"gradient_accumulation_steps": 4}
