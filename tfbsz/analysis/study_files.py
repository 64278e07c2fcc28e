"""Reading study results from disk: the one place where `tfbsz.analysis` touches files.

A *study tree* follows Shallue et al.'s layout (see `docs/architecture.md`, "Results on disk")::

    <root>/[tfbsz_study.json]
    <root>/<dataset>/<model>/<optimizer>/<batch_size>/study.json
    <root>/.../<batch_size>/<trial_id>/metadata.json
    <root>/.../<batch_size>/<trial_id>/measurements.csv

`load_workloads(root)` returns one `Workload` (dataset, model, optimizer) per group of
batch-size studies found under `root`, so a bare tree of Shallue et al.'s released data with
many workloads loads as well as a tfbsz study. Only NumPy and the standard library are used.

Example:

>>> import tempfile, json, os
>>> root = tempfile.mkdtemp()
>>> trial = os.path.join(root, "mnist", "cnn", "sgd", "32", "1")
>>> os.makedirs(trial)
>>> with open(os.path.join(trial, "..", "study.json"), "w") as f:
...     json.dump({"batch_size": 32, "dataset": "mnist", "model": "cnn", "optimizer": "sgd"}, f)
>>> with open(os.path.join(trial, "metadata.json"), "w") as f:
...     json.dump({"parameters": {"learning_rate": 0.1}, "status": "COMPLETE"}, f)
>>> with open(os.path.join(trial, "measurements.csv"), "w") as f:
...     _ = f.write("step,val/classification_error\\n100,0.5\\n200,0.2\\n")
>>> [w.name for w in load_workloads(root)]
['mnist/cnn/sgd']
>>> load_workloads(root)[0].studies[0].trials[0].column("val/classification_error")
array([0.5, 0.2])
"""

import csv
import dataclasses
import json
import math
import os

import numpy as np

from tfbsz.errors import ConfigError

__all__ = ["Trial", "BatchSizeStudy", "Workload", "Target", "load_workloads"]

TFBSZ_ROOT_FILE = "tfbsz_study.json"
MAXIMIZED_METRIC_WORDS = ("accuracy", "average_precision", "bleu", "ssim", "map")


@dataclasses.dataclass(frozen=True)
class Target:
    """A goal on one measurement column: `metric` strictly below (`min`) or above (`max`) `threshold`."""

    metric: str
    threshold: float
    direction: str = "min"

    def __post_init__(self):
        if self.direction not in ("min", "max"):
            raise ConfigError(f"target.direction: expected 'min' or 'max', got {self.direction!r}")
        if not isinstance(self.threshold, (int, float)) or not math.isfinite(self.threshold):
            raise ConfigError(f"target.threshold: expected a finite number, got {self.threshold!r}")

    def beats(self, values):
        """Boolean array: which `values` strictly beat the threshold (NaN never does)."""
        values = np.asarray(values, dtype=float)
        with np.errstate(invalid="ignore"):
            return values < self.threshold if self.direction == "min" else values > self.threshold


def default_direction(metric):
    """'max' for metrics that grow when better (accuracy, average precision), else 'min'."""
    return "max" if any(word in metric.lower() for word in MAXIMIZED_METRIC_WORDS) else "min"


@dataclasses.dataclass
class Trial:
    """One training run: its parameters, status and measurement columns (NumPy arrays)."""

    trial_id: str
    parameters: dict
    status: str
    columns: dict
    metadata: dict = dataclasses.field(default_factory=dict)

    @property
    def steps(self):
        """The `step` column as float array (empty when there are no measurements)."""
        return self.columns.get("step", np.zeros(0))

    def column(self, name):
        """The measurement column `name`; raises ConfigError listing the columns when absent."""
        if name not in self.columns:
            raise ConfigError(
                f"metric: column {name!r} not in measurements of trial {self.trial_id}; "
                f"columns are {sorted(self.columns)}"
            )
        return self.columns[name]


@dataclasses.dataclass
class BatchSizeStudy:
    """All trials of one batch size (one `study.json`)."""

    batch_size: int
    trials: list
    study: dict
    path: str


@dataclasses.dataclass
class Workload:
    """One (dataset, model, optimizer) with its batch-size studies, sorted by batch size."""

    root: str
    dataset: str
    model: str
    optimizer: str
    studies: list
    target: Target = None

    @property
    def name(self):
        return f"{self.dataset}/{self.model}/{self.optimizer}"

    @property
    def batch_sizes(self):
        return [s.batch_size for s in self.studies]


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read JSON ({e})") from None


def _to_float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def read_measurements(path):
    """Reads a measurements.csv into {column: float array}; a missing file gives no columns."""
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    return {name: np.array([_to_float(r.get(name)) for r in rows]) for name in rows[0]}


def _read_trial(trial_dir):
    metadata = _read_json(os.path.join(trial_dir, "metadata.json"))
    columns = read_measurements(os.path.join(trial_dir, "measurements.csv"))
    if "step" in columns:
        order = np.argsort(columns["step"], kind="stable")
        columns = {k: v[order] for k, v in columns.items()}
    return Trial(
        trial_id=os.path.basename(trial_dir),
        parameters=dict(metadata.get("parameters") or {}),
        status=str(metadata.get("status", "UNKNOWN")),
        columns=columns,
        metadata=metadata,
    )


def _read_study(study_dir):
    study = _read_json(os.path.join(study_dir, "study.json"))
    trials = [
        _read_trial(os.path.join(study_dir, name))
        for name in sorted(os.listdir(study_dir))
        if os.path.isfile(os.path.join(study_dir, name, "metadata.json"))
    ]
    try:
        batch_size = int(study.get("batch_size", os.path.basename(study_dir)))
    except (TypeError, ValueError):
        raise ConfigError(f"{study_dir}/study.json: batch_size is not an integer") from None
    return BatchSizeStudy(batch_size=batch_size, trials=trials, study=study, path=study_dir)


def _target_from_config(config):
    """A Target from a tfbsz_study.json `target` dict, or None when it names no metric/threshold."""
    if not isinstance(config, dict):
        return None
    metric = config.get("metric") or config.get("name")
    threshold = config.get("threshold", config.get("value"))
    if metric is None or threshold is None:
        return None
    direction = config.get("direction") or config.get("mode") or default_direction(metric)
    return Target(str(metric), float(threshold), str(direction))


def load_workloads(root):
    """All workloads under `root` (a tfbsz study root or a bare Shallue et al. tree).

    Raises ConfigError when `root` is not a directory or holds no `study.json`.
    """
    if not os.path.isdir(root):
        raise ConfigError(f"run directory {root!r} does not exist or is not a directory")
    root_target = None
    marker = os.path.join(root, TFBSZ_ROOT_FILE)
    if os.path.isfile(marker):
        root_target = _target_from_config(_read_json(marker).get("target"))
    groups = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("keras_tuner", "tensorboard"))
        if "study.json" not in filenames:
            continue
        study = _read_study(dirpath)
        meta = study.study
        rel = os.path.relpath(dirpath, root).split(os.sep)
        guess = (rel[-4:-1] if len(rel) >= 4 else ["?", "?", "?"])
        key = (
            str(meta.get("dataset", guess[0])),
            str(meta.get("model", guess[1])),
            str(meta.get("optimizer", guess[2])),
        )
        groups.setdefault(key, []).append(study)
        dirnames[:] = []  # trial folders hold no studies
    if not groups:
        raise ConfigError(f"no studies found under {root!r} (expected .../<batch_size>/study.json)")
    workloads = []
    for (dataset, model, optimizer), studies in sorted(groups.items()):
        studies.sort(key=lambda s: s.batch_size)
        target = root_target
        if target is None:
            target = _target_from_config((studies[0].study.get("tfbsz") or {}).get("target"))
        workloads.append(Workload(root, dataset, model, optimizer, studies, target))
    return workloads
