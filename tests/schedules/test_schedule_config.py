"""Schedule configs: names, options, errors, serialization, batch-size scaling rules."""

import math

import keras
import pytest

from tfbsz.training import schedules
from tfbsz.core.errors import ConfigError


def test_names_and_options_for_the_config_validator():
    assert schedules.names() == ["constant", "cosine", "cyclic", "linear_decay", "one_cycle"]
    assert schedules.options("linear_decay") == {
        "decay_steps": None, "decay_fraction": 1.0, "end_factor": 0.01,
        "warmup_steps": 0, "warmup_fraction": 0.0, "warmup_start_factor": 0.0,
    }
    assert schedules.options("one_cycle")["div_factor"] == 25.0
    with pytest.raises(ConfigError, match="schedule.name"):
        schedules.options("exponential")


def test_unknown_name_lists_valid_names():
    with pytest.raises(ConfigError) as info:
        schedules.build({"name": "cosin"}, 0.1, 10)
    message = str(info.value)
    assert "schedule.name" in message and "'cosin'" in message and "did you mean 'cosine'" in message
    assert "linear_decay" in message and "one_cycle" in message


def test_unknown_option_names_key_and_lists_valid_options():
    with pytest.raises(ConfigError) as info:
        schedules.build({"name": "linear_decay", "end_factr": 0.1}, 0.1, 10)
    message = str(info.value)
    assert message.startswith("schedule.end_factr:")
    assert "did you mean 'end_factor'" in message and "decay_fraction" in message


def test_option_of_another_schedule_is_rejected():
    with pytest.raises(ConfigError, match="schedule.cycle_steps"):
        schedules.build({"name": "cosine", "cycle_steps": 4}, 0.1, 10)


@pytest.mark.parametrize("cfg, key, received", [
    ({"name": "linear_decay", "end_factor": 1.5}, "schedule.end_factor", "1.5"),
    ({"name": "linear_decay", "decay_fraction": 0.0}, "schedule.decay_fraction", "0.0"),
    ({"name": "cosine", "decay_steps": 0}, "schedule.decay_steps", "0"),
    ({"name": "constant", "warmup_steps": -1}, "schedule.warmup_steps", "-1"),
    ({"name": "constant", "warmup_steps": 2.5}, "schedule.warmup_steps", "2.5"),
    ({"name": "constant", "warmup_fraction": "a"}, "schedule.warmup_fraction", "'a'"),
    ({"name": "cyclic"}, "schedule.cycle_steps", "None"),
    ({"name": "cyclic", "cycle_steps": 4, "amplitude_decay": 0}, "schedule.amplitude_decay", "0"),
    ({"name": "one_cycle", "pct_start": 1.0}, "schedule.pct_start", "1.0"),
    ({"name": "one_cycle", "anneal": "step"}, "schedule.anneal", "'step'"),
    ({"name": "one_cycle", "div_factor": 0.5}, "schedule.div_factor", "0.5"),
])
def test_bad_values_name_key_and_value(cfg, key, received):
    with pytest.raises(ConfigError) as info:
        schedules.build(cfg, 0.1, 100)
    assert str(info.value).startswith(key + ":")
    assert received in str(info.value)


def test_warmup_steps_and_fraction_are_exclusive():
    with pytest.raises(ConfigError, match="not both"):
        schedules.build({"warmup_steps": 5, "warmup_fraction": 0.1}, 0.1, 100)


def test_base_rate_total_steps_and_accumulation_are_checked():
    with pytest.raises(ConfigError, match=r"base_learning_rate: .*got -0.1"):
        schedules.build({}, -0.1, 100)
    with pytest.raises(ConfigError, match="total_steps: expected an integer >= 1, got 0"):
        schedules.build({}, 0.1, 0)
    with pytest.raises(ConfigError, match="accumulation_steps: .*got 0"):
        schedules.build({}, 0.1, 10, accumulation_steps=0)


def test_one_cycle_momentum_bounds_are_checked():
    with pytest.raises(ConfigError, match="base_momentum <= max_momentum"):
        schedules.build({"name": "one_cycle", "base_momentum": 0.99}, 0.1, 10)


@pytest.mark.parametrize("cfg", [
    {"name": "linear_decay", "end_factor": 0.05, "warmup_steps": 3},
    {"name": "cyclic", "cycle_steps": 8, "amplitude_decay": 0.5, "warmup_fraction": 0.1},
    {"name": "one_cycle", "anneal": "linear"},
])
def test_serialization_round_trip(cfg):
    s = schedules.build(cfg, 0.2, total_steps=40, accumulation_steps=2)
    config = s.get_config()
    again = schedules.UpdateSchedule.from_config(config)
    assert again.get_config() == config
    revived = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(s))
    assert isinstance(revived, schedules.UpdateSchedule)
    assert revived.get_config() == config
    for step in (0, 3, 11, 50, 79):
        assert float(revived(step)) == pytest.approx(float(s(step)))


def test_schedule_survives_optimizer_serialization():
    s = schedules.build({"name": "cosine"}, 0.1, total_steps=10)
    opt = keras.optimizers.SGD(learning_rate=s, momentum=0.9)
    revived = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    lr_config = revived.get_config()["learning_rate"]
    assert lr_config["registered_name"] == "tfbsz>UpdateSchedule"
    again = keras.optimizers.schedules.deserialize(lr_config)
    assert again.get_config() == s.get_config()


def test_scale_learning_rate_rules():
    assert schedules.scale_learning_rate(0.1, 256, 256, "linear") == pytest.approx(0.1)
    assert schedules.scale_learning_rate(0.1, 2048, 256, "linear") == pytest.approx(0.8)
    assert schedules.scale_learning_rate(0.1, 64, 256, "linear") == pytest.approx(0.025)
    assert schedules.scale_learning_rate(0.1, 2048, 256, "sqrt") == pytest.approx(0.1 * math.sqrt(8))
    assert schedules.scale_learning_rate(0.1, 2048, 256, "none") == pytest.approx(0.1)
    with pytest.raises(ConfigError, match="rule: expected one of none, linear, sqrt, got 'square'"):
        schedules.scale_learning_rate(0.1, 2048, 256, "square")
    with pytest.raises(ConfigError, match="base_batch_size: expected an integer >= 1, got 0"):
        schedules.scale_learning_rate(0.1, 2048, 0, "linear")


def test_scale_warmup_keeps_examples_fixed_under_linear_rule():
    assert schedules.scale_warmup(1000, 1024, 256, "linear") == 250
    assert schedules.scale_warmup(1000, 64, 256, "linear") == 4000
    assert schedules.scale_warmup(1000, 1024, 256, "sqrt") == 500
    assert schedules.scale_warmup(1000, 1024, 256, "none") == 1000
    assert schedules.scale_warmup(3, 4096, 256, "linear") == 1  # a warmup never vanishes
    assert schedules.scale_warmup(0, 4096, 256, "linear") == 0
