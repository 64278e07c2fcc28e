"""Study results as the analysis sees them: workloads of trials read by `tfbsz.records.results`.

`tfbsz.records.results` is the one reader of study files (tfbsz studies and Shallue et al.'s
released data alike); its `Trial` and `BatchSizeStudy` are the analysis's too. This module only
groups batch-size studies into workloads: `load_workloads(root)` returns one `Workload`
(dataset, model, optimizer) per group of batch sizes found under `root`, so a bare tree of
Shallue et al.'s data with many workloads loads as well as a tfbsz study. No Keras, no
TensorFlow.

Example:

>>> import tempfile, json, os
>>> root = tempfile.mkdtemp()
>>> trial = os.path.join(root, "mnist", "cnn", "sgd", "32", "1")
>>> os.makedirs(trial)
>>> with open(os.path.join(trial, "..", "study.json"), "w") as f:
...     json.dump({"batch_size": 32, "dataset": "mnist", "model": "cnn", "optimizer": "sgd"}, f)
>>> with open(os.path.join(trial, "metadata.json"), "w") as f:
...     json.dump({"trial_id": 1, "parameters": {"learning_rate": 0.1}, "status": "COMPLETE"}, f)
>>> with open(os.path.join(trial, "measurements.csv"), "w") as f:
...     _ = f.write("step,val/classification_error\\n100,0.5\\n200,0.2\\n")
>>> [w.name for w in load_workloads(root)]
['mnist/cnn/sgd']
>>> load_workloads(root)[0].studies[0].trials[0].column("val/classification_error")
[0.5, 0.2]
"""

import dataclasses
import os

import numpy as np

from tfbsz.core.errors import ConfigError
from tfbsz.core.targets import Target, default_direction
from tfbsz.records import results
from tfbsz.records.results import BatchSizeStudy, Trial

__all__ = ["Trial", "BatchSizeStudy", "Workload", "Target", "column_values", "default_direction",
           "load_workloads", "workload_of"]


def column_values(trial, name):
    """A float NumPy array of one measurement column of `trial` in step order (blank or text
    cells are NaN); raises ConfigError listing the trial's columns when it has no such column."""
    names = trial.column_names
    if name not in names:
        raise ConfigError(f"metric: column {name!r} not in measurements of trial {trial.trial_id}; "
                          f"columns are {sorted(names)}")
    return np.array([v if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan
                     for v in trial.column(name)], dtype=float)


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


def _workload_key(batch_study):
    guess = list(batch_study.path.parts[-4:-1]) if batch_study.path is not None else []
    guess = ["?"] * (3 - len(guess)) + guess
    config = batch_study.config
    return tuple(str(config.get(k, g)) for k, g in zip(("dataset", "model", "optimizer"), guess))


def _grouped(study):
    """{(dataset, model, optimizer): ([BatchSizeStudy], Target or None)} of one loaded study."""
    groups = {}
    for batch_study in study.batch_sizes.values():
        groups.setdefault(_workload_key(batch_study), []).append(batch_study)
    return {key: (studies, study.declared_target(studies)) for key, studies in groups.items()}


def workload_of(study):
    """The one `Workload` of a loaded `results.Study` (a tfbsz study, or one workload's folder of
    Shallue et al.'s data), named after its first batch size's workload; None when it is empty."""
    groups = _grouped(study)
    if not groups:
        return None
    (dataset, model, optimizer), (_, target) = next(iter(groups.items()))
    studies = sorted(study.batch_sizes.values(), key=lambda b: b.batch_size)
    return Workload(str(study.root), dataset, model, optimizer, studies, target)


def load_workloads(root):
    """All workloads under `root` (a tfbsz study root or a bare Shallue et al. tree).

    Files are read by `tfbsz.records.results` (one study root per tfbsz study, one per
    `<dataset>/<model>/<optimizer>` folder of a bare tree). Raises ConfigError when `root` is not
    a directory, holds no `study.json`, or holds a file that cannot be read safely or parsed.
    """
    if not os.path.isdir(root):
        raise ConfigError(f"run directory {root!r} does not exist or is not a directory")
    groups = {}
    try:
        for study_root in results.find_study_roots(root):
            for key, (studies, target) in _grouped(results.load_study(study_root)).items():
                known, known_target = groups.get(key, ([], None))
                groups[key] = (known + studies, known_target or target)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{root}: cannot read the study files ({e})") from None
    if not groups:
        raise ConfigError(f"no studies found under {root!r} (expected .../<batch_size>/study.json)")
    workloads = []
    for (dataset, model, optimizer), (studies, target) in sorted(groups.items()):
        studies.sort(key=lambda b: b.batch_size)
        workloads.append(Workload(root, dataset, model, optimizer, studies, target))
    return workloads
