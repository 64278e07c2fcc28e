"""The config's one table of keys, the `Config` object it produces and the generated reference."""

import copy
import json
import pathlib
import pickle
import subprocess
import sys

import numpy as np
import pytest

from tfbsz.core import checks, schema
from tfbsz.core.config import DEFAULTS, Config, as_config, from_dict, set_path
from tfbsz.core.errors import ConfigError

ROOT = pathlib.Path(__file__).resolve().parents[2]


def base(**changes):
    cfg = {
        "data": {"name": "digits"},
        "model": {"name": "mlp", "hidden_units": [8]},
        "target": {"metric": "val/accuracy", "threshold": 0.5},
        "budget": {"max_steps": 10},
        "batch_sizes": [16, 32],
    }
    cfg.update(changes)
    return cfg


def test_docs_config_md_is_generated_from_the_schema():
    expected = schema.reference_markdown()
    actual = (ROOT / "docs" / "config.md").read_text()
    assert actual == expected, "docs/config.md is out of date: run `python -m tfbsz.core.schema > docs/config.md`"


def test_every_key_has_a_doc_a_type_and_a_default_that_passes_its_own_check():
    paths = [k.path for k in schema.KEYS]
    assert len(paths) == len(set(paths))
    for key in schema.KEYS:
        assert key.doc and "\n" not in key.doc and key.spec.type_name
        if key.default not in (None, schema.REQUIRED):
            assert key.spec.check(copy.deepcopy(key.default), key.path) == key.default, key.path
    for section in schema.OPEN_SECTIONS:
        assert f"{section}.name" in paths


def test_defaults_tree_follows_the_table():
    assert DEFAULTS["optimizer"] == {"name": "momentum", "learning_rate": 0.1}
    assert DEFAULTS["search"]["space"] == {} and DEFAULTS["data"] == {"name": None}


def test_config_reads_as_attributes_and_stays_a_plain_dict():
    cfg = from_dict(base())
    assert cfg.optimizer.learning_rate == cfg["optimizer"]["learning_rate"] == 0.1
    assert cfg.init["from"] is None and cfg.search.space == {}
    assert isinstance(cfg, dict) and isinstance(cfg.optimizer, Config)
    plain = json.loads(json.dumps(cfg))
    assert plain == cfg and cfg == plain and dict(cfg) == plain
    assert from_dict(plain) == cfg and from_dict(cfg) == cfg
    for clone in (copy.deepcopy(cfg), pickle.loads(pickle.dumps(cfg))):
        assert clone == cfg and isinstance(clone.target, Config)
        clone.target.threshold = 0.7
        assert cfg.target.threshold == 0.5
    cfg.output = "elsewhere"
    assert cfg["output"] == "elsewhere"
    with pytest.raises(AttributeError, match=r"config has no key 'learnig_rate' \(did you mean 'learning_rate'\?\)"):
        cfg.optimizer.learnig_rate
    assert not hasattr(cfg, "__deepcopy__")


def _plain_dicts(value, path="cfg"):
    """The paths of the dicts in `value` that are not `Config`s."""
    if isinstance(value, dict):
        own = [] if isinstance(value, Config) else [path]
        return own + [p for k, v in value.items() for p in _plain_dicts(v, f"{path}[{k!r}]")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _plain_dicts(v, f"{path}[{i}]")]
    return []


def test_every_dict_of_a_config_is_a_config_also_when_rebuilt_from_plain_dicts():
    cfg = from_dict(base(search={"space": {"optimizer.learning_rate": {"min": 0.01, "max": 0.1},
                                           "optimizer.momentum": {"values": [0.9, 0.99]}}},
                         model={"name": "mlp", "hidden_units": [8]}, strategy={"name": "auto"}))
    assert _plain_dicts(cfg) == []
    assert cfg.search.space["optimizer.learning_rate"]["max"] == 0.1
    loaded = json.loads(json.dumps(cfg))  # e.g. read back from tfbsz_study.json
    assert _plain_dicts(loaded) != [] and _plain_dicts(as_config(loaded)) == []
    assert as_config(loaded) == cfg and as_config(loaded).budget.max_steps == 10
    rebuilt = as_config({**cfg, "budget": {**cfg.budget, "max_steps": 7}})
    assert rebuilt.budget.max_steps == 7 and cfg.budget.max_steps == 10  # a copy
    shared = {"a": 1}
    both = as_config({"x": shared, "y": [shared]})
    assert both.x is both.y[0] and both.x.a == 1
    with pytest.raises(TypeError, match="as_config: expected a dict, got list"):
        as_config([])
    set_path(cfg, "model.block.width", 3)  # a section made on the way
    set_path(cfg, "model.extra", {"depth": 2})
    assert cfg.model.block.width == 3 and cfg.model.extra.depth == 2 and _plain_dicts(cfg) == []
    raw = {}
    set_path(raw, "model.name", "mlp")  # a plain dict (e.g. YAML before checking) stays plain
    assert type(raw["model"]) is dict


def test_raw_input_is_not_changed():
    raw = base(search={"space": {"optimizer.learning_rate": {"min": 0.01, "max": 0.1}}})
    before = copy.deepcopy(raw)
    from_dict(raw)
    assert raw == before


def test_numpy_values_from_python_callers_become_python_values():
    cfg = from_dict(base(batch_sizes=np.array([64, 16]), seed=np.int64(3),
                         target={"metric": "val/accuracy", "threshold": np.float32(0.5)},
                         budget={"max_steps": np.int32(10)},
                         search={"trials": np.int64(2), "space": {
                             "optimizer.learning_rate": {"min": np.float64(0.01), "max": np.float32(0.5)},
                             "optimizer.momentum": {"values": [np.float64(0.9), 0.99]}}},
                         model={"name": "mlp", "hidden_units": np.array([8, 4])}))
    assert cfg.batch_sizes == [16, 64] and all(type(b) is int for b in cfg.batch_sizes)
    assert type(cfg.seed) is int and type(cfg.search.trials) is int and type(cfg.budget.max_steps) is int
    assert type(cfg.target.threshold) is float and cfg.model.hidden_units == [8, 4]
    assert type(cfg.model.hidden_units[0]) is int
    json.dumps(cfg)  # everything is a plain Python value
    assert from_dict(base(batch_sizes=[np.int64(8), np.int32(4)])).batch_sizes == [4, 8]


def test_numbers_are_floats_and_integers_ints():
    cfg = from_dict(base(optimizer={"name": "sgd", "learning_rate": 1}, budget={"epochs": 2}))
    assert type(cfg.optimizer.learning_rate) is float and type(cfg.budget.epochs) is float


@pytest.mark.parametrize("changes, message", [
    ({"eval_examples": 0}, r"^eval_examples: expected an integer >= 1 or null, got 0$"),
    ({"seed": None}, r"^seed: expected an integer >= 0, got nothing \(null\)$"),
    ({"init": {"freeze": ["dense", "("]}}, r"^init\.freeze\[1\]: '\(' is not a regular expression: missing \)"),
    ({"sparsity": {"include": "kernel"}}, r"^sparsity\.include: expected a list of regular expressions or null, got 'kernel'"),
    ({"noise_scale": {"enabled": "yes"}}, r"^noise_scale\.enabled: expected true or false, got 'yes'$"),
    ({"scaling": {"base_batch_size": 16}}, r"^scaling\.base_batch_size: unknown key \(the base batch size of a scaling rule is search\.base_batch_size\)$"),
    ({"search": {"space": {"optimizer": {"min": 0, "max": 1}}}}, r"^search\.space\.optimizer: 'optimizer' is a section"),
    ({"search": {"space": {"search.trials": {"values": [1, 2]}}}}, r"^search\.space\.search\.trials: 'search\.trials' is a setting of the search"),
    ({"search": {"space": {"model.depth": {"min": 1.5, "max": 4, "type": "int"}}}}, r"^search\.space\.model\.depth\.min: type int needs an integer, got 1\.5"),
    ({"search": {"space": {"optimizer.momentum": {"values": [0.9, "0.99"]}}}}, r"^search\.space\.optimizer\.momentum\.values: mixes numbers and strings"),
    ({"search": {"space": {"optimizer.momentum": {"values": [0.9, 0.9]}}}}, r"^search\.space\.optimizer\.momentum\.values: contains duplicates"),
    ({"search": {"space": {"optimizer.momentum": {"values": []}}}}, r"^search\.space\.optimizer\.momentum\.values: the list is empty"),
    ({"search": {"space": {"optimizer.momentum": {"min": 0.1, "max": 0.9, "scal": "log"}}}}, r"^search\.space\.optimizer\.momentum\.scal: unknown key \(did you mean 'scale'\?\)"),
])
def test_bad_values_name_the_key(changes, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(base(**changes))


def test_choice_values_of_ints_and_floats_become_floats():
    """KerasTuner's Choice refuses mixed Python types ([0.5, 1] is a TypeError there)."""
    cfg = from_dict(base(search={"space": {"regularization.label_smoothing": {"values": [0, 0.1]},
                                           "model.hidden_units": {"values": [8, 16]}}}))
    assert cfg.search.space["regularization.label_smoothing"]["values"] == [0.0, 0.1]
    assert [type(v) for v in cfg.search.space["regularization.label_smoothing"]["values"]] == [float, float]
    assert cfg.search.space["model.hidden_units"]["values"] == [8, 16]


def test_given_values_are_checked_before_missing_required_keys():
    with pytest.raises(ConfigError, match=r"^eval_every: "):
        from_dict({"eval_every": 0})
    with pytest.raises(ConfigError, match=r"^data\.name: required, but not set"):
        from_dict({"eval_every": 5})


def test_a_new_key_is_one_line():
    """Adding a `Key` to the table is all a new key needs: default, check, docs (in a fresh process)."""
    code = (
        "from tfbsz.core import schema\n"
        "schema.KEYS += (schema.Key('search.repeats', schema.Integer(), 1, 'runs per trial'),)\n"
        "from tfbsz.core.config import from_dict\n"
        f"base = {base()!r}\n"
        "print(from_dict(base).search.repeats)\n"
        "try:\n"
        "    from_dict({**base, 'search': {'repeats': 0}})\n"
        "except ValueError as e:\n"
        "    print(e)\n"
        "print('| `search.repeats` | integer | `1` | >= 1 |' in schema.reference_markdown())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["1", "search.repeats: expected an integer >= 1, got 0", "True"]


def test_either_takes_the_first_type_that_fits():
    spec = schema.Either(schema.Integer(), schema.Choice("auto"))
    assert spec.check(5, "eval_every") == 5 and spec.check("auto", "eval_every") == "auto"
    with pytest.raises(ConfigError, match=r"^eval_every: expected an integer >= 1 or auto, got 'often'$"):
        spec.check("often", "eval_every")


def test_check_messages_share_one_format():
    with pytest.raises(ConfigError, match=r"^a: expected a number in \[0, 1\), got 1\.0$"):
        checks.number(1.0, "a", 0.0, 1.0, high_open=True)
    with pytest.raises(ConfigError, match=r"^a: expected a number >= 0, got -1$"):
        checks.number(-1, "a", low=0)
    with pytest.raises(ConfigError, match=r"^a: expected a number, got True \(bool\)$"):
        checks.number(True, "a")
    with pytest.raises(ConfigError, match=r"^a: expected an integer >= 2 or null, got 1$"):
        checks.integer(1, "a", minimum=2, allow_none=True)
    with pytest.raises(ConfigError, match=r"^a: expected an integer below 2\*\*63, got 1000"):
        checks.integer(10**30, "a")
    assert checks.number(np.float32(0.25), "a") == 0.25 and checks.integer(np.int16(3), "a") == 3
    assert checks.boolean(np.bool_(True), "a") is True
    with pytest.raises(ConfigError, match=r"^a: expected an integer >= 1, got .*True.* \(bool_?\)$"):
        checks.integer(np.bool_(True), "a")


def test_core_imports_no_keras_and_no_numpy():
    code = "import sys, tfbsz.core.config, tfbsz.core.schema; print('keras' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_checked_choice_values_are_ones_kerastuner_takes():
    """`values: [0, 0.1]` (an int and a float) used to pass the config and fail in KerasTuner."""
    from tfbsz.study.tuning.space import build_hyperparameters

    cfg = from_dict(base(search={"space": {"regularization.label_smoothing": {"values": [0, 0.1]},
                                           "optimizer.momentum": {"values": [np.float32(0.5), 0.9]}}}))
    hp = build_hyperparameters(cfg.search.space)
    assert [p.name for p in hp.space] == ["regularization.label_smoothing", "optimizer.momentum"]


def test_study_takes_numpy_batch_sizes_and_trials(tmp_path):
    import tfbsz

    study = tfbsz.Study(base(), output=tmp_path / "s", batch_sizes=np.array([64, 16]), trials=np.int64(2))
    assert study.cfg.batch_sizes == [16, 64] and all(type(b) is int for b in study.cfg.batch_sizes)
    assert type(study.cfg.search.trials) is int and study.cfg.search.trials == 2
    json.dumps(study.cfg)
    assert not (tmp_path / "s").exists()  # nothing is written before `run`
