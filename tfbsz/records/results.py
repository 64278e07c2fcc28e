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
import tempfile
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
    "batch_size_dir",
    "find_study_roots",
    "json_safe",
    "load_batch_size",
    "load_study",
    "load_trial",
    "read_measurements",
    "write_json",
    "read_json",
    "write_measurements",
    "write_batch_size_study",
    "write_study_marker",
    "write_trial",
    "write_trial_failure",
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


def _umask_mode():
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_json(path, data):
    """Writes `data` as JSON atomically (write to a temporary file, then rename)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(json_safe(data), f, indent=2, sort_keys=False)
        f.write("\n")
    os.chmod(tmp, _umask_mode())  # mkstemp creates 0600; others (TensorBoard, workers) must read
    os.replace(tmp, path)


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns or ["step"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _format(row.get(k)) for k in columns})
    os.chmod(tmp, _umask_mode())
    os.replace(tmp, path)


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


def write_trial_failure(batch_dir, trial_id, record):
    """Writes why a trial failed to `<batch_dir>/<trial_id>.failure.json`."""
    write_json(pathlib.Path(batch_dir) / f"{trial_id}.failure.json", {"trial_id": trial_id, **record})


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
        """`reached`, `missed`, `diverged` or `beaten` (tfbsz trials), else derived from the status."""
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


def load_trial(trial_dir):
    """The `Trial` in one trial folder (its `metadata.json` and `measurements.csv`)."""
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
            trials.append(load_trial(child))
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
