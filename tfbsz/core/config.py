"""Study configs: YAML in, a checked `Config` out.

A config describes one workload (data, model, optimizer, schedule) and one study (batch
sizes, target, budget, search space). `load_config` reads YAML, applies `--set` overrides,
fills defaults and checks every key against the one table of keys, `tfbsz.core.schema.KEYS`
(type, range, default and doc of each; docs/config.md is generated from it): an unknown key is
rejected with its path and the closest valid name, and every value is checked for type and
range. All errors are one-line `ConfigError`s that start with the offending key path, and stay
short whatever the input's size.

The result is a `Config`: a plain `dict` (JSON-serialisable, equal to the same plain dict,
`cfg["optimizer"]["learning_rate"]` works) whose sections also read as attributes
(`cfg.optimizer.learning_rate`). NumPy numbers given by Python callers become Python numbers.

This module checks the structure only and imports neither Keras nor TensorFlow. The options
of a named data set, model, optimizer, schedule or strategy are checked against that
component's own `options(name)` by `check_component_options` when the study is set up.

Example:

>>> from tfbsz.core.config import from_dict
>>> cfg = from_dict({"data": {"name": "digits"}, "model": {"name": "mlp"},
...                  "optimizer": {"name": "momentum", "learning_rate": 0.1},
...                  "target": {"metric": "val/classification_error", "threshold": 0.1},
...                  "budget": {"max_steps": 200}, "batch_sizes": [64, 16]})
>>> cfg.search.trials, cfg.eval_every, cfg.batch_sizes, cfg.target.direction
(4, 50, [16, 64], 'min')
>>> from_dict({"batch_sizes": [0]})
Traceback (most recent call last):
...
tfbsz.core.errors.ConfigError: batch_sizes[0]: expected an integer >= 1, got 0
"""

import math
import os

import yaml

from tfbsz.core import checks
from tfbsz.core.errors import ConfigError
from tfbsz.core.registry import check_option_names
from tfbsz.core.schema import KEYS, OPEN_SECTIONS, REQUIRED, SCALING_RULES, SECTIONS, TARGET_METRICS
from tfbsz.core.targets import default_direction

__all__ = [
    "Config",
    "as_config",
    "DEFAULTS",
    "TARGET_METRICS",
    "SCALING_RULES",
    "OPEN_SECTIONS",
    "from_dict",
    "load_config",
    "apply_override",
    "parse_override",
    "steps_budget",
    "check_component_options",
    "set_path",
    "get_path",
]


class Config(dict):
    """A checked config or one of its sections: a dict whose keys also read as attributes.

    `cfg.optimizer.learning_rate` is `cfg["optimizer"]["learning_rate"]`. Keys that are not
    Python names (`init["from"]`, the dotted keys of `search.space`) or that a dict method
    shadows (`items`, `values`, ...) are read with `[...]`. Setting an attribute sets the key.

    >>> cfg = Config(optimizer=Config(name="sgd"))
    >>> cfg.optimizer.name, cfg == {"optimizer": {"name": "sgd"}}
    ('sgd', True)
    >>> cfg.optimizr
    Traceback (most recent call last):
    ...
    AttributeError: config has no key 'optimizr' (did you mean 'optimizer'?)
    """

    __slots__ = ()

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            hint = "" if name.startswith("__") else checks.closest_hint(name, [k for k in self if isinstance(k, str)])
            raise AttributeError(f"config has no key {name!r}{hint}") from None

    def __setattr__(self, name, value):
        self[name] = value

    def __delattr__(self, name):
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self):
        return sorted(set(super().__dir__()) | {k for k in self if isinstance(k, str) and k.isidentifier()})


def as_config(mapping):
    """A copy of `mapping` in which every dict, at any depth (also inside lists), is a `Config`.

    For dicts made outside `from_dict` that code reads by attribute: a config read back from
    JSON, a section rebuilt with `{**section, ...}` or `dict(...)` (both plain dicts). Values
    other than dicts and lists are kept as they are; shared parts stay shared.

    >>> cfg = as_config({"budget": {"max_steps": 10}, "search": {"space": {"x.y": {"values": [1]}}}})
    >>> cfg.budget.max_steps, type(cfg.search.space["x.y"]).__name__
    (10, 'Config')
    """
    if not isinstance(mapping, dict):
        raise TypeError(f"as_config: expected a dict, got {type(mapping).__name__}")
    return _configs(mapping, {})


def _configs(value, memo):
    """`value` with dicts made `Config`s and lists copied, at any depth (see `as_config`).

    `memo` maps `id(original)` to `(original, copy)`, as in `_plain`.
    """
    if not isinstance(value, (dict, list)):
        return value
    if id(value) in memo:
        return memo[id(value)][1]
    if isinstance(value, dict):
        out = Config()
        memo[id(value)] = (value, out)
        for k, v in value.items():
            out[k] = _configs(v, memo)
    else:
        out = []
        memo[id(value)] = (value, out)
        out.extend(_configs(v, memo) for v in value)
    return out


def _defaults():
    """The nested dict of defaults (None for required keys) that `KEYS` describes."""
    tree = {}
    for key in KEYS:
        node = tree
        *sections, leaf = key.path.split(".")
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = None if key.default is REQUIRED else key.default
    return tree


DEFAULTS = _defaults()
REQUIRED_KEYS = tuple(k.path for k in KEYS if k.default is REQUIRED)

# Keys that once existed or that people reach for, and where their meaning lives instead.
_MOVED = {
    "scaling.base_batch_size": "the base batch size of a scaling rule is search.base_batch_size",
}

# The most items (scalars, lists, dicts) one value may hold when written out: far above any real
# config, far below what a YAML alias bomb expands to (a few lines can stand for 10**9 items that
# every writer of the config, e.g. tfbsz_study.json, would expand).
MAX_VALUE_ITEMS = 100_000

# Data sets of language models, where mixup (interpolating one-hot labels of images) has no meaning.
_TEXT_DATA = ("stdlib_text", "tfds:lm1b", "tfds:tiny_shakespeare")


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
    """Sets a dotted key path, creating dicts on the way (greedy for keys with dots).

    In a `Config`, the sections made on the way and a dict `value` are `Config`s too.
    """
    as_section = Config if isinstance(cfg, Config) else dict
    if isinstance(cfg, Config) and isinstance(value, (dict, list)):
        value = _configs(value, {})
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
            node = node.setdefault(parts[i], as_section())
            if not isinstance(node, dict):
                raise ConfigError(f"{'.'.join(parts[: i + 1])}: is not a section, cannot set '{path}'")
            i += 1
    node[parts[-1]] = value


def parse_override(text):
    """`a.b=value` -> ("a.b", parsed YAML value)."""
    if "=" not in text:
        raise ConfigError(f"--set {checks.shorten(text)}: expected KEY=VALUE, e.g. --set optimizer.learning_rate=0.1")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {checks.shorten(text)}: the key is empty")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(
            f"--set {checks.shorten(key)}: cannot parse value {checks.describe(raw)}: {checks.shorten(_first_line(e))}"
        ) from None
    except RecursionError:
        raise ConfigError(f"--set {checks.shorten(key)}: the value is nested too deeply") from None
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
        The checked `Config` with every default filled in.
    """
    shown = checks.shorten(path)
    if not os.path.exists(path):
        raise ConfigError(f"--config {shown}: no such file")
    if os.path.isdir(path):
        raise ConfigError(f"--config {shown}: is a folder, expected a YAML file")
    try:
        with open(path) as f:
            raw = yaml.safe_load(f)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or _first_line(e)
        raise ConfigError(f"--config {shown}: malformed YAML{where}: {checks.shorten(problem)}") from None
    except RecursionError:
        raise ConfigError(f"--config {shown}: nested too deeply") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--config {shown}: cannot read: {checks.shorten(e)}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"--config {shown}: expected a mapping of keys at the top level, got {type(raw).__name__}")
    for text in overrides:
        apply_override(raw, text)
    return from_dict(raw)


def from_dict(raw):
    """Checks a config given as a dict (a plain one, or a `Config`) and returns a new `Config`.

    Defaults are filled in, values normalised (NumPy numbers become Python numbers, tuples and
    1-D arrays lists, batch sizes sorted) and every key checked; `raw` is not changed. Every
    dict in the result (sections, `search.space` and its entries, dict-valued options) is a
    `Config`.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"config: expected a mapping, got {checks.describe(raw)}")
    try:
        cfg = _merge(DEFAULTS, raw, "", {})
    except RecursionError:
        raise ConfigError("config: nested too deeply") from None
    _check(cfg)
    return as_config(cfg)  # also the dicts that the checks build (e.g. `search.space`)


def _merge(defaults, raw, prefix, memo):
    """A `Config` of `defaults` updated by `raw` (section by section), keys checked against `defaults`."""
    out = Config(_plain(defaults, {}))
    for key, value in raw.items():
        path = f"{prefix}{checks.shorten(key)}"
        if not isinstance(key, str):
            raise ConfigError(f"{path}: keys must be strings, got {checks.describe(key)}")
        section = prefix.rstrip(".")
        if key not in defaults and section not in OPEN_SECTIONS:
            if path in _MOVED:
                raise ConfigError(f"{path}: unknown key ({_MOVED[path]})")
            hint = checks.closest_hint(key, defaults, prefix)
            raise ConfigError(f"{path}: unknown key{hint}; valid keys here: {', '.join(sorted(defaults))}")
        if f"{prefix}{key}" in SECTIONS:
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: expected a section (mapping), got {checks.describe(value)}")
            out[key] = _merge(defaults[key], value, f"{path}.", memo)
        else:
            out[key] = _plain(value, memo)
            size = _expanded_size(out[key], {})
            if size > MAX_VALUE_ITEMS:
                raise ConfigError(
                    f"{path}: the value holds {size} items once YAML aliases are expanded; at most "
                    f"{MAX_VALUE_ITEMS} are allowed"
                )
    for key in defaults:
        if f"{prefix}{key}" in SECTIONS and key not in raw:
            out[key] = _merge(defaults[key], {}, f"{prefix}{key}.", memo)
    return out


def _expanded_size(value, memo):
    """How many items (lists, dicts, scalars) `value` holds written out as a tree (aliases expanded)."""
    if not isinstance(value, (dict, list)):
        return 1
    if id(value) not in memo:
        children = value.values() if isinstance(value, dict) else value
        memo[id(value)] = 1 + sum(_expanded_size(child, memo) for child in children)
    return memo[id(value)]


def _plain(value, memo):
    """A copy of `value` in plain Python types: dicts, lists (for tuples and 1-D NumPy arrays),
    Python numbers for NumPy scalars. Shared parts stay shared (so a YAML alias bomb costs
    nothing); other objects are kept as they are.

    `memo` maps `id(original)` to `(original, copy)`; holding the original keeps its id unique.
    """
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if id(value) in memo:
        return memo[id(value)][1]
    numpy = type(value).__module__ == "numpy" and hasattr(value, "tolist")
    if numpy and getattr(value, "ndim", 0) == 0:
        return value.tolist()  # a NumPy scalar -> a Python number
    if isinstance(value, dict):
        out = {}
        memo[id(value)] = (value, out)
        for k, v in value.items():
            out[k] = _plain(v, memo)
        return out
    if isinstance(value, (list, tuple)) or (numpy and value.ndim == 1):
        out = []
        memo[id(value)] = (value, out)
        out.extend(_plain(v, memo) for v in (value.tolist() if numpy else value))
        return out
    return value


# --------------------------------------------------------------------------- checks


def _check(cfg):
    """Checks (and normalises in place) every key of `KEYS`, then the rules across keys.

    Values that are given are checked before required keys that are missing are named.
    """
    missing = []
    for key in KEYS:
        *sections, leaf = key.path.split(".")
        node = cfg
        for section in sections:
            node = node[section]
        value = node[leaf]
        if value is None and key.default is REQUIRED:
            missing.append(key.path)
        elif value is not None or key.default is not None:
            node[leaf] = key.spec.check(value, key.path, allow_none=key.default is None)
    if missing:
        raise ConfigError(f"{missing[0]}: required, but not set")
    for rule in _RULES:
        rule(cfg)


def _target_direction(cfg):
    target = cfg.target
    natural = default_direction(target.metric)
    if target.direction is None:
        target.direction = natural
    elif target.direction != natural:
        raise ConfigError(f"target.direction: {target.metric} improves towards '{natural}', got '{target.direction}'")


def _one_budget(cfg):
    given = [k for k in ("max_steps", "epochs", "examples") if cfg.budget[k] is not None]
    if len(given) != 1:
        raise ConfigError(
            "budget: set exactly one of max_steps, epochs, examples"
            + (f"; got {', '.join('budget.' + g for g in given)}" if given else "; none is set")
        )


def _mixup_on_images(cfg):
    if cfg.regularization.mixup_alpha > 0 and cfg.data.name in _TEXT_DATA:
        raise ConfigError(
            f"regularization.mixup_alpha: mixup applies to image classification, not to data set "
            f"'{cfg.data.name}'; set it to 0"
        )


def _space_keys_exist(cfg):
    for path in cfg.search.space:
        label = f"search.space.{checks.shorten(path)}"
        try:
            value = get_path(cfg, path)
        except KeyError:
            if path.split(".")[0] not in OPEN_SECTIONS or "." not in path:
                raise ConfigError(
                    f"{label}: '{checks.shorten(path)}' is not a config key; search keys are config paths such as "
                    "optimizer.learning_rate, optimizer.momentum, schedule.end_factor"
                ) from None
            continue
        if path in SECTIONS or path == "search.space" or path.startswith("search."):
            what = "a section" if isinstance(value, dict) else "a setting of the search itself"
            raise ConfigError(f"{label}: '{checks.shorten(path)}' is {what}, not a key a trial can vary")


_RULES = (_target_direction, _one_budget, _mixup_on_images, _space_keys_exist)


def check_component_options(section, given, valid_options):
    """Rejects keys of an open section that the named component does not take.

    Args:
        section: "data", "model", "optimizer", "schedule" or "strategy".
        given: the section, a `Config` (with its `name`).
        valid_options: the option names the component takes (excluding `name`).
    """
    given_options = set(given) - {"name"}
    if section == "optimizer":
        given_options.discard("learning_rate")
    check_option_names(section, given.name, given_options, valid_options)


def steps_budget(cfg, batch_size, num_train_examples):
    """The number of optimizer updates a trial at `batch_size` may take.

    `budget.max_steps` is used as is; `budget.examples` and `budget.epochs` are converted
    to steps at this batch size (rounded up), so every batch size sees the same data budget.
    `cfg` is a `Config` (`from_dict`; `as_config` for a plain dict).
    """
    budget = cfg.budget
    if budget.max_steps is not None:
        return int(budget.max_steps)
    examples = budget.examples
    if examples is None:
        examples = budget.epochs * num_train_examples
    return max(1, int(math.ceil(examples / batch_size)))
