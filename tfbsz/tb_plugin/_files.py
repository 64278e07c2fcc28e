"""Every read of study files by the plugin goes through this module, and through
`tfbsz.records.results` (the one reader, which refuses links out of a study, FIFOs, oversized and
malformed files; see `tfbsz.records.file_reading`).

`StudyFiles` is the plugin's view of a logdir: the run list (studies found under it, rescanned at
most every `metadata.RUNS_RESCAN_SECONDS`) and the loaded studies (kept while none of their files
changes: the cache key is every file's modification time and size). Nothing here takes a path
from a request: callers pass a run name, which is looked up among the studies found.

>>> import tempfile
>>> from tfbsz.records import results
>>> from tfbsz.tb_plugin import _files
>>> logdir = tempfile.mkdtemp()
>>> d = results.batch_size_dir(f"{logdir}/study_a", "digits", "mlp", "sgd", 32)
>>> results.write_json(d / "study.json", {"batch_size": 32})
>>> results.write_trial(results.trial_dir(d, 0), {"learning_rate": 0.1}, "COMPLETE", 40,
...     [{"step": 40, "val/classification_error": 0.05}])
>>> files = _files.StudyFiles(logdir)
>>> runs, notes = files.runs()
>>> sorted(runs), notes
(['study_a/digits/mlp/sgd'], [])
>>> files.load("study_a/digits/mlp/sgd").batch_sizes[32].trials[0].steps
40
"""

import collections
import os
import pathlib
import threading
import time

from tfbsz.core.errors import ConfigError
from tfbsz.core.targets import Target
from tfbsz.records import results
from tfbsz.tb_plugin import metadata


class StudyReadError(Exception):
    """A study's files exist but cannot be read (malformed, refused, too large, vanished)."""


def run_name_problem(name):
    """Why `name` cannot be a run name (None when it can): the one rule for `/runs` and `/study`.

    >>> run_name_problem("studies/adam:v2") is None, run_name_problem("a\\nb")
    (True, 'run name holds control characters')
    """
    if not name:
        return "run name is empty"
    if len(name) > metadata.MAX_RUN_NAME_LENGTH:
        return f"run name is longer than {metadata.MAX_RUN_NAME_LENGTH} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "run name holds control characters"
    return None


def find_runs(logdir):
    """`(runs, notes)`: run names (study folders relative to `logdir`, with `/`) mapped to their
    folders, and one note per study folder that cannot be served.

    A study folder holds `tfbsz_study.json`, or is the `<optimizer>` folder of a bare
    Shallue-layout tree. When the logdir itself is a study, its run is named after the folder.
    """
    if not logdir or not os.path.isdir(logdir):
        return {}, []
    base = pathlib.Path(logdir).resolve()
    try:
        roots = results.find_study_roots(base)
    except OSError as err:
        return {}, [f"cannot scan the logdir: {err.strerror or err}"]
    runs, notes = {}, []
    for root in roots:
        root = pathlib.Path(os.path.realpath(root))
        if root != base and base not in root.parents:
            continue  # never list a folder outside the logdir (a symlink pointing away)
        name = base.name if root == base else root.relative_to(base).as_posix()
        problem = run_name_problem(name)
        if problem:
            notes.append(f"skipped a study folder: {problem} ({name[:80]!r})")
            continue
        runs[name] = root
    return runs, notes


def describe_run(root):
    """A cheap description of a study for the run list: its workload and declared target.

    Raises:
        StudyReadError: when its `tfbsz_study.json` (or, for a bare tree, first `study.json`)
            cannot be read.
    """
    root = pathlib.Path(root)
    marker = root / results.STUDY_MARKER
    try:
        if marker.exists():
            kind, meta = "tfbsz", results.read_json(marker, within=root)
        else:
            kind, meta = "shallue", _first_batch_size_config(root)
    except (OSError, ValueError) as err:
        raise StudyReadError(str(err)) from None
    if not isinstance(meta, dict):
        raise StudyReadError(f"{marker}: expected a JSON object")
    return {
        "kind": kind,
        "dataset": text(meta.get("dataset")),
        "model": text(meta.get("model")),
        "optimizer": text(meta.get("optimizer")),
        "target": declared_target(meta.get("target")),
    }


def declared_target(target):
    """`{"metric", "threshold", "direction"}` of a study's declared target, or None when it is
    missing or incomplete (read with `tfbsz.core.targets.Target.from_dict`).

    >>> declared_target({"metric": "val/accuracy", "threshold": "0.9"}) is None   # not a number
    True
    >>> declared_target({"metric": "val/accuracy", "threshold": 0.9})
    {'metric': 'val/accuracy', 'threshold': 0.9, 'direction': 'max'}
    """
    if not isinstance(target, dict):
        return None
    try:
        return Target.from_dict(target).to_dict()
    except ConfigError:
        return None


def _first_batch_size_config(root):
    for study_json in sorted(root.glob("*/study.json")) + sorted(root.glob("*/*/*/*/study.json")):
        config = results.read_json(study_json, within=root)
        if isinstance(config, dict):
            return config
    return {}


def text(value):
    """A short string for the run list and study header (None stays None)."""
    return None if value is None else str(value)[:200]


class StudyFiles:
    """The studies under one logdir, with the run list and loaded studies cached.

    Args:
        logdir: the logdir TensorBoard serves.
        rescan_seconds: how long a scan of the logdir for studies is reused.
        cached_studies: how many loaded studies are kept (least recently used dropped first).
        cache_bytes: the most bytes of files the kept studies may hold together (the latest
            study is always kept).
        max_study_bytes: the largest total size of a study's files that is loaded.
    """

    def __init__(self, logdir, rescan_seconds=metadata.RUNS_RESCAN_SECONDS,
                 cached_studies=metadata.CACHED_STUDIES, cache_bytes=metadata.CACHE_BYTES,
                 max_study_bytes=metadata.MAX_STUDY_BYTES):
        self.logdir = logdir
        self.rescan_seconds = rescan_seconds
        self.cached_studies = cached_studies
        self.cache_bytes = cache_bytes
        self.max_study_bytes = max_study_bytes
        self._lock = threading.Lock()
        self._scan = None  # (time, runs, notes, descriptions)
        self._studies = collections.OrderedDict()  # root -> (stamps, Study, total bytes)

    def _scanned(self):
        now = time.monotonic()
        with self._lock:
            if self._scan is not None and now - self._scan[0] < self.rescan_seconds:
                return self._scan
        runs, notes = find_runs(self.logdir)
        descriptions = {}
        for name, root in sorted(runs.items()):
            try:
                descriptions[name] = describe_run(root)
            except StudyReadError as err:
                notes.append(f"skipped study {name[:200]!r}: {err}")
        scan = (now, runs, notes, descriptions)  # a study left out of the list still answers 422
        with self._lock:
            self._scan = scan
        return scan

    def runs(self):
        """`({name: folder}, notes)`: every study that can be asked for by name (those whose
        description failed included: asking for them gives the reason) and the notes."""
        _, runs, notes, _ = self._scanned()
        return dict(runs), list(notes)

    def listing(self):
        """`/runs`' body: `{"runs": [{"name", "kind", "dataset", ...}], "notes": [...]}`."""
        _, _, notes, descriptions = self._scanned()
        return {"runs": [{"name": name, **descriptions[name]} for name in sorted(descriptions)], "notes": list(notes)}

    def load(self, name):
        """The `results.Study` of run `name`, from the cache while its files are unchanged.

        Raises:
            KeyError: no study has that name.
            StudyReadError: its files cannot be read, or are larger than `max_study_bytes`.
        """
        root = self.runs()[0][name]
        try:
            stamps = results.study_file_stamps(root)
        except OSError as err:
            raise StudyReadError(f"cannot list its files: {err.strerror or err}") from None
        with self._lock:
            cached = self._studies.get(root)
            if cached is not None and cached[0] == stamps:
                self._studies.move_to_end(root)
                return cached[1]
        total = sum(size for _, _, size in stamps)
        if total > self.max_study_bytes:
            raise StudyReadError(f"its files hold {total} bytes, more than the {self.max_study_bytes} the "
                                 "dashboard loads; use python -m tfbsz.report on it")
        try:
            study = results.load_study(root)
        except (OSError, ValueError, RecursionError) as err:
            raise StudyReadError(str(err)) from None
        with self._lock:
            self._studies[root] = (stamps, study, total)
            self._studies.move_to_end(root)
            while len(self._studies) > 1 and (
                    len(self._studies) > self.cached_studies
                    or sum(entry[2] for entry in self._studies.values()) > self.cache_bytes):
                self._studies.popitem(last=False)
        return study
