"""Config checking: every error names the key path and what was expected."""

import pytest

from tfbsz.core.config import apply_override, from_dict, load_config, steps_budget
from tfbsz.core.errors import ConfigError


def base(**changes):
    cfg = {
        "data": {"name": "digits"},
        "model": {"name": "mlp"},
        "optimizer": {"name": "momentum", "learning_rate": 0.1},
        "target": {"metric": "val/classification_error", "threshold": 0.1},
        "budget": {"max_steps": 100},
        "batch_sizes": [16, 32],
    }
    cfg.update(changes)
    return cfg


def test_defaults_are_filled_and_direction_inferred():
    cfg = from_dict(base(target={"metric": "val/accuracy", "threshold": 0.9}))
    assert cfg["target"]["direction"] == "max"
    assert cfg["search"]["algorithm"] == "halton"
    assert cfg["precision"] == "float32"


def test_unknown_key_names_path_and_closest_name():
    with pytest.raises(ConfigError, match=r"^optimzer: unknown key \(did you mean 'optimizer'\?\)"):
        from_dict(base(optimzer={"name": "sgd"}))
    with pytest.raises(ConfigError, match=r"^search\.trails: unknown key \(did you mean 'search\.trials'\?\)"):
        from_dict(base(search={"trails": 3}))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"batch_sizes": [16, 0]}, r"^batch_sizes\[1\]: expected an integer >= 1, got 0$"),
        ({"batch_sizes": [-8]}, r"^batch_sizes\[0\]: expected an integer >= 1, got -8$"),
        ({"batch_sizes": []}, r"^batch_sizes: the list is empty"),
        ({"batch_sizes": "16"}, r"^batch_sizes: expected a list of integers >= 1, got '16'"),
        ({"batch_sizes": [16, 16]}, r"^batch_sizes: contains duplicates"),
        ({"seed": "zero"}, r"^seed: expected an integer >= 0, got 'zero'"),
        ({"eval_every": 2.5}, r"^eval_every: expected an integer >= 1 or auto, got 2.5 \(float\)"),
        ({"precision": "fp8"}, r"^precision: expected one of float32, mixed_float16, mixed_bfloat16"),
        ({"optimizer": {"name": "sgd", "learning_rate": -1}}, r"^optimizer\.learning_rate: expected a number > 0"),
        ({"optimizer": "sgd"}, r"^optimizer: expected a section \(mapping\), got 'sgd'"),
        ({"target": {"metric": "val/perplexity", "threshold": 3}}, r"^target\.metric: the models do not produce"),
        ({"target": {"metric": "val/accuracy", "threshold": 0.9, "direction": "min"}},
         r"^target\.direction: val/accuracy improves towards 'max'"),
        ({"budget": {"max_steps": 10, "epochs": 2}}, r"^budget: set exactly one of"),
        ({"budget": {}}, r"^budget: set exactly one of max_steps, epochs, examples; none is set"),
        ({"regularization": {"label_smoothing": 1.5}}, r"^regularization\.label_smoothing: expected a number in \[0, 1\)"),
        ({"search": {"space": {"optimizer.momentum": {"min": 0.5, "max": 1.0, "scale": "reverse_log"}}}},
         r"^search\.space\.optimizer\.momentum: a reverse_log scale"),
        ({"search": {"space": {"optimizer.learning_rate": {"min": 0, "max": 1, "scale": "log"}}}},
         r"^search\.space\.optimizer\.learning_rate\.min: a log scale needs min > 0"),
        ({"search": {"space": {"budget.nope": {"min": 0, "max": 1}}}}, r"^search\.space\.budget\.nope: 'budget\.nope' is not"),
    ],
)
def test_bad_values_name_the_key(changes, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(base(**changes))


def test_required_keys():
    cfg = base()
    del cfg["model"]
    with pytest.raises(ConfigError, match=r"^model\.name: required, but not set"):
        from_dict(cfg)


def test_overrides_parse_yaml_values_and_reach_keys_with_dots():
    raw = base(search={"space": {"optimizer.learning_rate": {"min": 0.01, "max": 1.0, "scale": "log"}}})
    apply_override(raw, "optimizer.learning_rate=0.05")
    apply_override(raw, "batch_sizes=[8, 64]")
    apply_override(raw, "search.space.optimizer.learning_rate.max=0.5")
    cfg = from_dict(raw)
    assert cfg["optimizer"]["learning_rate"] == 0.05
    assert cfg["batch_sizes"] == [8, 64]
    assert cfg["search"]["space"]["optimizer.learning_rate"]["max"] == 0.5
    with pytest.raises(ConfigError, match=r"^--set nonsense: expected KEY=VALUE"):
        apply_override(raw, "nonsense")


def test_load_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"no such file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {name: digits\nmodel: [\n")
    with pytest.raises(ConfigError, match=r"malformed YAML \(line \d+, column \d+\)"):
        load_config(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"expected a mapping of keys at the top level"):
        load_config(listing)


def test_budget_in_examples_and_epochs_converts_per_batch_size():
    cfg = from_dict(base(budget={"examples": 1000}))
    assert steps_budget(cfg, 64, 5000) == 16  # ceil(1000 / 64)
    cfg = from_dict(base(budget={"epochs": 2}))
    assert steps_budget(cfg, 100, 1000) == 20
    cfg = from_dict(base(budget={"max_steps": 7}))
    assert steps_budget(cfg, 100, 1000) == 7
