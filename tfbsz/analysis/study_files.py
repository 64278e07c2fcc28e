"""Study results as the analysis sees them: the one place where `tfbsz.analysis` reads files.

A *study tree* follows Shallue et al.'s layout (see `docs/architecture.md`, "Results on disk")::

    <root>/[tfbsz_study.json]
    <root>/<dataset>/<model>/<optimizer>/<batch_size>/study.json
    <root>/.../<batch_size>/<trial_id>/metadata.json
    <root>/.../<batch_size>/<trial_id>/measurements.csv

`load_workloads(root)` reads them with `tfbsz.records.results` and returns one `Workload` (dataset,
model, optimizer) per group of batch-size studies found under `root`, so a bare tree of Shallue
et al.'s released data with many workloads loads as well as a tfbsz study. Measurement columns
become float NumPy arrays (blank or text cells are NaN). No Keras, no TensorFlow.

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

import dataclasses
import math
import os

import numpy as np

from tfbsz.records import results
from tfbsz.core.errors import ConfigError

__all__ = ["Trial", "BatchSizeStudy", "Workload", "Target", "load_workloads"]

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


def _column_array(values):
    """A float array from a list of parsed CSV cells (None or text become NaN)."""
    return np.array([v if isinstance(v, (int, float)) else math.nan for v in values], dtype=float)


def _analysis_trial(trial):
    """A `Trial` with NumPy columns from a `tfbsz.records.results.Trial` (rows already in step order)."""
    names = []
    for row in trial.measurements:
        names.extend(k for k in row if k not in names)
    columns = {name: _column_array(trial.column(name)) for name in names}
    metadata = {"parameters": trial.parameters, "status": trial.status, "steps": trial.steps,
                "tfbsz": trial.extra}
    return Trial(trial.trial_id, dict(trial.parameters or {}), str(trial.status), columns, metadata)


def _workload_key(batch_study):
    guess = list(batch_study.path.parts[-4:-1])
    guess = ["?"] * (3 - len(guess)) + guess
    config = batch_study.config
    return tuple(str(config.get(k, g)) for k, g in zip(("dataset", "model", "optimizer"), guess))


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

    Files are read by `tfbsz.records.results` (one study root per tfbsz study, one per
    `<dataset>/<model>/<optimizer>` folder of a bare tree). Raises ConfigError when `root` is not
    a directory, holds no `study.json`, or holds a file that cannot be parsed.
    """
    if not os.path.isdir(root):
        raise ConfigError(f"run directory {root!r} does not exist or is not a directory")
    try:
        studies = [results.load_study(r) for r in results.find_study_roots(root)]
    except (OSError, ValueError) as e:
        raise ConfigError(f"{root}: cannot read the study files ({e})") from None
    groups, targets = {}, {}
    for study in studies:
        for batch_study in study.batch_sizes.values():
            key = _workload_key(batch_study)
            trials = [_analysis_trial(t) for t in batch_study.trials]
            groups.setdefault(key, []).append(
                BatchSizeStudy(batch_study.batch_size, trials, batch_study.config, str(batch_study.path))
            )
            own = (batch_study.config.get("tfbsz") or {}).get("target")
            targets.setdefault(key, _target_from_config(study.target) or _target_from_config(own))
    if not groups:
        raise ConfigError(f"no studies found under {root!r} (expected .../<batch_size>/study.json)")
    workloads = []
    for (dataset, model, optimizer), batch_studies in sorted(groups.items()):
        batch_studies.sort(key=lambda b: b.batch_size)
        workloads.append(Workload(root, dataset, model, optimizer, batch_studies, targets[(dataset, model, optimizer)]))
    return workloads
