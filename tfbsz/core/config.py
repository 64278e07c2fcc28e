"""Study configs: YAML in, a checked plain dict out.

A config describes one workload (data, model, optimizer, schedule) and one study (batch
sizes, target, budget, search space). `load_config` reads YAML, applies `--set` overrides,
fills defaults and checks every key: an unknown key is rejected with its path and the
closest valid name, and every value is checked for type and range. All errors are
`ConfigError`s whose message starts with the offending key path.

This module checks the structure only and imports neither Keras nor TensorFlow. The options
of a named data set, model, optimizer, schedule or strategy are checked against that
component's own `options(name)` by `check_component_options` when the study is set up.

Example:

>>> from tfbsz.core.config import from_dict
>>> cfg = from_dict({"data": {"name": "digits"}, "model": {"name": "mlp"},
...                  "optimizer": {"name": "momentum", "learning_rate": 0.1},
...                  "target": {"metric": "val/classification_error", "threshold": 0.1},
...                  "budget": {"max_steps": 200}, "batch_sizes": [16, 64]})
>>> cfg["search"]["trials"], cfg["eval_every"]
(4, 50)
>>> from_dict({"batch_sizes": [0]})
Traceback (most recent call last):
...
tfbsz.core.errors.ConfigError: batch_sizes[0]: expected a positive integer, got 0
"""

import copy
import math
import os

import yaml

from tfbsz.core.errors import ConfigError
from tfbsz.core.registry import check_option_names, closest
from tfbsz.core.targets import DIRECTIONS, default_direction

__all__ = [
    "DEFAULTS",
    "TARGET_METRICS",
    "from_dict",
    "load_config",
    "apply_override",
    "parse_override",
    "steps_budget",
    "check_component_options",
    "set_path",
    "get_path",
]

# The metrics a study's models produce, named as in Shallue et al.'s released data
# (cross-entropy in nats, classification error = 1 - accuracy). Each improves in the direction
# that `tfbsz.core.targets.default_direction` reads from its name.
TARGET_METRICS = (
    "val/cross_entropy_error",
    "val/classification_error",
    "val/accuracy",
    "train/cross_entropy_error",
)

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
SEARCH_ALGORITHMS = ("halton", "sobol")
METAPARAMETER_MODES = ("tune", "rule")
SCALING_RULES = ("none", "linear", "sqrt")
SPARSITY_METHODS = ("none", "random", "magnitude", "snip")
SPACE_SCALES = ("linear", "log", "reverse_log")

# Sections whose extra keys are the options of a named component (checked later against
# that component's `options(name)`), with the defaults shown here.
OPEN_SECTIONS = ("data", "model", "optimizer", "schedule", "strategy")

DEFAULTS = {
    "name": None,
    "seed": 0,
    "output": "runs/study",
    "precision": "float32",
    "data": {"name": None},
    "model": {"name": None},
    "optimizer": {"name": "momentum", "learning_rate": 0.1},
    "schedule": {"name": "constant"},
    "scaling": {"rule": "none", "base_batch_size": None},
    "regularization": {"label_smoothing": 0.0, "mixup_alpha": 0.0},
    "sparsity": {"method": "none", "level": 0.0, "batches": 10, "include": None},
    "init": {"from": None, "freeze": []},
    "strategy": {"name": "auto"},
    "max_device_batch": None,
    "target": {"metric": None, "threshold": None, "direction": None},
    "budget": {"max_steps": None, "epochs": None, "examples": None, "stop_when_beaten": False},
    "eval_every": 50,
    "eval_examples": None,
    "batch_sizes": None,
    "search": {
        "algorithm": "halton",
        "trials": 4,
        "parallel_trials": "auto",
        "metaparameters": "tune",
        "base_batch_size": None,
        "space": {},
    },
    "noise_scale": {"enabled": False, "every": 100, "small_batch": None, "big_batch": None},
    "logging": {"tensorboard": True, "progress": "auto"},
    "save_models": "none",
}

REQUIRED = ("data.name", "model.name", "optimizer.name", "target.metric", "target.threshold", "batch_sizes")


# --------------------------------------------------------------------------- paths


def get_path(cfg, path):
    """The value at a dotted key path (keys that contain dots are matched greedily)."""
    node = cfg
    parts = path.split(".")
    i = 0
    while i < len(parts):
        if not isinstance(node, dict):
            raise KeyError(path)
        for j in range(len(parts), i, -1):
            key = ".".join(parts[i:j])
            if key in node:
                node = node[key]
                i = j
                break
        else:
            raise KeyError(path)
    return node


def set_path(cfg, path, value):
    """Sets a dotted key path, creating dicts on the way (greedy for keys with dots)."""
    node = cfg
    parts = path.split(".")
    i = 0
    while i < len(parts) - 1:
        for j in range(len(parts) - 1, i, -1):
            key = ".".join(parts[i:j])
            if key in node and isinstance(node[key], dict):
                node = node[key]
                i = j
                break
        else:
            node = node.setdefault(parts[i], {})
            if not isinstance(node, dict):
                raise ConfigError(f"{'.'.join(parts[: i + 1])}: is not a section, cannot set '{path}'")
            i += 1
    node[parts[-1]] = value


def parse_override(text):
    """`a.b=value` -> ("a.b", parsed YAML value)."""
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected KEY=VALUE, e.g. --set optimizer.learning_rate=0.1")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {text}: the key is empty")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {key}: cannot parse value {raw!r}: {_first_line(e)}") from None
    return key, value


def apply_override(cfg, text):
    """Applies one `--set a.b=value` override to a raw config dict, in place."""
    key, value = parse_override(text)
    set_path(cfg, key, value)


# --------------------------------------------------------------------------- loading


def _first_line(error):
    return " ".join(str(error).split())


def load_config(path, overrides=()):
    """Reads a YAML config file, applies `--set` overrides and checks it.

    Args:
        path: the YAML file.
        overrides: strings `key.path=value` (values parsed as YAML).

    Returns:
        The checked config as a plain dict with every default filled in.
    """
    if not os.path.exists(path):
        raise ConfigError(f"--config {path}: no such file")
    if os.path.isdir(path):
        raise ConfigError(f"--config {path}: is a folder, expected a YAML file")
    try:
        with open(path) as f:
            raw = yaml.safe_load(f)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or _first_line(e)
        raise ConfigError(f"--config {path}: malformed YAML{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--config {path}: cannot read: {e}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"--config {path}: expected a mapping of keys at the top level, got {type(raw).__name__}")
    for text in overrides:
        apply_override(raw, text)
    return from_dict(raw)


def from_dict(raw):
    """Checks a raw config dict and returns a new dict with defaults filled in."""
    if not isinstance(raw, dict):
        raise ConfigError(f"config: expected a mapping, got {type(raw).__name__}")
    cfg = _merge(DEFAULTS, raw, "")
    _check(cfg)
    return cfg


def _merge(defaults, raw, prefix):
    out = copy.deepcopy(defaults)
    for key, value in raw.items():
        path = f"{prefix}{key}"
        if not isinstance(key, str):
            raise ConfigError(f"{path}: keys must be strings")
        section = prefix.rstrip(".")
        open_section = section in OPEN_SECTIONS
        if key not in defaults and not open_section and section != "search.space":
            hint = closest(key, defaults)
            hint = f" (did you mean '{prefix}{hint}'?)" if hint else ""
            valid = ", ".join(sorted(defaults))
            raise ConfigError(f"{path}: unknown key{hint}; valid keys here: {valid}")
        default = defaults.get(key)
        if isinstance(default, dict) and section != "search.space":
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: expected a section (mapping), got {_describe(value)}")
            out[key] = _merge(default, value, f"{path}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


# --------------------------------------------------------------------------- checks


def _describe(value):
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "nothing (null)"
    return f"{value!r} ({type(value).__name__})"


def _number(cfg, path, low=None, high=None, low_open=False, high_open=False, allow_none=False):
    value = get_path(cfg, path)
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{path}: expected a number{_range(low, high, low_open, high_open)}, got {_describe(value)}")
    if (
        (low is not None and (value < low or (low_open and value == low)))
        or (high is not None and (value > high or (high_open and value == high)))
    ):
        raise ConfigError(f"{path}: expected a number{_range(low, high, low_open, high_open)}, got {value!r}")


def _range(low, high, low_open, high_open):
    if low is None and high is None:
        return ""
    if high is None:
        return f" {'>' if low_open else '>='} {low}"
    if low is None:
        return f" {'<' if high_open else '<='} {high}"
    return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def _integer(cfg, path, minimum=1, allow_none=False, value=None, label=None):
    value = get_path(cfg, path) if label is None else value
    label = label or path
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        shown = value if isinstance(value, int) and not isinstance(value, bool) else _describe(value)
        raise ConfigError(f"{label}: expected {what}, got {shown}")


def _choice(cfg, path, choices, allow_none=False):
    value = get_path(cfg, path)
    if value is None and allow_none:
        return
    if value not in choices:
        hint = closest(value, choices) if isinstance(value, str) else None
        hint = f" (did you mean '{hint}'?)" if hint else ""
        raise ConfigError(f"{path}: expected one of {', '.join(choices)}, got {_describe(value)}{hint}")


def _string(cfg, path, allow_none=False):
    value = get_path(cfg, path)
    if value is None and allow_none:
        return
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: expected a non-empty string, got {_describe(value)}")


def _string_list(cfg, path, allow_none=False):
    value = get_path(cfg, path)
    if value is None and allow_none:
        return
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: expected a list of strings, got {_describe(value)}")


def _check(cfg):
    if cfg["batch_sizes"] is not None:
        _check_batch_sizes(cfg)
    for path in REQUIRED:
        if get_path(cfg, path) is None:
            raise ConfigError(f"{path}: required, but not set")
    _string(cfg, "name", allow_none=True)
    _integer(cfg, "seed", minimum=0)
    _string(cfg, "output")
    _choice(cfg, "precision", PRECISIONS)
    for section in OPEN_SECTIONS:
        _string(cfg, f"{section}.name")
    _number(cfg, "optimizer.learning_rate", low=0, low_open=True)
    _choice(cfg, "scaling.rule", SCALING_RULES)
    _integer(cfg, "scaling.base_batch_size", allow_none=True)
    _number(cfg, "regularization.label_smoothing", 0, 1, high_open=True)
    _number(cfg, "regularization.mixup_alpha", low=0)
    _choice(cfg, "sparsity.method", SPARSITY_METHODS)
    _number(cfg, "sparsity.level", 0, 1, high_open=True)
    _integer(cfg, "sparsity.batches")
    _string_list(cfg, "sparsity.include", allow_none=True)
    _string(cfg, "init.from", allow_none=True)
    _string_list(cfg, "init.freeze")
    _integer(cfg, "max_device_batch", allow_none=True)
    _check_target(cfg)
    _check_budget(cfg)
    _integer(cfg, "eval_every")
    _integer(cfg, "eval_examples", allow_none=True)
    _choice(cfg, "search.algorithm", SEARCH_ALGORITHMS)
    _integer(cfg, "search.trials")
    parallel = cfg["search"]["parallel_trials"]
    if parallel != "auto" and (isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1):
        raise ConfigError(f"search.parallel_trials: expected auto or a positive integer, got {_describe(parallel)}")
    _choice(cfg, "search.metaparameters", METAPARAMETER_MODES)
    _integer(cfg, "search.base_batch_size", allow_none=True)
    _check_space(cfg)
    if not isinstance(cfg["noise_scale"]["enabled"], bool):
        raise ConfigError(f"noise_scale.enabled: expected true or false, got {_describe(cfg['noise_scale']['enabled'])}")
    _integer(cfg, "noise_scale.every")
    _integer(cfg, "noise_scale.small_batch", allow_none=True)
    _integer(cfg, "noise_scale.big_batch", allow_none=True)
    if not isinstance(cfg["logging"]["tensorboard"], bool):
        raise ConfigError(f"logging.tensorboard: expected true or false, got {_describe(cfg['logging']['tensorboard'])}")
    _choice(cfg, "logging.progress", ("auto", "rich", "plain", "none"))
    _choice(cfg, "save_models", ("none", "best", "all"))
    if cfg["regularization"]["mixup_alpha"] > 0 and cfg["data"]["name"] in ("stdlib_text", "tfds:lm1b", "tfds:tiny_shakespeare"):
        raise ConfigError(
            f"regularization.mixup_alpha: mixup applies to image classification, not to data set "
            f"'{cfg['data']['name']}'; set it to 0"
        )


def _check_target(cfg):
    metric = cfg["target"]["metric"]
    if metric not in TARGET_METRICS:
        hint = closest(metric, TARGET_METRICS) if isinstance(metric, str) else None
        hint = f" (did you mean '{hint}'?)" if hint else ""
        raise ConfigError(
            f"target.metric: the models do not produce {_describe(metric)}{hint}; "
            f"valid metrics: {', '.join(TARGET_METRICS)}"
        )
    _number(cfg, "target.threshold")
    natural = default_direction(metric)
    direction = cfg["target"]["direction"]
    if direction is None:
        cfg["target"]["direction"] = natural
    else:
        _choice(cfg, "target.direction", DIRECTIONS)
        if direction != natural:
            raise ConfigError(f"target.direction: {metric} improves towards '{natural}', got '{direction}'")


def _check_budget(cfg):
    budget = cfg["budget"]
    given = [k for k in ("max_steps", "epochs", "examples") if budget[k] is not None]
    if len(given) != 1:
        raise ConfigError(
            "budget: set exactly one of max_steps, epochs, examples"
            + (f"; got {', '.join('budget.' + g for g in given)}" if given else "; none is set")
        )
    if not isinstance(budget["stop_when_beaten"], bool):
        raise ConfigError(f"budget.stop_when_beaten: expected true or false, got {_describe(budget['stop_when_beaten'])}")
    key = given[0]
    if key == "epochs":
        _number(cfg, "budget.epochs", low=0, low_open=True)
    else:
        _integer(cfg, f"budget.{key}")


def _check_batch_sizes(cfg):
    sizes = cfg["batch_sizes"]
    if not isinstance(sizes, list):
        raise ConfigError(f"batch_sizes: expected a list of positive integers, got {_describe(sizes)}")
    if not sizes:
        raise ConfigError("batch_sizes: the list is empty; give at least one positive integer")
    for i, size in enumerate(sizes):
        _integer(cfg, None, value=size, label=f"batch_sizes[{i}]")
    if len(set(sizes)) != len(sizes):
        raise ConfigError(f"batch_sizes: contains duplicates: {sizes}")
    cfg["batch_sizes"] = sorted(sizes)


def _check_space(cfg):
    space = cfg["search"]["space"]
    if not isinstance(space, dict):
        raise ConfigError(f"search.space: expected a mapping of key path -> range, got {_describe(space)}")
    for path, spec in space.items():
        label = f"search.space.{path}"
        try:
            get_path(cfg, path)
        except KeyError:
            top = path.split(".")[0]
            if top not in OPEN_SECTIONS:
                raise ConfigError(
                    f"{label}: '{path}' is not a config key; search keys are config paths such as "
                    "optimizer.learning_rate, optimizer.momentum, schedule.end_factor"
                ) from None
        if not isinstance(spec, dict):
            raise ConfigError(f"{label}: expected {{min, max, scale}} or {{values: [...]}}, got {_describe(spec)}")
        if "values" in spec:
            extra = set(spec) - {"values"}
            if extra:
                raise ConfigError(f"{label}.{sorted(extra)[0]}: unknown key; with 'values' no other key is allowed")
            if not isinstance(spec["values"], list) or not spec["values"]:
                raise ConfigError(f"{label}.values: expected a non-empty list, got {_describe(spec['values'])}")
            continue
        allowed = {"min", "max", "scale", "type"}
        for key in spec:
            if key not in allowed:
                hint = closest(key, allowed)
                hint = f" (did you mean '{hint}'?)" if hint else ""
                raise ConfigError(f"{label}.{key}: unknown key{hint}; valid keys: max, min, scale, type, values")
        spec.setdefault("scale", "linear")
        spec.setdefault("type", "float")
        for key in ("min", "max"):
            if key not in spec:
                raise ConfigError(f"{label}.{key}: required for a range")
            value = spec[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{label}.{key}: expected a number, got {_describe(value)}")
        if spec["scale"] not in SPACE_SCALES:
            raise ConfigError(f"{label}.scale: expected one of {', '.join(SPACE_SCALES)}, got {_describe(spec['scale'])}")
        if spec["type"] not in ("float", "int"):
            raise ConfigError(f"{label}.type: expected float or int, got {_describe(spec['type'])}")
        if not spec["min"] < spec["max"]:
            raise ConfigError(f"{label}: expected min < max, got min={spec['min']}, max={spec['max']}")
        if spec["scale"] == "log" and spec["min"] <= 0:
            raise ConfigError(f"{label}.min: a log scale needs min > 0, got {spec['min']}")
        if spec["scale"] == "reverse_log" and not (0 <= spec["min"] and spec["max"] < 1):
            raise ConfigError(
                f"{label}: a reverse_log scale (uniform in log(1 - x)) needs 0 <= min < max < 1, "
                f"got min={spec['min']}, max={spec['max']}"
            )


def check_component_options(section, given, valid_options):
    """Rejects keys of an open section that the named component does not take.

    Args:
        section: "data", "model", "optimizer", "schedule" or "strategy".
        given: the section's dict (with its `name`).
        valid_options: the option names the component takes (excluding `name`).
    """
    given_options = set(given) - {"name"}
    if section == "optimizer":
        given_options.discard("learning_rate")
    check_option_names(section, given["name"], given_options, valid_options)


def steps_budget(cfg, batch_size, num_train_examples):
    """The number of optimizer updates a trial at `batch_size` may take.

    `budget.max_steps` is used as is; `budget.examples` and `budget.epochs` are converted
    to steps at this batch size (rounded up), so every batch size sees the same data budget.
    """
    budget = cfg["budget"]
    if budget["max_steps"] is not None:
        return int(budget["max_steps"])
    examples = budget["examples"]
    if examples is None:
        examples = budget["epochs"] * num_train_examples
    return max(1, int(math.ceil(examples / batch_size)))
