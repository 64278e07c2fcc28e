"""A study's files on disk: Shallue et al.'s released layout, tfbsz's own files beside it, and
the one reader of both.

This module imports neither Keras nor TensorFlow, so the analysis, the report and the
TensorBoard plugin read every study through it (including data released by Shallue et al.).

Layout (docs/architecture.md, "Results on disk")::

    <root>/tfbsz_study.json                                      marks a tfbsz study root
    <root>/summary.json, summary.csv                             one row per batch size
    <root>/<dataset>/<model>/<optimizer>/<batch_size>/study.json
    <root>/<dataset>/<model>/<optimizer>/<batch_size>/<n>/metadata.json      n = 0, 1, 2, ...
    <root>/<dataset>/<model>/<optimizer>/<batch_size>/<n>/measurements.csv
    <root>/tfbsz/<dataset>/<model>/<optimizer>/<batch_size>/keras_tuner/     KerasTuner's project
    <root>/tfbsz/<dataset>/<model>/<optimizer>/<batch_size>/<n>.failure.json why trial n failed

A batch size's folder holds only `study.json` and integer-named trial folders, as in Shallue et
al.'s data, so their loader (which sorts those folders with `key=int` and reads `trial_id` and
`status` from every `metadata.json`) reads a tfbsz study. Every path is decided by a function
here (`batch_size_dir`, `trial_dir`, `tuner_dir`, `failure_path`, ...); other code calls them.

Example:

>>> import tempfile
>>> from tfbsz.records import results
>>> root = tempfile.mkdtemp()
>>> d = results.batch_size_dir(root, "digits", "mlp", "sgd", 32)
>>> results.write_json(d / "study.json", {"batch_size": 32, "dataset": "digits",
...     "model": "mlp", "optimizer": "sgd"})
>>> results.trial_dir(d, "00").name        # KerasTuner's trial "00" is trial 0
'0'
>>> results.write_trial(results.trial_dir(d, "00"), {"learning_rate": 0.1}, "COMPLETE", 40,
...     [{"step": 20, "val/classification_error": 0.2},
...      {"step": 40, "val/classification_error": 0.05}], {"outcome": "reached"})
>>> study = results.load_study(root)
>>> [t.trial_id for t in study.batch_sizes[32].trials]
[0]
>>> study.batch_sizes[32].trials[0].column("val/classification_error")
[0.2, 0.05]
>>> results.tuner_dir(d).relative_to(root).as_posix()
'tfbsz/digits/mlp/sgd/32/keras_tuner'
"""

import csv
import io
import json
import math
import os
import pathlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from tfbsz.core.errors import ConfigError
from tfbsz.core.targets import Target
from tfbsz.records.file_reading import MAX_CSV_BYTES, StudyFileError, read_json as _read_json_safely, read_text

__all__ = [
    "MEASUREMENT_COLUMNS",
    "STATUS_COMPLETE",
    "STATUS_INCOMPLETE",
    "STATUS_INFEASIBLE",
    "STUDY_MARKER",
    "TFBSZ_FILES_DIR",
    "StudyFileError",
    "Trial",
    "BatchSizeStudy",
    "Study",
    "atomic_write",
    "batch_size_dir",
    "failure_path",
    "failure_paths",
    "find_study_roots",
    "json_safe",
    "load_batch_size",
    "load_study",
    "load_trial",
    "read_json",
    "read_measurements",
    "study_file_stamps",
    "tfbsz_files_dir",
    "trial_dir",
    "trial_number",
    "trial_order_key",
    "tuner_dir",
    "write_batch_size_study",
    "write_json",
    "write_measurements",
    "write_study_marker",
    "write_trial",
    "write_trial_failure",
]

STUDY_MARKER = "tfbsz_study.json"
# `<root>/tfbsz/`: tfbsz's own files per batch size, mirroring the data's folders.
TFBSZ_FILES_DIR = "tfbsz"
TUNER_PROJECT = "keras_tuner"
STATUS_COMPLETE = "COMPLETE"
STATUS_INCOMPLETE = "INCOMPLETE"
STATUS_INFEASIBLE = "INFEASIBLE"
# Folders a study reader never descends into: KerasTuner projects, TensorBoard event files.
_NOT_STUDY_FOLDERS = frozenset({TUNER_PROJECT, "tensorboard"})

MEASUREMENT_COLUMNS = (
    "step",
    "examples_seen",
    "wall_time_s",
    "learning_rate",
    "train/cross_entropy_error",
    "val/cross_entropy_error",
    "val/classification_error",
    "val/accuracy",
)


# --------------------------------------------------------------------------- paths


def _folder_name(name):
    return str(name).replace(":", "_").replace("/", "_")


def batch_size_dir(root, dataset, model, optimizer, batch_size):
    """`<root>/<dataset>/<model>/<optimizer>/<batch_size>` as a `pathlib.Path`."""
    return (pathlib.Path(root) / _folder_name(dataset) / _folder_name(model) / _folder_name(optimizer)
            / str(int(batch_size)))


def trial_number(trial_id):
    """The integer a trial is known by on disk: KerasTuner's `"00"`, `"07"`, `"12"` -> 0, 7, 12.

    KerasTuner numbers trials in order, zero-padded to the width of `max_trials`; dropping the
    padding keeps every id distinct. Anything but decimal digits (or a non-negative int) is a
    ValueError, so no trial id can name a path.

    >>> trial_number("007"), trial_number(3)
    (7, 3)
    """
    if isinstance(trial_id, int) and not isinstance(trial_id, bool) and trial_id >= 0:
        return trial_id
    text = str(trial_id)
    if not (1 <= len(text) <= 18 and text.isascii() and text.isdigit()):
        raise ValueError(f"trial id {text[:80]!r}: expected decimal digits (KerasTuner's '00', '01', ...)")
    return int(text)


def trial_dir(batch_size_folder, trial_id):
    """`<batch_size_folder>/<n>`: the folder of trial `trial_id` (see `trial_number`)."""
    return pathlib.Path(batch_size_folder) / str(trial_number(trial_id))


def tfbsz_files_dir(batch_size_folder):
    """`<root>/tfbsz/<dataset>/<model>/<optimizer>/<batch_size>`: tfbsz's own files of a batch size.

    `batch_size_folder` is a `batch_size_dir(root, ...)`; its study root is four levels up.
    """
    folder = pathlib.Path(batch_size_folder)
    return folder.parents[3] / TFBSZ_FILES_DIR / pathlib.Path(*folder.parts[-4:])


def tuner_dir(batch_size_folder):
    """The KerasTuner project of a batch size (`directory=tuner_dir(d).parent`, `project_name=tuner_dir(d).name`)."""
    return tfbsz_files_dir(batch_size_folder) / TUNER_PROJECT


def failure_path(batch_size_folder, trial_id):
    """Where the reason trial `trial_id` failed (or was re-queued) is written."""
    return tfbsz_files_dir(batch_size_folder) / f"{trial_number(trial_id)}.failure.json"


def failure_paths(batch_size_folder):
    """The failure records of a batch size, sorted by trial number (those of studies written
    before 0.2, which sit in the batch size's folder itself, included)."""
    found = []
    for folder in (tfbsz_files_dir(batch_size_folder), pathlib.Path(batch_size_folder)):
        if folder.is_dir():
            found.extend(folder.glob("*.failure.json"))

    def key(path):
        stem = path.name[: -len(".failure.json")]
        return (0, int(stem), "") if stem.isdigit() else (1, 0, stem)

    return sorted(found, key=key)


# --------------------------------------------------------------------------- writing


def json_safe(value):
    """`value` as it reads back from JSON: NaN and infinities become None (browsers reject
    `Infinity`), tuples lists, NumPy scalars numbers, keys strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return json_safe(value.item())
        except (TypeError, ValueError):
            pass
    return value


def atomic_write(path, write, mode="w", newline=None):
    """Writes a file atomically and durably: `write(f)` fills a new file that replaces `path`.

    The new file gets a unique name in the same folder (so concurrent writers never share one)
    and is created with mode 0666 minus the process umask (as `open` would make it); it is
    flushed and fsync'd before the rename, and the folder is fsync'd after it, so after a crash
    `path` holds either the old or the new content, never a mix. Returns `path`.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = atomic_write(target, lambda f: f.write("hello"))
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('hello', ['a.txt'])
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, mode, newline=newline) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def _fsync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform without folder handles (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json(path, data):
    """Writes `data` as JSON atomically and durably (see `atomic_write`)."""

    def dump(f):
        json.dump(json_safe(data), f, indent=2, sort_keys=False)
        f.write("\n")

    atomic_write(path, dump)


def write_measurements(path, rows):
    """Writes measurement rows (dicts) as CSV, known columns first, atomically."""
    path = pathlib.Path(path)
    columns = [c for c in MEASUREMENT_COLUMNS if any(c in r for r in rows)]
    extra = sorted({k for r in rows for k in r} - set(columns))
    columns += extra

    def dump(f):
        writer = csv.DictWriter(f, fieldnames=columns or ["step"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _format(row.get(k)) for k in columns})

    atomic_write(path, dump, newline="")


def _format(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


def write_trial(trial_folder, parameters, status, steps, measurements, extra=None):
    """Writes one trial: `measurements.csv` first, then `metadata.json` (its presence marks it done).

    `trial_folder` is a `trial_dir(...)`; its name is the trial's integer id, written as
    `trial_id`. `metadata.json` holds Shallue et al.'s fields (`trial_id`, `status`, `steps`,
    `parameters`) and tfbsz's own under `"tfbsz"`.
    """
    trial_folder = pathlib.Path(trial_folder)
    number = trial_number(trial_folder.name)
    trial_folder.mkdir(parents=True, exist_ok=True)
    write_measurements(trial_folder / "measurements.csv", measurements)
    metadata = {"trial_id": number, "status": status, "steps": int(steps), "parameters": dict(parameters)}
    if extra:
        metadata["tfbsz"] = dict(extra)
    write_json(trial_folder / "metadata.json", metadata)


def write_study_marker(root, meta):
    """Writes `<root>/tfbsz_study.json` from `meta`, keeping the `created` time of an earlier marker."""
    import datetime

    marker = pathlib.Path(root) / STUDY_MARKER
    created = read_json(marker).get("created") if marker.exists() else None
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    meta = dict(meta)
    config = meta.pop("config", None)
    meta["created"] = created or now
    write_json(marker, {**meta, "config": config} if config is not None else meta)


def write_batch_size_study(directory, batch_size, dataset, model, optimizer, parameter_configs, train_steps, extra):
    """Writes a batch size's `study.json` (Shallue et al.'s fields, then tfbsz's own under "tfbsz")."""
    write_json(pathlib.Path(directory) / "study.json", {
        "batch_size": batch_size,
        "dataset": dataset,
        "model": model,
        "optimizer": optimizer,
        "early_stopping": True,
        "parameter_configs": parameter_configs,
        "train_steps": train_steps,
        "tfbsz": extra,
    })


def write_trial_failure(batch_size_folder, trial_id, record):
    """Writes why trial `trial_id` failed (or was re-queued) to its `failure_path`."""
    write_json(failure_path(batch_size_folder, trial_id), {"trial_id": trial_id, **record})


# --------------------------------------------------------------------------- reading


def read_json(path, within=None):
    """Reads a JSON file (a regular file of at most `file_reading.MAX_JSON_BYTES`).

    Raises FileNotFoundError, or `StudyFileError` (a ValueError) naming the file.
    """
    return _read_json_safely(path, within)


def _parse(text):
    """A CSV cell: None when blank, an int for plain integers, else a float, else the text."""
    if not text:
        return None
    if len(text) < 19 and text.isascii() and (text.isdigit() or (text[0] == "-" and text[1:].isdigit())):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def read_measurements(path, within=None):
    """Reads a measurements.csv into a list of dicts (numbers parsed, blanks as None).

    Cells beyond the header's columns are dropped, and a short row lacks the missing columns;
    blank lines are skipped. Raises `StudyFileError` naming the file when
    it is refused (see `tfbsz.records.file_reading`) or is not CSV.
    """
    text = read_text(path, within, MAX_CSV_BYTES)
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, [])
        return [dict(zip(header, map(_parse, cells))) for cells in reader if cells]
    except csv.Error as e:
        raise StudyFileError(f"{path}: not a readable CSV file ({e})") from None


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def trial_order_key(trial_id):
    """Sort key of a trial id, as Shallue et al. order trials: numbers and numeric text by value
    ("9" before "10", "02" as 2), then any other id by text.

    >>> sorted(["10", 9, "a", "02"], key=trial_order_key)
    ['02', 9, '10', 'a']
    """
    text = str(trial_id)
    if _is_number(trial_id):
        value = trial_id
    else:
        try:
            value = float(text)
        except ValueError:
            return (1, 0, text)
    try:
        finite = math.isfinite(value)
    except OverflowError:
        finite = True
    return (0, value, text) if finite else (1, 0, text)


def _rows_from_columns(columns):
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"measurements: columns of different lengths {sorted(lengths)}")
    count = lengths.pop() if lengths else 0
    rows = [{} for _ in range(count)]
    for name, values in columns.items():
        for row, value in zip(rows, values):
            if hasattr(value, "item"):
                value = value.item()
            if isinstance(value, float) and math.isnan(value):
                value = None
            row[name] = value
    return rows


def _step_order(row):
    step = row.get("step")
    return (0, step) if _is_number(step) and not math.isnan(step) else (1, 0)


@dataclass
class Trial:
    """One training run of a batch size: its metaparameters, status and measurements.

    Args:
        trial_id: an int (Shallue et al.'s and tfbsz's trials), or the folder name of a trial
            folder that is not a number.
        parameters: the metaparameters, `{name: value}`.
        status: `COMPLETE`, `INCOMPLETE` or `INFEASIBLE` (diverged).
        measurements: rows (dicts, one per evaluation, with a `step`), or columns
            (`{name: equal-length sequence}`, NaN read as missing). Stored as rows in step order.
        steps: training steps taken (`metadata.json`'s `steps`).
        extra: tfbsz's own metadata (the `"tfbsz"` key of `metadata.json`).
        path: the trial's folder, when read from disk.

    >>> t = Trial(3, {"learning_rate": 0.1}, "COMPLETE", {"step": [20, 10], "loss": [0.5, 0.9]})
    >>> t.column("loss"), t.column_names
    ([0.9, 0.5], ['step', 'loss'])
    """

    trial_id: object
    parameters: dict
    status: str
    measurements: list
    steps: int = 0
    extra: dict = field(default_factory=dict)
    path: pathlib.Path = None

    def __post_init__(self):
        if isinstance(self.measurements, dict):
            self.measurements = _rows_from_columns(self.measurements)
        self.measurements = sorted(self.measurements, key=_step_order)

    @property
    def outcome(self):
        """`reached`, `missed`, `diverged` or `beaten` (tfbsz trials), `incomplete`, else None
        (work it out from the measurements)."""
        if self.extra.get("outcome") in ("reached", "missed", "diverged", "beaten"):
            return self.extra["outcome"]
        if self.status == STATUS_INFEASIBLE:
            return "diverged"
        if self.status == STATUS_INCOMPLETE:
            return "incomplete"
        return None

    @property
    def counts_toward_result(self):
        """Whether this trial's measurements count for steps to result: COMPLETE trials only,
        as in Shallue et al.'s loader (INCOMPLETE ones stopped early, INFEASIBLE ones diverged)."""
        return self.status == STATUS_COMPLETE

    @property
    def column_names(self):
        """Every measurement column, in order of first appearance."""
        names = {}
        for row in self.measurements:
            names.update(dict.fromkeys(row))
        return list(names)

    @property
    def columns(self):
        """A read-only mapping `{name: values in step order}` over every column (None where a row
        lacks it); each column is built when it is looked up."""
        return _Columns(self)

    def column(self, name):
        """The values of one measurement column, in step order (None where missing)."""
        return [row.get(name) for row in self.measurements]


class _Columns(Mapping):
    """`Trial.columns`: the measurement columns of a trial, built on lookup."""

    def __init__(self, trial):
        self._trial = trial

    def __getitem__(self, name):
        if name not in self._trial.column_names:
            raise KeyError(name)
        return self._trial.column(name)

    def __iter__(self):
        return iter(self._trial.column_names)

    def __len__(self):
        return len(self._trial.column_names)


@dataclass
class BatchSizeStudy:
    """All trials of one batch size (a "study" in Shallue et al.'s terms), sorted by trial id."""

    batch_size: int
    trials: list
    config: dict = field(default_factory=dict)  # the batch size's study.json
    path: pathlib.Path = None


@dataclass
class Study:
    """A whole batch-size study: one workload (data set, model, optimizer) over batch sizes."""

    root: pathlib.Path
    meta: dict
    summary: dict
    batch_sizes: dict  # batch_size -> BatchSizeStudy

    @property
    def name(self):
        return self.meta.get("name") or self.root.name

    @property
    def target(self):
        """The target `{"metric", "threshold", "direction"}` if the study declares one."""
        return self.meta.get("target")

    @property
    def is_tfbsz(self):
        """Whether the root holds `tfbsz_study.json` (else it is a bare Shallue-layout tree)."""
        return self.root is not None and os.path.lexists(pathlib.Path(self.root) / STUDY_MARKER)

    def workloads(self):
        """Distinct (dataset, model, optimizer) triples present in the tree."""
        return sorted({tuple(b.path.parts[-4:-1]) for b in self.batch_sizes.values()})

    def declared_target(self, batch_sizes=None):
        """The `tfbsz.core.targets.Target` the study declares, or None: `tfbsz_study.json`'s
        target, else the first one in a batch size's `study.json` (`"tfbsz": {"target"}`) among
        `batch_sizes` (`BatchSizeStudy` objects; default: all). Incomplete targets are skipped."""
        candidates = [self.meta.get("target")]
        for bs_study in self.batch_sizes.values() if batch_sizes is None else batch_sizes:
            own = bs_study.config.get("tfbsz")
            candidates.append(own.get("target") if isinstance(own, dict) else None)
        for candidate in candidates:
            if isinstance(candidate, dict):
                try:
                    return Target.from_dict(candidate)
                except ConfigError:
                    continue
        return None


def _mapping(value, what, path):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StudyFileError(f"{path}: {what} must be a JSON object, got {type(value).__name__}")
    return value


def _count(value, what, path):
    """A non-negative int from a JSON value (int, or a float with no fraction)."""
    if value is None:
        return 0
    if _is_number(value) and math.isfinite(value) and value >= 0 and float(value).is_integer():
        return int(value)
    raise StudyFileError(f"{path}: {what} must be a non-negative integer, got {str(value)[:40]}")


def _trial_id(metadata, folder):
    value = metadata.get("trial_id")
    if _is_number(value) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    try:
        return trial_number(folder.name)
    except ValueError:
        return folder.name


def _load_trial(folder, within):
    meta_path = folder / "metadata.json"
    metadata = _mapping(read_json(meta_path, within), "metadata.json", meta_path)
    status = metadata.get("status", STATUS_COMPLETE)
    if not isinstance(status, str):
        raise StudyFileError(f"{meta_path}: status must be a string, got {type(status).__name__}")
    csv_path = folder / "measurements.csv"
    measurements = read_measurements(csv_path, within) if os.path.lexists(csv_path) else []
    return Trial(
        trial_id=_trial_id(metadata, folder),
        parameters=_mapping(metadata.get("parameters"), "parameters", meta_path),
        status=status,
        measurements=measurements,
        steps=_count(metadata.get("steps"), "steps", meta_path),
        extra=_mapping(metadata.get("tfbsz"), "the 'tfbsz' entry", meta_path),
        path=folder,
    )


def load_trial(folder):
    """The `Trial` in one trial folder (its `metadata.json` and `measurements.csv`)."""
    folder = pathlib.Path(folder)
    return _load_trial(folder, folder)


def _trial_folders(batch_size_folder):
    """The trial folders of a batch size: every sub-folder with a `metadata.json`, by name."""
    with os.scandir(batch_size_folder) as entries:
        names = sorted(entry.name for entry in entries if entry.is_dir() and entry.name not in _NOT_STUDY_FOLDERS)
    return [batch_size_folder / name for name in names if os.path.lexists(batch_size_folder / name / "metadata.json")]


def _load_batch_size(study_json, within):
    folder = study_json.parent
    config = _mapping(read_json(study_json, within), "study.json", study_json)
    trials = [_load_trial(child, within) for child in _trial_folders(folder)]
    trials.sort(key=lambda t: trial_order_key(t.trial_id))
    declared = config.get("batch_size", folder.name)
    try:
        batch_size = trial_number(declared)
    except ValueError:
        raise StudyFileError(f"{study_json}: batch_size must be a non-negative integer, got {str(declared)[:40]}") from None
    return BatchSizeStudy(batch_size=batch_size, trials=trials, config=config, path=folder)


def load_batch_size(directory, within=None):
    """The `BatchSizeStudy` in one `<batch_size>` folder, or None when it has no `study.json`.

    Files are read only inside `within` (default: `directory`).
    """
    study_json = pathlib.Path(directory) / "study.json"
    if not os.path.lexists(study_json):
        return None
    return _load_batch_size(study_json, directory if within is None else within)


def _walk(top):
    """Yields `(folder, file names)` below `top`, never following folder links, never entering
    hidden folders, KerasTuner projects or TensorBoard logs, nor the trial folders of a batch
    size (a folder with `study.json`) or a study root's own-files folder."""
    for folder, dirs, files in os.walk(top, followlinks=False):
        yield pathlib.Path(folder), files
        if "study.json" in files:
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _NOT_STUDY_FOLDERS)


def _study_json_files(root, tfbsz_root):
    """The `study.json` of every batch size of a study root. In a tfbsz root only the layout's
    own places count (`<dataset>/<model>/<optimizer>/<batch_size>/study.json`, never anything
    in `<root>/tfbsz/` or in another study below the root); a bare tree's may sit at any depth
    (their data nests some workloads one folder deeper)."""
    found = []
    for folder, files in _walk(root):
        if "study.json" not in files or folder == root:
            continue
        if tfbsz_root and len(folder.relative_to(root).parts) != 4:
            continue
        found.append(folder / "study.json")
    return sorted(found)


def load_study(root):
    """Loads a study tree: a tfbsz root (with `tfbsz_study.json`) or a bare Shallue layout.

    In a bare tree every `study.json` below `root` is one batch size; if several workloads
    share a batch size, the first one found (sorted by path) wins, so point `root` at one
    `<dataset>/<model>/<optimizer>` folder when a tree holds several. Every file read must be a
    regular file inside `root` (see `tfbsz.records.file_reading`).

    Raises:
        FileNotFoundError: `root` is not a folder.
        StudyFileError: a file is refused or malformed (the message names it).
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no study folder at {root}")
    within = os.path.realpath(root)
    marker = root / STUDY_MARKER
    is_tfbsz = os.path.lexists(marker)
    meta = _mapping(read_json(marker, within), STUDY_MARKER, marker) if is_tfbsz else {}
    summary_path = root / "summary.json"
    summary = (_mapping(read_json(summary_path, within), "summary.json", summary_path)
               if os.path.lexists(summary_path) else {})
    batch_sizes = {}
    for study_json in _study_json_files(root, is_tfbsz):
        bs = _load_batch_size(study_json, within)
        batch_sizes.setdefault(bs.batch_size, bs)
    if not meta and batch_sizes:
        first = next(iter(batch_sizes.values())).config
        meta = {k: first.get(k) for k in ("dataset", "model", "optimizer") if k in first}
        meta["name"] = root.name
    return Study(root=root, meta=meta, summary=summary, batch_sizes=dict(sorted(batch_sizes.items())))


def study_file_stamps(root):
    """`(path, mtime_ns, size)` of every file `load_study(root)` reads, in reading order: a
    cheap fingerprint (no file is opened) that changes whenever the loaded study would.
    A file that vanishes between listing and `stat` has `(path, None, 0)`."""
    root = pathlib.Path(root)
    is_tfbsz = os.path.lexists(root / STUDY_MARKER)
    paths = [root / STUDY_MARKER, root / "summary.json"]
    for study_json in _study_json_files(root, is_tfbsz):
        paths.append(study_json)
        for folder in _trial_folders(study_json.parent):
            paths += [folder / "metadata.json", folder / "measurements.csv"]
    stamps = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            stamps.append((str(path), None, 0))
            continue
        stamps.append((str(path), info.st_mtime_ns, info.st_size))
    return tuple(stamps)


def find_study_roots(logdir):
    """Study roots under `logdir`: folders with `tfbsz_study.json`, else bare Shallue trees.

    A bare tree's root is taken to be the `<optimizer>` folder above its batch-size folders.
    Folder links are not followed, and nothing inside a study root is searched further.
    """
    logdir = pathlib.Path(logdir)
    roots, bare = [], set()
    for folder, dirs, files in os.walk(logdir, followlinks=False):
        folder = pathlib.Path(folder)
        if STUDY_MARKER in files:
            roots.append(folder)
            dirs[:] = []
            continue
        if "study.json" in files:
            bare.add(folder.parent)
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _NOT_STUDY_FOLDERS)
    return sorted(set(roots) | bare)
