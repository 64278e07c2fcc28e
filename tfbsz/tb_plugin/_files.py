"""Every read of study files by the plugin goes through this module.

It finds the studies under a logdir and turns one study into plain Python data (dicts, lists,
numbers), using `tfbsz.records.results`, which imports neither Keras nor TensorFlow. Nothing here takes a
path from a request: callers pass a run name, which is looked up among the studies found.

>>> import tempfile
>>> from tfbsz import results
>>> from tfbsz.tb_plugin import _files
>>> logdir = tempfile.mkdtemp()
>>> d = results.batch_size_dir(f"{logdir}/study_a", "digits", "mlp", "sgd", 32)
>>> results.write_json(d / "study.json", {"batch_size": 32})
>>> results.write_trial(d / "00", {"learning_rate": 0.1}, "COMPLETE", 40,
...     [{"step": 40, "val/classification_error": 0.05}])
>>> sorted(_files.find_runs(logdir))
['study_a/digits/mlp/sgd']
>>> _files.read_run(_files.find_runs(logdir)["study_a/digits/mlp/sgd"])["trials"][0]["steps"]
40
"""

import json
import math
import os
import pathlib

from tfbsz.records import results


class StudyReadError(Exception):
    """A study's files exist but cannot be read (bad JSON, unreadable CSV, vanished folder)."""


def find_runs(logdir):
    """Maps run names (study folders relative to `logdir`, with `/`) to their folders.

    A study folder holds `tfbsz_study.json`, or is the `<optimizer>` folder of a bare
    Shallue-layout tree. When the logdir itself is a study, its run is named after the folder.
    """
    if not logdir or not os.path.isdir(logdir):
        return {}
    base = pathlib.Path(logdir).resolve()
    runs = {}
    try:
        roots = results.find_study_roots(base)
    except OSError:
        return {}
    for root in roots:
        root = pathlib.Path(root).resolve()
        if root != base and base not in root.parents:
            continue  # never list a folder outside the logdir (a symlink pointing away)
        name = base.name if root == base else root.relative_to(base).as_posix()
        runs[name] = root
    return runs


def has_any_study(logdir):
    """True when `find_runs(logdir)` would list at least one study."""
    return bool(find_runs(logdir))


def describe_run(root):
    """A cheap description of a study for the run list: its workload and declared target."""
    meta = _read_optional_json(pathlib.Path(root) / results.STUDY_MARKER)
    kind = "tfbsz" if meta else "shallue"
    if not meta:
        meta = _first_batch_size_config(pathlib.Path(root))
    return {
        "kind": kind,
        "dataset": _text(meta.get("dataset")),
        "model": _text(meta.get("model")),
        "optimizer": _text(meta.get("optimizer")),
        "target": normalize_target(meta.get("target")),
    }


def read_run(root):
    """Everything the dashboard needs from one study folder, as plain data.

    Returns a dict with `kind`, `study` (workload and version fields), `target` (or None),
    `summary_rows` (from `summary.json`, possibly empty) and `trials`: one dict per trial with
    `batch_size`, `trial_id`, `status`, `steps`, `parameters`, `tfbsz` (the extra metadata) and
    `measurements` (rows of numbers).

    Raises:
        StudyReadError: when a file of the study is missing or malformed.
    """
    try:
        study = results.load_study(root)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
        raise StudyReadError(f"{type(err).__name__}: {err}") from None
    meta = study.meta if isinstance(study.meta, dict) else {}
    summary = study.summary if isinstance(study.summary, dict) else {}
    target = normalize_target(meta.get("target"))
    trials = []
    for batch_size, bs_study in study.batch_sizes.items():
        config = bs_study.config if isinstance(bs_study.config, dict) else {}
        if target is None and isinstance(config.get("tfbsz"), dict):
            target = normalize_target(config["tfbsz"].get("target"))
        for trial in bs_study.trials:
            trials.append(
                {
                    "batch_size": int(batch_size),
                    "trial_id": str(trial.trial_id),
                    "status": _text(trial.status),
                    "steps": trial.steps,
                    "parameters": _json_safe(dict(trial.parameters or {})),
                    "tfbsz": _json_safe(dict(trial.extra or {})),
                    "measurements": trial.measurements,
                }
            )
    rows = summary.get("batch_sizes") if isinstance(summary.get("batch_sizes"), list) else []
    return {
        "kind": "tfbsz" if (pathlib.Path(root) / results.STUDY_MARKER).exists() else "shallue",
        "study": {
            key: _text(meta.get(key))
            for key in ("dataset", "model", "optimizer", "tfbsz_version", "created")
        },
        "target": target,
        "summary_rows": [r for r in rows if isinstance(r, dict)],
        "trials": trials,
    }


def normalize_target(target):
    """`{"metric", "threshold", "direction"}` from a study's target, or None if incomplete.

    >>> normalize_target({"metric": "val/accuracy", "threshold": "0.9", "direction": "max"})
    {'metric': 'val/accuracy', 'threshold': 0.9, 'direction': 'max'}
    >>> normalize_target({"metric": "val/accuracy"}) is None
    True
    """
    if not isinstance(target, dict):
        return None
    metric = target.get("metric")
    threshold = target.get("threshold", target.get("value"))
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        return None
    if not isinstance(metric, str) or not metric or not math.isfinite(threshold):
        return None
    direction = target.get("direction") or ("max" if metric.endswith("accuracy") else "min")
    if direction not in ("min", "max"):
        return None
    return {"metric": metric, "threshold": threshold, "direction": direction}


def _first_batch_size_config(root):
    for study_json in sorted(root.glob("*/study.json")) + sorted(root.glob("*/*/*/*/study.json")):
        config = _read_optional_json(study_json)
        if config:
            return config
    return {}


def _read_optional_json(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _text(value):
    return None if value is None else str(value)


def _json_safe(value):
    """Values fit for JSON: non-finite floats become None, unknown objects become strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return str(value)
