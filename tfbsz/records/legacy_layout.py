"""Studies written before tfbsz 0.2, moved into today's layout when they are resumed.

Before 0.2 a batch size's folder also held KerasTuner's project (`<batch_size>/keras_tuner/`)
and failure records (`<batch_size>/<id>.failure.json`), trial folders kept KerasTuner's padded
ids (`00`, `01`, ...) and `metadata.json` had no `trial_id`. Readers accept both layouts as they
are; `upgrade_batch_size` rewrites one batch size into the new layout (docs/architecture.md,
"Results on disk") before a resumed study runs more trials in it.

Every step is one atomic rename or write and the whole is idempotent: a study killed in the
middle of an upgrade is upgraded the rest of the way on the next resume, and processes that
upgrade the same folder at once (a chief and its workers) leave it in the same state.

>>> import tempfile, pathlib
>>> from tfbsz.records import results
>>> d = results.batch_size_dir(tempfile.mkdtemp(), "digits", "mlp", "sgd", 32)
>>> results.write_json(d / "study.json", {"batch_size": 32})
>>> results.write_json(d / "00" / "metadata.json", {"parameters": {}, "status": "COMPLETE", "steps": 10})
>>> results.write_json(d / "keras_tuner" / "oracle.json", {})
>>> upgrade_batch_size(d)
True
>>> sorted(p.name for p in d.iterdir()), results.read_json(d / "0" / "metadata.json")["trial_id"]
(['0', 'study.json'], 0)
>>> (results.tuner_dir(d) / "oracle.json").exists(), upgrade_batch_size(d)
(True, False)
"""

import os
import pathlib
import shutil

from tfbsz.records import results

__all__ = ["is_legacy_batch_size", "upgrade_batch_size"]


def _legacy_tuner(folder):
    return folder / results.TUNER_PROJECT


def _padded_trial_folders(folder):
    """Trial folders named with KerasTuner's padded ids (`00`, `07`), not their integers."""
    out = []
    for child in folder.iterdir():
        name = child.name
        if child.is_dir() and name.isascii() and name.isdigit() and str(int(name)) != name:
            out.append(child)
    return sorted(out)


def _metadata_without_trial_id(folder):
    out = []
    for child in folder.iterdir():
        meta = child / "metadata.json"
        if child.name.isascii() and child.name.isdigit() and meta.is_file():
            try:
                if "trial_id" not in results.read_json(meta, folder):
                    out.append(meta)
            except (OSError, ValueError):
                continue  # unreadable: left as it is for the reader to report
    return sorted(out)


def is_legacy_batch_size(folder):
    """Whether the batch-size folder `folder` has anything in the pre-0.2 layout."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        return False
    return bool(_legacy_tuner(folder).is_dir() or list(folder.glob("*.failure.json"))
                or _padded_trial_folders(folder) or _metadata_without_trial_id(folder))


def _rename(source, target):
    """Renames unless another process already did (then `source` is gone)."""
    try:
        os.rename(source, target)
    except FileNotFoundError:
        pass


def _move_tuner_project(folder):
    legacy, new = _legacy_tuner(folder), results.tuner_dir(folder)
    if not legacy.is_dir():
        return
    new.parent.mkdir(parents=True, exist_ok=True)
    if not new.exists():
        _rename(legacy, new)
        return
    # A worker may already have created the new project folder (heartbeats): merge into it.
    for entry in sorted(legacy.iterdir()):
        target = new / entry.name
        if not target.exists():
            _rename(entry, target)
    shutil.rmtree(legacy, ignore_errors=True)


def upgrade_batch_size(folder):
    """Moves one batch size written before 0.2 into today's layout; True when anything moved.

    Trial folders `00`, `01`, ... become `0`, `1`, ... (a folder whose integer name is already
    taken is left alone), `metadata.json` gets `trial_id`, failure records and the KerasTuner
    project move to `results.tfbsz_files_dir(folder)`.
    """
    folder = pathlib.Path(folder)
    if not is_legacy_batch_size(folder):
        return False
    for child in _padded_trial_folders(folder):
        target = folder / str(int(child.name))
        if not target.exists():
            _rename(child, target)
    for meta in _metadata_without_trial_id(folder):
        try:
            metadata = results.read_json(meta, folder)
        except FileNotFoundError:
            continue
        results.write_json(meta, {"trial_id": int(meta.parent.name), **metadata})
    for record in sorted(folder.glob("*.failure.json")):
        stem = record.name[: -len(".failure.json")]
        if stem.isascii() and stem.isdigit():
            target = results.failure_path(folder, stem)
            target.parent.mkdir(parents=True, exist_ok=True)
            _rename(record, target)
    _move_tuner_project(folder)
    return True
