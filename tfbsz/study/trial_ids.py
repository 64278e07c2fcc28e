"""Trial ids, checked before they name a folder.

A trial id comes from the oracle, which in distributed tuning is another process (the chief)
reached over the network. A worker joins the id onto its batch size's folder, deletes a stale
folder of that name and writes `<id>.failure.json` beside it, so an id such as `/srv/data` or
`../..` would make it delete or write anywhere. Only plain names are accepted: 1 to 64 letters,
digits, `_` or `-` (KerasTuner's ids are zero-padded numbers), and the folder they name, with
symbolic links resolved, must lie directly inside the batch size's folder. (The layout then
names the folder by the id's number, `results.trial_dir`, which takes decimal ids only.)

Example:

>>> import tempfile
>>> from tfbsz.study.trial_ids import trial_dir
>>> root = tempfile.mkdtemp()
>>> trial_dir(root, "07").name   # the layout names trial folders by number
'7'
>>> trial_dir(root, "/srv/data")
Traceback (most recent call last):
...
tfbsz.core.errors.TfbszError: trial id '/srv/data': expected 1-64 letters, digits, '_' or '-'; refusing to use it as a folder name
"""

import pathlib
import re

from tfbsz.core.errors import TfbszError
from tfbsz.records import results

__all__ = ["TRIAL_ID_PATTERN", "check_trial_id", "trial_dir"]

TRIAL_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")

_SHOWN = 80  # characters of a rejected id quoted in the error


def _shown(value):
    text = repr(str(value))
    return text if len(text) <= _SHOWN else text[: _SHOWN - 4] + "...'"


def check_trial_id(trial_id):
    """Returns `trial_id` as a string if it is a plain name; raises `TfbszError` otherwise."""
    text = str(trial_id)
    if not TRIAL_ID_PATTERN.fullmatch(text):
        raise TfbszError(
            f"trial id {_shown(trial_id)}: expected 1-64 letters, digits, '_' or '-'; "
            "refusing to use it as a folder name"
        )
    return text


def trial_dir(trial_root, trial_id):
    """The folder of trial `trial_id` inside `trial_root` (the batch size's folder), checked.

    Raises `TfbszError` when the id is not a plain name or when the folder, with symbolic links
    resolved, is not directly inside `trial_root` (a link planted under the trial's name).
    """
    name = check_trial_id(trial_id)
    root = pathlib.Path(trial_root)
    try:
        path = results.trial_dir(root, name)  # the layout's name for it ("007" -> "7")
    except ValueError as e:
        raise TfbszError(str(e)) from None
    resolved_root = root.resolve()
    resolved = path.resolve()
    if resolved.parent != resolved_root:
        raise TfbszError(
            f"trial id {_shown(name)}: {path} resolves to {resolved}, outside {resolved_root}; "
            "refusing to use it"
        )
    return path
