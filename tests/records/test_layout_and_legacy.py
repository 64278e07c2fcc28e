"""Where a study's files go (`tfbsz.records.results`' path functions), and studies written before
0.2 (KerasTuner's project and failure records inside the batch size's folder, padded trial
folders, no `trial_id`): they read as they are and are moved into today's layout on resume."""

import json
import os
import shutil

import pytest

import tfbsz
from records.shallue_format import load_workload, steps_to_result
from tb_plugin.plugin_client import get_json, make_client
from tfbsz.analysis import load_workloads
from tfbsz.records import legacy_layout, results


def test_trial_ids_map_to_integer_folders_and_nothing_else(tmp_path):
    bs_dir = results.batch_size_dir(tmp_path, "tfds:mnist", "mlp", "sgd", 32)
    assert bs_dir == tmp_path / "tfds_mnist" / "mlp" / "sgd" / "32"
    assert [results.trial_dir(bs_dir, t).name for t in ("0", "00", "07", "12", 3)] == ["0", "0", "7", "12", "3"]
    for hostile in ("/srv/data", "../x", "1/2", "-1", "", "1e3", " 1", "\uff11", True, -2, "9" * 40):
        with pytest.raises(ValueError, match="trial id"):
            results.trial_dir(bs_dir, hostile)
    assert results.tuner_dir(bs_dir) == tmp_path / "tfbsz" / "tfds_mnist" / "mlp" / "sgd" / "32" / "keras_tuner"
    assert results.failure_path(bs_dir, "04") == tmp_path / "tfbsz/tfds_mnist/mlp/sgd/32/4.failure.json"


def test_write_trial_writes_shallue_metadata_with_extras_under_their_own_key(tmp_path):
    folder = results.trial_dir(tmp_path / "d" / "m" / "o" / "8", "05")
    results.write_trial(folder, {"optimizer.learning_rate": 0.1}, "INFEASIBLE", 30,
                        [{"step": 10, "val/accuracy": 0.5}], {"outcome": "diverged"})
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata == {"trial_id": 5, "status": "INFEASIBLE", "steps": 30,
                        "parameters": {"optimizer.learning_rate": 0.1}, "tfbsz": {"outcome": "diverged"}}
    with pytest.raises(ValueError, match="trial id"):
        results.write_trial(tmp_path / "not-a-number", {}, "COMPLETE", 1, [])


def _legacy_batch_size(root):
    """A batch size as tfbsz 0.1 wrote it (padded ids, keras_tuner and failures inside)."""
    bs_dir = results.batch_size_dir(root, "digits", "mlp", "sgd", 32)
    results.write_json(bs_dir / "study.json", {"batch_size": 32, "dataset": "digits", "model": "mlp",
                                               "optimizer": "sgd"})
    for i, error in enumerate([0.3, 0.1, 0.05]):
        folder = bs_dir / f"{i:02d}"
        results.write_measurements(folder / "measurements.csv", [{"step": 10, "val/classification_error": 0.5},
                                                                 {"step": 20, "val/classification_error": error}])
        results.write_json(folder / "metadata.json", {"parameters": {"optimizer.learning_rate": 0.1 * (i + 1)},
                                                      "status": "COMPLETE", "steps": 20, "tfbsz": {}})
    results.write_json(bs_dir / "keras_tuner" / "oracle.json", {"ongoing_trials": {}})
    results.write_json(bs_dir / "03.failure.json", {"trial_id": "03", "reason": "OOM"})
    results.write_json(root / results.STUDY_MARKER, {"target": {"metric": "val/classification_error",
                                                                "threshold": 0.2, "direction": "min"}})
    return bs_dir


def test_a_legacy_study_reads_as_it_is(tmp_path):
    bs_dir = _legacy_batch_size(tmp_path)
    assert legacy_layout.is_legacy_batch_size(bs_dir)
    study = results.load_study(tmp_path)
    assert [t.trial_id for t in study.batch_sizes[32].trials] == [0, 1, 2]
    assert [p.name for p in results.failure_paths(bs_dir)] == ["03.failure.json"]
    (workload,) = load_workloads(str(tmp_path))
    assert workload.batch_sizes == [32]
    code, body = get_json(make_client(tmp_path), f"/study?run={tmp_path.name}")
    assert code == 200 and body["batch_sizes"][0]["steps_to_result"] == 20
    assert body["batch_sizes"][0]["best_trial"] == 1


def test_upgrade_moves_everything_and_finishes_an_interrupted_upgrade(tmp_path):
    bs_dir = _legacy_batch_size(tmp_path)
    os.rename(bs_dir / "01", bs_dir / "1")  # as if an upgrade was killed after one rename
    assert legacy_layout.upgrade_batch_size(bs_dir) is True
    assert sorted(os.listdir(bs_dir)) == ["0", "1", "2", "study.json"]
    for name in ("0", "1", "2"):
        assert json.loads((bs_dir / name / "metadata.json").read_text())["trial_id"] == int(name)
    assert (results.tuner_dir(bs_dir) / "oracle.json").is_file()
    assert [p.name for p in results.failure_paths(bs_dir)] == ["3.failure.json"]
    assert legacy_layout.upgrade_batch_size(bs_dir) is False  # nothing left to do
    (_, table), = load_workload(str(bs_dir.parent)).values()
    assert steps_to_result(table, "val/classification_error", 0.2) == (20, 1)


def test_upgrade_merges_into_a_project_folder_a_worker_already_made(tmp_path):
    bs_dir = _legacy_batch_size(tmp_path)
    (results.tuner_dir(bs_dir) / "heartbeats").mkdir(parents=True)
    legacy_layout.upgrade_batch_size(bs_dir)
    assert sorted(os.listdir(results.tuner_dir(bs_dir))) == ["heartbeats", "oracle.json"]
    assert not (bs_dir / "keras_tuner").exists()


CONFIG = {
    "data": {"name": "digits"},
    "model": {"name": "mlp", "hidden_units": [16]},
    "optimizer": {"name": "momentum", "learning_rate": 0.1, "momentum": 0.9},
    "target": {"metric": "val/classification_error", "threshold": 0.5},
    "budget": {"max_steps": 30},
    "eval_every": 10,
    "batch_sizes": [32],
    "search": {"trials": 2, "space": {"optimizer.learning_rate": {"min": 0.02, "max": 0.3, "scale": "log"}}},
    "logging": {"tensorboard": False},
}


def _downgrade_to_legacy(root):
    """Rewrites a study of today into the pre-0.2 layout (what 0.1 would have left on disk)."""
    bs_dir = results.batch_size_dir(root, "digits", "mlp", "momentum", 32)
    os.rename(results.tuner_dir(bs_dir), bs_dir / "keras_tuner")
    shutil.rmtree(root / results.TFBSZ_FILES_DIR)
    for folder in sorted(p for p in bs_dir.iterdir() if p.name.isdigit()):
        metadata = json.loads((folder / "metadata.json").read_text())
        del metadata["trial_id"]
        results.write_json(folder / "metadata.json", metadata)
        os.rename(folder, bs_dir / f"{int(folder.name):02d}")
    return bs_dir


@pytest.mark.slow
def test_a_legacy_study_resumes_into_todays_layout_without_running_trials_again(tmp_path):
    root = tmp_path / "study"
    tfbsz.Study(CONFIG, output=root).run()
    bs_dir = _downgrade_to_legacy(root)
    assert sorted(os.listdir(bs_dir)) == ["00", "01", "keras_tuner", "study.json"]
    kept = {name: (bs_dir / name / "measurements.csv").stat().st_mtime_ns for name in ("00", "01")}
    summary = tfbsz.Study(CONFIG, output=root, resume=True, trials=3).run()
    assert summary["batch_sizes"][0]["trials"] == 3
    assert sorted(os.listdir(bs_dir)) == ["0", "1", "2", "study.json"]
    for old, new in (("00", "0"), ("01", "1")):  # moved, not run again
        assert (bs_dir / new / "measurements.csv").stat().st_mtime_ns == kept[old]
    statuses = [json.loads(p.read_text())["status"]
                for p in sorted(results.tuner_dir(bs_dir).glob("trial_*/trial.json"))]
    assert statuses == ["COMPLETED"] * 3
    tables = load_workload(str(bs_dir.parent))
    assert sorted(tables) == [32] and len(tables[32][1].index.get_level_values("trial_id").unique()) >= 1
