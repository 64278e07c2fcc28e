"""A study's files on disk: Shallue et al.'s released layout plus tfbsz's own files.

This module imports neither Keras nor TensorFlow, so the analysis, the report and the
TensorBoard plugin can read any study (including data released by Shallue et al.).

Layout (see docs/format.md)::

    <root>/tfbsz_study.json                       marks a tfbsz study root
    <root>/summary.json, summary.csv              one row per batch size
    <root>/<dataset>/<model>/<optimizer>/<batch_size>/study.json
    <root>/<dataset>/<model>/<optimizer>/<batch_size>/<trial_id>/metadata.json
    <root>/<dataset>/<model>/<optimizer>/<batch_size>/<trial_id>/measurements.csv

Example:

>>> import tempfile
>>> from tfbsz import results
>>> root = tempfile.mkdtemp()
>>> d = results.batch_size_dir(root, "digits", "mlp", "sgd", 32)
>>> results.write_json(d / "study.json", {"batch_size": 32, "dataset": "digits",
...     "model": "mlp", "optimizer": "sgd"})
>>> results.write_trial(d / "00", {"learning_rate": 0.1}, "COMPLETE", 40,
...     [{"step": 20, "val/classification_error": 0.2},
...      {"step": 40, "val/classification_error": 0.05}], {"outcome": "reached"})
>>> study = results.load_study(root)
>>> [t.trial_id for t in study.batch_sizes[32].trials]
['00']
>>> study.batch_sizes[32].trials[0].column("val/classification_error")
[0.2, 0.05]
"""

import csv
import json
import math
import os
import pathlib
import secrets
from dataclasses import dataclass, field

__all__ = [
    "MEASUREMENT_COLUMNS",
    "STATUS_COMPLETE",
    "STATUS_INCOMPLETE",
    "STATUS_INFEASIBLE",
    "STUDY_MARKER",
    "Trial",
    "BatchSizeStudy",
    "Study",
    "atomic_write",
    "batch_size_dir",
    "find_study_roots",
    "load_batch_size",
    "load_study",
    "read_measurements",
    "write_json",
    "read_json",
    "write_measurements",
    "write_trial",
]

STUDY_MARKER = "tfbsz_study.json"
STATUS_COMPLETE = "COMPLETE"
STATUS_INCOMPLETE = "INCOMPLETE"
STATUS_INFEASIBLE = "INFEASIBLE"

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


def _clean(value):
    """JSON-safe value: NaN and infinities become None (browsers reject `Infinity`)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return _clean(value.item())
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
        json.dump(_clean(data), f, indent=2, sort_keys=False)
        f.write("\n")

    atomic_write(path, dump)


def read_json(path):
    """Reads a JSON file."""
    with open(path) as f:
        return json.load(f)


def batch_size_dir(root, dataset, model, optimizer, batch_size):
    """`<root>/<dataset>/<model>/<optimizer>/<batch_size>` as a `pathlib.Path`."""
    safe = lambda s: str(s).replace(":", "_").replace("/", "_")  # noqa: E731
    return pathlib.Path(root) / safe(dataset) / safe(model) / safe(optimizer) / str(int(batch_size))


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


def _parse(text):
    if text is None or text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    if number.is_integer() and "." not in text and "e" not in text.lower() and "n" not in text.lower():
        return int(number)
    return number


def read_measurements(path):
    """Reads a measurements.csv into a list of dicts (numbers parsed, blanks as None)."""
    with open(path, newline="") as f:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(f)]


def write_trial(trial_dir, parameters, status, steps, measurements, extra=None):
    """Writes one trial: `measurements.csv` first, then `metadata.json` (its presence marks it done)."""
    trial_dir = pathlib.Path(trial_dir)
    trial_dir.mkdir(parents=True, exist_ok=True)
    write_measurements(trial_dir / "measurements.csv", measurements)
    metadata = {"parameters": dict(parameters), "status": status, "steps": int(steps)}
    if extra:
        metadata["tfbsz"] = dict(extra)
    write_json(trial_dir / "metadata.json", metadata)


@dataclass
class Trial:
    """One training run of a batch size: its metaparameters, status and measurements."""

    trial_id: str
    path: pathlib.Path
    parameters: dict
    status: str
    steps: int
    measurements: list
    extra: dict = field(default_factory=dict)

    @property
    def outcome(self):
        """`reached`, `missed` or `diverged` (tfbsz trials), else derived from the status."""
        if "outcome" in self.extra:
            return self.extra["outcome"]
        return "diverged" if self.status == STATUS_INFEASIBLE else None

    def column(self, name):
        """The values of one measurement column, in step order (None where missing)."""
        return [row.get(name) for row in self.measurements]


@dataclass
class BatchSizeStudy:
    """All trials of one batch size (a "study" in Shallue et al.'s terms)."""

    batch_size: int
    path: pathlib.Path
    config: dict
    trials: list


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

    def workloads(self):
        """Distinct (dataset, model, optimizer) triples present in the tree."""
        return sorted({tuple(b.path.parts[-4:-1]) for b in self.batch_sizes.values()})


def _load_trial(trial_dir):
    metadata = read_json(trial_dir / "metadata.json")
    csv_path = trial_dir / "measurements.csv"
    measurements = read_measurements(csv_path) if csv_path.exists() else []
    measurements.sort(key=lambda r: (r.get("step") is None, r.get("step") or 0))
    return Trial(
        trial_id=trial_dir.name,
        path=trial_dir,
        parameters=metadata.get("parameters", {}),
        status=metadata.get("status", STATUS_COMPLETE),
        steps=int(metadata.get("steps") or 0),
        measurements=measurements,
        extra=metadata.get("tfbsz", {}),
    )


def _load_batch_size(study_json):
    directory = study_json.parent
    config = read_json(study_json)
    trials = []
    for child in sorted(directory.iterdir()):
        if child.is_dir() and (child / "metadata.json").exists():
            trials.append(_load_trial(child))
    batch_size = int(config.get("batch_size", directory.name))
    return BatchSizeStudy(batch_size=batch_size, path=directory, config=config, trials=trials)


def load_batch_size(directory):
    """The `BatchSizeStudy` in one `<batch_size>` folder, or None when it has no `study.json`."""
    study_json = pathlib.Path(directory) / "study.json"
    return _load_batch_size(study_json) if study_json.exists() else None


def load_study(root):
    """Loads a study tree: a tfbsz root (with `tfbsz_study.json`) or a bare Shallue layout.

    In a bare tree every `study.json` below `root` is one batch size; if several workloads
    share a batch size, the first one found (sorted by path) wins, so point `root` at one
    `<dataset>/<model>/<optimizer>` folder when a tree holds several.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no study folder at {root}")
    marker = root / STUDY_MARKER
    meta = read_json(marker) if marker.exists() else {}
    summary_path = root / "summary.json"
    summary = read_json(summary_path) if summary_path.exists() else {}
    batch_sizes = {}
    for study_json in sorted(root.rglob("study.json")):
        if "keras_tuner" in study_json.parts:
            continue
        bs = _load_batch_size(study_json)
        batch_sizes.setdefault(bs.batch_size, bs)
    if not meta and batch_sizes:
        first = next(iter(batch_sizes.values())).config
        meta = {k: first.get(k) for k in ("dataset", "model", "optimizer") if k in first}
        meta["name"] = root.name
    return Study(root=root, meta=meta, summary=summary, batch_sizes=dict(sorted(batch_sizes.items())))


def find_study_roots(logdir):
    """Study roots under `logdir`: folders with `tfbsz_study.json`, else bare Shallue trees.

    A bare tree's root is taken to be the `<optimizer>` folder above its batch-size folders.
    """
    logdir = pathlib.Path(logdir)
    roots = sorted({p.parent for p in logdir.rglob(STUDY_MARKER)})
    covered = set(roots)
    for study_json in sorted(logdir.rglob("study.json")):
        if "keras_tuner" in study_json.parts:
            continue
        if any(parent in covered for parent in study_json.parents):
            continue
        candidate = study_json.parent.parent
        if candidate not in roots:
            roots.append(candidate)
    return sorted(roots)
