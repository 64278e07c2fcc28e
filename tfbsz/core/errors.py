"""Errors that tfbsz raises for bad input and failed trials.

The command line turns every `TfbszError` into one line on stderr and exit
code 2 (see `tfbsz.run`). Messages name the offending key or value and what
was expected, so a user can fix the config without reading a traceback.

Example:

>>> from tfbsz.core.errors import ConfigError
>>> try:
...     raise ConfigError("optimizer.momentum: expected a number in [0, 1), got 1.5")
... except ConfigError as e:
...     print(e)
optimizer.momentum: expected a number in [0, 1), got 1.5
"""

__all__ = ["TfbszError", "ConfigError", "DataUnavailableError", "TrialDiverged"]


class TfbszError(Exception):
    """Base class of tfbsz's own errors: user-facing, one line, exit code 2."""


class ConfigError(TfbszError, ValueError):
    """A config value, command-line flag or file that tfbsz cannot use."""


class DataUnavailableError(TfbszError):
    """A data set that cannot be loaded here (e.g. a TFDS name offline)."""


class TrialDiverged(TfbszError):
    """A trial whose loss became NaN or infinite."""
