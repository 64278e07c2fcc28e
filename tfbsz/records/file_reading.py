"""Reading a study's files safely: regular files inside the study, of bounded size, well formed.

Every file of a study that tfbsz reads back (`tfbsz_study.json`, `summary.json`, `study.json`,
`metadata.json`, `measurements.csv`) goes through `read_text` here, so the report, the analysis
and the TensorBoard plugin (which reads files other people may have put in a shared logdir) all
refuse the same things:

* a path that leaves the folder it must stay in (`within`), e.g. a `measurements.csv` that is a
  symbolic link to a file elsewhere;
* anything but a regular file (a FIFO would block the reader for ever, a device has no end);
* a file larger than its cap (`MAX_JSON_BYTES`, `MAX_CSV_BYTES`);
* text that is not UTF-8, and JSON nested too deeply or holding integers beyond float range
  (those are read as infinities: `float()` of them would raise `OverflowError` later).

Each refusal is a `StudyFileError` (a `ValueError`) whose message names the file.

>>> import tempfile, os
>>> folder = tempfile.mkdtemp()
>>> with open(os.path.join(folder, "a.json"), "w") as f:
...     _ = f.write('{"steps": 1' + "0" * 400 + "}")
>>> read_json(os.path.join(folder, "a.json"), within=folder)
{'steps': inf}
>>> os.symlink("/etc/hostname", os.path.join(folder, "b.json"))
>>> read_json(os.path.join(folder, "b.json"), within=folder)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
tfbsz.records.file_reading.StudyFileError: .../b.json: leads outside ... (a symbolic link?); only files inside it are read
"""

import json
import os
import stat

__all__ = ["MAX_CSV_BYTES", "MAX_JSON_BYTES", "StudyFileError", "read_json", "read_text"]

# A measurements.csv of a long run (an evaluation every 100 steps for 1M steps, ten columns) is
# about 1.2 MB; Shallue et al.'s largest are smaller. 16 MiB leaves room and bounds the cost.
MAX_CSV_BYTES = 16 * 2**20
# metadata.json, study.json, summary.json and tfbsz_study.json hold a few KB.
MAX_JSON_BYTES = 4 * 2**20
# Float range ends at 1.8e308: JSON integers beyond it (more digits than this, checked exactly
# up to two more) are read as infinities.
_MAX_INT_DIGITS = 308


class StudyFileError(ValueError):
    """A study file that cannot be read safely: outside its folder, not a regular file, too
    large, not UTF-8 or malformed. The message starts with the file's path."""


def read_text(path, within, max_bytes):
    """The UTF-8 text of the regular file `path`, which must resolve inside the folder `within`.

    Args:
        path: the file.
        within: a folder (str or path) that `path`, with every symbolic link resolved, must be
            inside; None to skip that check.
        max_bytes: the largest size accepted.

    Raises:
        FileNotFoundError: `path` does not exist.
        StudyFileError: any other reason the file is refused (see the module docstring).
    """
    path = os.fspath(path)
    real = os.path.realpath(path)
    if within is not None:
        base = os.path.realpath(os.fspath(within))
        if real != base and not real.startswith(base.rstrip(os.sep) + os.sep):
            raise StudyFileError(f"{path}: leads outside {base} (a symbolic link?); only files inside it are read")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(real, flags)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise StudyFileError(f"{path}: cannot be opened ({e.strerror or e})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise StudyFileError(f"{path}: not a regular file")
        if info.st_size > max_bytes:
            raise StudyFileError(f"{path}: {info.st_size} bytes, more than the {max_bytes} this reader accepts")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while being read
        raise StudyFileError(f"{path}: more than the {max_bytes} bytes this reader accepts")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise StudyFileError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def _int_or_inf(text):
    """A JSON integer as `int`, or as an infinity when it is beyond float range."""
    if len(text) <= _MAX_INT_DIGITS:
        return int(text)
    if len(text.lstrip("-")) <= _MAX_INT_DIGITS + 2:
        value = int(text)
        try:
            float(value)
            return value
        except OverflowError:
            pass
    return float("-inf") if text.startswith("-") else float("inf")


def read_json(path, within, max_bytes=MAX_JSON_BYTES):
    """The parsed JSON of `path` (read with `read_text`); `NaN`/`Infinity` are accepted.

    Raises:
        FileNotFoundError: `path` does not exist.
        StudyFileError: the file is refused by `read_text`, is not JSON or is nested too deeply.
    """
    text = read_text(path, within, max_bytes)
    try:
        return json.loads(text, parse_int=_int_or_inf)
    except RecursionError:
        raise StudyFileError(f"{os.fspath(path)}: JSON nested too deeply") from None
    except ValueError as e:
        raise StudyFileError(f"{os.fspath(path)}: not valid JSON ({e})") from None
