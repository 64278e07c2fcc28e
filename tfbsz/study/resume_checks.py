"""Checks on a study's output folder before anything is written to it.

* **One study per folder.** Readers (`results.load_study`, the report, the dashboard) take every
  `study.json` below a study's root as one of its batch sizes, so a study written into a folder
  that holds another study, or into a folder inside another study, mixes the two (with
  `save_models: best` one study even deleted the other's models). `check_layout` refuses both. It
  looks at names only: no file of the other study is opened.
* **A resumed study measures what it measured before.** `check_resume` compares the config in
  `tfbsz_study.json` with the one given now: the workload (`WORKLOAD_KEYS`), the held-out examples
  (`eval_examples`), the search (space, algorithm, mode and base batch size; only `search.trials`
  may grow) and the learning-rate `scaling`. A difference is refused with one line naming the
  first key that differs, so trials measured differently never land in one study.

Example:

>>> import tempfile, pathlib
>>> from tfbsz.core.config import from_dict
>>> from tfbsz.study.resume_checks import check_layout
>>> cfg = from_dict({"data": {"name": "digits"}, "model": {"name": "mlp"},
...     "target": {"metric": "val/classification_error", "threshold": 0.1},
...     "budget": {"max_steps": 100}, "batch_sizes": [32]})
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> (root / "old").mkdir()
>>> _ = (root / "old" / "tfbsz_study.json").write_text("{}")
>>> check_layout(root, cfg)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
tfbsz.core.errors.ConfigError: output: ... holds another study in old/; choose a folder of its own for this study
"""

import json
import os
import pathlib

from tfbsz.core.config import DEFAULTS
from tfbsz.core.errors import ConfigError
from tfbsz.records import results

__all__ = ["WORKLOAD_KEYS", "RESUMED_PATHS", "check_layout", "check_output", "check_resume"]

# Config sections that define what a study measures: a resumed study must not change them.
WORKLOAD_KEYS = ("data", "model", "optimizer", "schedule", "target", "budget", "eval_every", "precision",
                 "regularization", "sparsity", "init", "seed")

# Every config path compared on --resume (dotted paths into the config).
RESUMED_PATHS = WORKLOAD_KEYS + ("eval_examples", "scaling", "search.space", "search.algorithm",
                                 "search.metaparameters", "search.base_batch_size")

_SHOWN = 60  # characters of a value quoted in an error


def check_output(root, cfg, resume=False, role=None):
    """All checks on `root` before a study (or a worker of one) writes to it.

    Raises `ConfigError` when `root` already holds a study and `resume` is false (workers join
    the chief's study, so they pass), when the layout mixes studies (`check_layout`), or when a
    resumed study differs from the one on disk (`check_resume`).
    """
    root = pathlib.Path(root)
    marker = root / results.STUDY_MARKER
    if marker.exists() and not resume and role != "worker":
        raise ConfigError(
            f"output: {root} already holds a study; pass --resume to continue it, or choose another --output"
        )
    check_layout(root, cfg)
    if marker.exists():
        check_resume(root, cfg)


def _relative(path, root):
    text = path.relative_to(root).as_posix()
    return text + "/"


def check_layout(root, cfg):
    """Refuses a `root` inside another study, or holding one other than this study's own files.

    Only names are looked at: a `tfbsz_study.json` in a folder above `root` or below it, and a
    `study.json` anywhere but in this study's own `<dataset>/<model>/<optimizer>/<batch_size>/`
    folders (or in `root` without `tfbsz_study.json`, which makes them another tool's study).
    Symbolic links are not followed.
    """
    root = pathlib.Path(root)
    for parent in root.resolve().parents:
        if (parent / results.STUDY_MARKER).exists():
            raise ConfigError(
                f"output: {root} is inside the study in {parent}; choose a folder outside it for this study"
            )
    if not root.is_dir():
        return
    own = results.batch_size_dir(root, cfg.data.name, cfg.model.name, cfg.optimizer.name, 0).parent
    own_is_ours = (root / results.STUDY_MARKER).exists()
    for folder, subfolders, files in os.walk(root):
        folder = pathlib.Path(folder)
        if folder != root and results.STUDY_MARKER in files:
            raise ConfigError(
                f"output: {root} holds another study in {_relative(folder, root)}; "
                "choose a folder of its own for this study"
            )
        if "study.json" in files and not (own_is_ours and folder.parent == own and folder.name.isdigit()):
            raise ConfigError(
                f"output: {root} holds another study's batch size in {_relative(folder, root)}; "
                "choose a folder of its own for this study"
            )
        subfolders.sort()


def _get(cfg, path):
    node = cfg
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


_MISSING = object()


def _normalised(value):
    return json.loads(json.dumps(results.json_safe(value), default=str))


def _first_difference(path, old, new):
    """The dotted path of the first leaf where `old` and `new` differ, with both values."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            if old.get(key, _MISSING) != new.get(key, _MISSING):
                return _first_difference(f"{path}.{key}", old.get(key, _MISSING), new.get(key, _MISSING))
    return path, old, new


def _shown(value):
    if value is _MISSING:
        return "nothing"
    text = json.dumps(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def check_resume(root, cfg):
    """Refuses to resume the study in `root` with a config that measures differently.

    Compares `RESUMED_PATHS` of `cfg` with the config stored in `tfbsz_study.json`; a path the
    stored config lacks (a study written by an older version) is not compared, and a key a stored
    section lacks (added since, e.g. `budget.stop_when_beaten`) is compared with its default.
    """
    root = pathlib.Path(root)
    marker = root / results.STUDY_MARKER
    try:
        stored = results.read_json(marker)
    except (OSError, ValueError) as e:
        raise ConfigError(f"output: cannot read {marker} ({type(e).__name__}); it is not a study tfbsz can resume") from None
    stored = stored.get("config") if isinstance(stored, dict) else None
    if not isinstance(stored, dict):
        raise ConfigError(f"output: {marker} holds no config; it is not a study tfbsz can resume")
    for path in RESUMED_PATHS:
        old = _get(stored, path)
        if old is _MISSING:
            continue
        default = _get(DEFAULTS, path)
        if isinstance(default, dict) and isinstance(old, dict):  # keys added since: their defaults
            old = {**default, **old}
        new = _get(cfg, path)
        old, new = _normalised(old), _normalised(None if new is _MISSING else new)
        if old != new:
            where, was, now = _first_difference(path, old, new)
            raise ConfigError(
                f"{where}: {_shown(now)} differs from {_shown(was)} in the study being resumed in {root}; "
                "a resumed study must measure the same way (use another --output for a new study)"
            )
