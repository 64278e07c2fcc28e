"""One rule for a metric's direction and one `Target`, shared by config, callbacks and readers."""

import subprocess
import sys

import numpy as np
import pytest

from tfbsz.core.config import TARGET_METRICS, from_dict
from tfbsz.core.errors import ConfigError
from tfbsz.core.targets import Target, default_direction


@pytest.mark.parametrize("metric, direction", [
    ("val/accuracy", "max"),
    ("val/bleu", "max"),  # analysis said max and the plugin min before one rule decided it
    ("valid/mean_average_precision", "max"),
    ("top_5_accuracy", "max"),
    ("valAccuracy", "max"),
    ("sparse_categorical_accuracy", "max"),
    ("eval.rouge-l", "max"),
    ("val/classification_error", "min"),
    ("val/cross_entropy_error", "min"),
    ("train/cross_entropy_error", "min"),
    ("valid/ce_loss", "min"),
    ("categorical_crossentropy", "min"),
    ("val/perplexity", "min"),
    ("mean_squared_error", "min"),
    ("heatmap_error", "min"),  # "map" counts as a word only, never inside another word
])
def test_direction_rule(metric, direction):
    assert default_direction(metric) == direction


@pytest.mark.parametrize("metric, words", [
    ("val/wibble", "names neither"),
    ("accuracy_loss", "has both 'accuracy' (higher is better) and 'loss' (lower is better)"),
])
def test_names_without_a_default_direction_ask_for_one(metric, words):
    with pytest.raises(ConfigError, match=r"^target\.direction: cannot tell from the name .*set the direction to min"):
        default_direction(metric)
    if "both" in words:
        with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
            default_direction(metric)
    assert Target(metric, 1.0, "max").direction == "max"  # an explicit direction is always taken


def test_default_direction_names_the_key_it_is_given():
    with pytest.raises(ConfigError, match=r"^--direction: cannot tell"):
        default_direction("wibble", key="--direction")


def test_config_targets_use_the_rule():
    for metric in TARGET_METRICS:
        cfg = from_dict({"data": {"name": "digits"}, "model": {"name": "mlp"},
                         "target": {"metric": metric, "threshold": 0.5}, "budget": {"max_steps": 10},
                         "batch_sizes": [8]})
        assert cfg["target"]["direction"] == default_direction(metric)


def test_callback_uses_the_rule():
    from tfbsz.study.callbacks import StepsToTarget

    assert StepsToTarget(None, "val/bleu", 20.0).direction == "max"
    assert StepsToTarget(None, "val/classification_error", 0.1).direction == "min"
    stt = StepsToTarget(None, "val/accuracy", 0.9)
    assert stt.beats(0.95) and not stt.beats(0.9) and not stt.beats(float("nan"))


def test_beats_is_strict_and_never_true_for_missing_values():
    low, high = Target("val/classification_error", 0.1), Target("val/accuracy", 0.9)
    assert low.beats(0.09) and not low.beats(0.1) and not low.beats(0.2)
    assert high.beats(0.91) and not high.beats(0.9) and not high.beats(0.5)
    for missing in (None, float("nan"), float("inf"), -float("inf"), "0.5", True):
        assert not low.beats(missing) and not high.beats(missing)
    assert low.beats(np.float32(0.05)) and high.beats(np.int64(1))
    np.testing.assert_array_equal(low.beats_each([0.05, 0.1, np.nan, 0.2, -np.inf]), [True, False, False, False, False])
    np.testing.assert_array_equal(high.beats_each(np.array([0.95, np.nan, np.inf])), [True, False, False])


def test_better_and_rank_key():
    low, high = Target("loss", 1.0), Target("accuracy", 0.5)
    assert low.better(0.1, 0.2) and not low.better(0.2, 0.1) and not low.better(0.2, 0.2)
    assert high.better(0.2, 0.1) and not high.better(0.1, 0.2)
    assert low.better(0.3, None) and not low.better(None, 0.3) and not low.better(float("nan"), 0.3)
    assert low.better(0.3, float("nan"))
    assert sorted([0.3, float("nan"), 0.1], key=low.rank_key)[:2] == [0.1, 0.3]
    assert sorted([0.3, None, 0.1], key=high.rank_key)[:2] == [0.3, 0.1]


def test_constructor_checks_name_the_key():
    with pytest.raises(ConfigError, match=r"^target\.metric: expected a non-empty string, got \['a'\] \(list\)"):
        Target(["a"], 0.5)
    with pytest.raises(ConfigError, match=r"^target\.threshold: expected a number, got nan"):
        Target("loss", float("nan"))
    with pytest.raises(ConfigError, match=r"^target\.threshold: expected a number, got '0.5'"):
        Target("loss", "0.5")
    with pytest.raises(ConfigError, match=r"^target\.threshold: .*too large for a float"):
        Target("loss", 10**400)
    with pytest.raises(ConfigError, match=r"^target\.direction: expected one of min, max, got 'up'"):
        Target("loss", 0.5, "up")
    t = Target("loss", np.float32(0.5))
    assert type(t.threshold) is float and t.threshold == 0.5


def test_from_dict_reads_study_file_spellings_and_names_its_key():
    assert Target.from_dict({"name": "valid/error", "value": 0.1, "mode": "min"}) == Target("valid/error", 0.1, "min")
    t = Target.from_dict({"metric": "val/accuracy", "threshold": 0.9})
    assert t.to_dict() == {"metric": "val/accuracy", "threshold": 0.9, "direction": "max"}
    assert Target.from_dict(t.to_dict()) == t
    assert str(t) == "val/accuracy > 0.9" and t.comparison == ">"
    with pytest.raises(ConfigError, match=r"^study\.target\.threshold: required, but not set"):
        Target.from_dict({"metric": "loss"}, key="study.target")
    with pytest.raises(ConfigError, match=r"^study\.target\.direction: expected one of min, max"):
        Target.from_dict({"metric": "loss", "threshold": 1, "direction": "down"}, key="study.target")
    with pytest.raises(ConfigError, match=r"^target: expected a mapping"):
        Target.from_dict([1, 2])


def test_targets_module_is_keras_free():
    code = "import sys, tfbsz.core.targets, tfbsz.core.checks; print('keras' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_callback_takes_numpy_numbers():
    from tfbsz.study.callbacks import StepsToTarget

    stt = StepsToTarget(None, "val/accuracy", np.float32(0.5), eval_every=np.int64(5), max_steps=np.int32(20),
                        accumulation_steps=np.int64(2))
    assert (stt.eval_every, stt.max_steps, stt.accumulation_steps, stt.threshold) == (5, 20, 2, 0.5)
    assert type(stt.eval_every) is int and type(stt.threshold) is float
