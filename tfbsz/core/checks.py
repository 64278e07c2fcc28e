"""Value checks written once: numbers, integers, choices, strings, lists, flags.

Every check takes the value and the key path it came from, returns the value in its plain
Python form (a NumPy integer becomes an `int`, a NumPy float a `float`) and otherwise raises a
one-line `ConfigError` that starts with the key path:

    <key>: expected <what>[ or null], got <value>[ (<type>)][ (did you mean '<name>'?)]

(" or null" when None is allowed; the type when the value has the wrong one.)

The value in a message is shown by `describe`, which stays short whatever the input's size
(a YAML alias bomb or a 400-digit integer prints a few dozen characters, never megabytes).

Example:

>>> from tfbsz.core import checks
>>> checks.number(0.9, "optimizer.momentum", low=0, high=1, high_open=True)
0.9
>>> checks.number(1.5, "optimizer.momentum", low=0, high=1, high_open=True)
Traceback (most recent call last):
...
tfbsz.core.errors.ConfigError: optimizer.momentum: expected a number in [0, 1), got 1.5
>>> checks.integer(0, "batch_sizes[1]")
Traceback (most recent call last):
...
tfbsz.core.errors.ConfigError: batch_sizes[1]: expected an integer >= 1, got 0
>>> checks.choice("sqrtt", "scaling.rule", ("none", "linear", "sqrt"))
Traceback (most recent call last):
...
tfbsz.core.errors.ConfigError: scaling.rule: expected one of none, linear, sqrt, got 'sqrtt' (did you mean 'sqrt'?)
"""

import math
import numbers
import re
import reprlib

from tfbsz.core.errors import ConfigError
from tfbsz.core.registry import closest

__all__ = [
    "describe",
    "number",
    "integer",
    "choice",
    "string",
    "string_list",
    "regex_list",
    "list_of",
    "boolean",
    "shorten",
    "closest_hint",
    "is_number",
    "is_integer",
    "range_text",
    "MAX_INTEGER",
]

# Integers must fit a signed 64-bit integer: they become array sizes, seeds and step counts.
MAX_INTEGER = 2**63 - 1

_short = reprlib.Repr()
_short.maxlevel = 3
_short.maxlist = _short.maxtuple = _short.maxset = _short.maxdict = 4
_short.maxstring = 60
_short.maxlong = 24
_short.maxother = 60
_MAX_DESCRIPTION = 120
_OR_NULL = {False: "", True: " or null"}


def _shown(value):
    """`repr(value)`, cut to a few dozen characters without walking the whole value."""
    text = _short.repr(value)
    if len(text) > _MAX_DESCRIPTION:
        text = text[: _MAX_DESCRIPTION - 3] + "..."
    return text


def describe(value):
    """A short text for `value` in an error message: strings quoted, other types named.

    >>> describe("fp8"), describe(None), describe(2.5), describe(10**400)
    ("'fp8'", 'nothing (null)', '2.5 (float)', '1000000000...00000000000 (int)')
    >>> bomb = [[[[["lol"] * 9] * 9] * 9] * 9] * 9
    >>> len(describe(bomb)) < 130
    True
    """
    if isinstance(value, str):
        return _shown(value)
    if value is None:
        return "nothing (null)"
    return f"{_shown(value)} ({type(value).__name__})"


def is_number(value):
    """Whether `value` is a real number (NumPy's included), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, _numpy_bool()))


def is_integer(value):
    """Whether `value` is an integer (NumPy's included), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, _numpy_bool()))


def _numpy_bool():
    import sys

    numpy = sys.modules.get("numpy")  # never imports NumPy: a NumPy bool exists only if NumPy does
    return numpy.bool_ if numpy is not None else bool


def _bound(x):
    """A range bound as written in messages: `0`, `1`, `0.5`, `1e-08` (never `0.0`, `1.0`)."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x) if isinstance(x, float) else str(x)


def range_text(low=None, high=None, low_open=False, high_open=False):
    """The range part of a message: `" > 0"`, `" in [0, 1)"`, `" <= 10"` or `""`.

    >>> range_text(0, 1, high_open=True), range_text(0.0, low_open=True), range_text()
    (' in [0, 1)', ' > 0', '')
    """
    if low is None and high is None:
        return ""
    if high is None:
        return f" {'>' if low_open else '>='} {_bound(low)}"
    if low is None:
        return f" {'<' if high_open else '<='} {_bound(high)}"
    return f" in {'(' if low_open else '['}{_bound(low)}, {_bound(high)}{')' if high_open else ']'}"


def number(value, key, low=None, high=None, low_open=False, high_open=False, allow_none=False):
    """A finite real number within the range, as a `float` (or None when allowed and given).

    Integers too large for a float are rejected like infinities.
    """
    if value is None and allow_none:
        return None
    expected = f"expected a number{range_text(low, high, low_open, high_open)}{_OR_NULL[allow_none]}"
    if not is_number(value):
        raise ConfigError(f"{key}: {expected}, got {describe(value)}")
    try:
        as_float = float(value)
    except OverflowError:
        raise ConfigError(f"{key}: {expected}, got {describe(value)}: too large for a float") from None
    if not math.isfinite(as_float):
        raise ConfigError(f"{key}: {expected}, got {describe(value)}")
    if (
        (low is not None and (as_float < low or (low_open and as_float == low)))
        or (high is not None and (as_float > high or (high_open and as_float == high)))
    ):
        raise ConfigError(f"{key}: {expected}, got {_shown(value)}")
    return as_float


def integer(value, key, minimum=1, maximum=None, allow_none=False):
    """An integer >= `minimum` (and <= `maximum`, at most `MAX_INTEGER`), as an `int`."""
    if value is None and allow_none:
        return None
    if maximum is None:
        expected = f"an integer >= {minimum}"
    else:
        expected = f"an integer in [{minimum}, {maximum}]"
    expected += _OR_NULL[allow_none]
    if not is_integer(value):
        raise ConfigError(f"{key}: expected {expected}, got {describe(value)}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigError(f"{key}: expected {expected}, got {_shown(value)}")
    if value > MAX_INTEGER:
        raise ConfigError(f"{key}: expected an integer below 2**63, got {_shown(value)}")
    return value


def choice(value, key, choices, allow_none=False):
    """One of `choices`; the message lists them and names the closest one to a misspelling."""
    if value is None and allow_none:
        return None
    try:
        if value in choices:
            return value
    except (TypeError, ValueError):  # e.g. an array, whose comparison has no single truth value
        pass
    hint = closest_hint(value, choices) if isinstance(value, str) else ""
    listing = ", ".join(map(str, choices)) + _OR_NULL[allow_none]
    raise ConfigError(f"{key}: expected one of {listing}, got {describe(value)}{hint}")


def closest_hint(name, candidates, prefix=""):
    """`" (did you mean '<prefix><closest>'?)"`, or `""` when no candidate is close to `name`.

    >>> closest_hint("trails", ["trials", "algorithm"], prefix="search.")
    " (did you mean 'search.trials'?)"
    """
    if not isinstance(name, str) or len(name) > 200:
        return ""
    match = closest(name, candidates)
    return f" (did you mean '{prefix}{match}'?)" if match else ""


def string(value, key, allow_none=False):
    """A non-empty string."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: expected a non-empty string{_OR_NULL[allow_none]}, got {describe(value)}")
    return value


def string_list(value, key, allow_none=False):
    """A list of strings (a new list; a tuple is accepted).

    >>> string_list(("bias", 3), "optimizer.exclude_from_weight_decay")
    Traceback (most recent call last):
    ...
    tfbsz.core.errors.ConfigError: optimizer.exclude_from_weight_decay[1]: expected a string, got 3 (int)
    """
    return list_of(value, key, _any_string, "a list of strings", allow_none=allow_none)


def _any_string(value, key):
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {describe(value)}")
    return value


def regex_list(value, key, allow_none=False):
    """A list of regular expressions (as strings), each of which compiles.

    >>> regex_list(["dense", "("], "init.freeze")
    Traceback (most recent call last):
    ...
    tfbsz.core.errors.ConfigError: init.freeze[1]: '(' is not a regular expression: missing ), unterminated subpattern at position 0
    """
    return list_of(value, key, _regex, "a list of regular expressions", allow_none=allow_none)


def _regex(value, key):
    _any_string(value, key)
    try:
        re.compile(value)
    except (re.error, RecursionError, OverflowError) as error:
        raise ConfigError(f"{key}: {describe(value)} is not a regular expression: {shorten(str(error))}") from None
    return value


def list_of(value, key, item, what, allow_none=False, nonempty=False):
    """A new list of `item(element, f"{key}[i]")` results for a list (or tuple, or 1-D array).

    Args:
        value: the value to check.
        key: the key path.
        item: a check `(element, key) -> element`, e.g. `integer` or `string`.
        what: the expected value in words, e.g. `"a list of integers >= 1"`.
        allow_none: whether None is accepted (and returned).
        nonempty: whether an empty list is refused.

    >>> list_of((16, 32), "batch_sizes", integer, "a list of integers >= 1")
    [16, 32]
    >>> list_of([16, "32"], "batch_sizes", integer, "a list of integers >= 1")
    Traceback (most recent call last):
    ...
    tfbsz.core.errors.ConfigError: batch_sizes[1]: expected an integer >= 1, got '32'
    """
    if value is None and allow_none:
        return None
    if _is_vector(value):
        value = list(value)
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key}: expected {what}{_OR_NULL[allow_none]}, got {describe(value)}")
    if nonempty and not value:
        raise ConfigError(f"{key}: the list is empty; expected {what}")
    return [item(element, f"{key}[{i}]") for i, element in enumerate(value)]


def _is_vector(value):
    """Whether `value` is a 1-D NumPy array (never imports NumPy)."""
    return type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 1


def shorten(text, limit=_MAX_DESCRIPTION):
    """`text` (a key or message taken from input) cut to `limit` characters."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def boolean(value, key, allow_none=False):
    """`True` or `False` (a NumPy bool becomes a Python bool)."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, _numpy_bool())):
        return bool(value)
    raise ConfigError(f"{key}: expected true or false{_OR_NULL[allow_none]}, got {describe(value)}")
