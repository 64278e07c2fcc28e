"""A name -> object registry whose errors list the valid names.

Example:

>>> from tfbsz.core.registry import Registry
>>> models = Registry("model")
>>> @models.register("mlp")
... def build_mlp():
...     return "an mlp"
>>> models.get("mlp")()
'an mlp'
>>> models.get("mpl")
Traceback (most recent call last):
...
tfbsz.core.errors.ConfigError: unknown model 'mpl' (did you mean 'mlp'?); valid names: mlp
"""

import difflib
import importlib
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

from tfbsz.core.errors import ConfigError

__all__ = ["Component", "Registry", "check_option_names", "closest"]


class Component(NamedTuple):
    """What every registry holds: the options a component takes and how to build it.

    Attributes:
        defaults: every option a config may set for this component, with its default.
        build: the builder (a callable or a class), or ``"module:attribute"`` imported when first
            needed, so that a catalogue of Keras models can be read without importing Keras.
        tasks: the data-set tasks a model learns (models only).
        fixed: arguments that the registered name itself decides (``nesterov=True``).

    >>> Component({"eval_fraction": 0.2}, "tfbsz.data.digits:build").builder().__name__
    'build'
    """

    defaults: Mapping
    build: Any
    tasks: tuple = ()
    fixed: Mapping = MappingProxyType({})

    def builder(self):
        """The builder itself (imported here when `build` names it)."""
        if isinstance(self.build, str):
            module, _, attribute = self.build.partition(":")
            return getattr(importlib.import_module(module), attribute)
        return self.build


def closest(name, candidates):
    """The candidate closest to `name`, or None when nothing is close."""
    matches = difflib.get_close_matches(str(name), list(candidates), n=1, cutoff=0.5)
    return matches[0] if matches else None


def check_option_names(section, name, given, valid):
    """Raises a `ConfigError` for the first (sorted) key of `given` that is not in `valid`.

    The one message for an unknown option of a named component, e.g.
    ``optimizer.nestrov: unknown option for optimizer 'lars' (did you mean 'nesterov'?);
    valid options: ...``.

    >>> check_option_names("model", "mlp", ["hidden_unit"], ["activation", "hidden_units"])
    Traceback (most recent call last):
    ...
    tfbsz.core.errors.ConfigError: model.hidden_unit: unknown option for model 'mlp' (did you mean 'hidden_units'?); valid options: activation, hidden_units
    """
    unknown = sorted(set(given) - set(valid))
    if not unknown:
        return
    key = unknown[0]
    hint = closest(key, valid)
    hint = f" (did you mean '{hint}'?)" if hint else ""
    listing = ", ".join(sorted(valid)) or "none"
    raise ConfigError(f"{section}.{key}: unknown option for {section} '{name}'{hint}; valid options: {listing}")


class Registry:
    """Maps names to objects (builders, classes) of one kind.

    Args:
        kind: what the registry holds, used in error messages ("model", "data set").
        key: the config key path shown in errors, e.g. "model.name". Defaults to `kind`.
    """

    def __init__(self, kind, key=None):
        self.kind = kind
        self.key = key
        self._entries = {}

    def register(self, name, obj=None):
        """Registers `obj` under `name`; usable as a decorator when `obj` is omitted."""
        if obj is not None:
            self._add(name, obj)
            return obj

        def decorator(fn):
            self._add(name, fn)
            return fn

        return decorator

    def _add(self, name, obj):
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._entries[name] = obj

    def get(self, name):
        """The object registered as `name`; a `ConfigError` naming the valid names otherwise."""
        if name in self._entries:
            return self._entries[name]
        where = f"{self.key}: " if self.key else ""
        hint = closest(name, self._entries)
        hint = f" (did you mean '{hint}'?)" if hint else ""
        valid = ", ".join(sorted(self._entries))
        raise ConfigError(f"{where}unknown {self.kind} '{name}'{hint}; valid names: {valid}")

    def names(self):
        """The registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name):
        return name in self._entries
