"""Files on disk after a crash: atomic and durable writes, KerasTuner's project files read back
whatever a kill left, and a trial that finished on disk kept rather than trained again.

The KerasTuner states below are the ones a kill leaves (a truncated `oracle.json`; an oracle file
one step behind its trials, because KerasTuner writes a trial's file before the oracle's); they
are made with the real oracle and real files, then the oracle is reloaded as `--resume` does.
"""

import json
import os
import pathlib
import shutil
import threading

import keras_tuner as kt
import pytest

from tfbsz.records import results
from tfbsz.records.summary import write_summary
from tfbsz.study.tuning import QuasiRandomOracle


# --------------------------------------------------------------------------- atomic writes

def test_atomic_write_follows_the_umask_without_touching_it(tmp_path, monkeypatch):
    old = os.umask(0o027)
    try:
        def no_umask(*args):
            raise AssertionError("os.umask called: other threads' files could be world-writable meanwhile")

        monkeypatch.setattr(os, "umask", no_umask)
        results.write_json(tmp_path / "a.json", {"x": 1})
    finally:
        monkeypatch.undo()
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o640


def test_atomic_write_syncs_the_file_and_its_folder(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def spy(fd):
        synced.append(pathlib.Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    results.write_json(tmp_path / "a.json", {"x": 1})
    assert synced[0].parent == tmp_path and synced[0].name.startswith(".a.json.")  # the new file
    assert synced[-1] == tmp_path  # the folder, after the rename


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    results.write_json(tmp_path / "a.json", {"x": 1})

    def broken(f):
        f.write("{half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        results.atomic_write(tmp_path / "a.json", broken)
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_concurrent_summaries_do_not_trip_over_one_temporary_name(tmp_path):
    """summary.csv used the fixed name .summary.csv.tmp: two writers renamed each other's file."""
    summary = {"study": {}, "batch_sizes": [{"batch_size": 16, "steps_to_result": 10, "best_parameters": {}}]}
    errors = []

    def writer():
        try:
            for _ in range(30):
                write_summary(tmp_path, summary)
        except Exception as e:  # noqa: BLE001 (collected for the assertion)
            errors.append(e)

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.csv", "summary.json"]


# --------------------------------------------------------------------------- KerasTuner's files

def make_oracle(project, max_trials=30, space="float"):
    hp = kt.HyperParameters()
    if space == "float":
        hp.Float("lr", 1e-3, 1.0, sampling="log")
    else:
        hp.Choice("lr", [0.1, 0.2, 0.3])
    oracle = QuasiRandomOracle(objective=kt.Objective("score", "min"), max_trials=max_trials, hyperparameters=hp,
                               seed=3)
    oracle.verbose = 0
    oracle._set_project_dir(str(project), "kt")
    return oracle


def run_one(oracle, tuner_id="tuner0"):
    trial = oracle.create_trial(tuner_id)
    oracle.update_trial(trial.trial_id, {"score": float(trial.hyperparameters.values["lr"])})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    oracle.save()
    return trial


def reloaded(project, **kwargs):
    oracle = make_oracle(project, **kwargs)
    oracle.reload()
    return oracle


def values_of(oracle, count):
    return [(t.trial_id, t.hyperparameters.values["lr"]) for t in (run_one(oracle) for _ in range(count))]


def oracle_json(project):
    return pathlib.Path(project) / "kt" / "oracle.json"


@pytest.mark.parametrize("cut", [0, 1, 40, -5])
def test_a_truncated_oracle_json_is_rebuilt_from_the_trials(tmp_path, cut):
    """25 finished trials, then oracle.json cut short: the search goes on exactly as without the cut."""
    reference = make_oracle(tmp_path / "ref")
    expected = values_of(reference, 28)
    oracle = make_oracle(tmp_path / "cut")
    assert values_of(oracle, 25) == expected[:25]
    text = oracle_json(tmp_path / "cut").read_text()
    oracle_json(tmp_path / "cut").write_text(text[:cut] if cut >= 0 else text[:cut])
    again = reloaded(tmp_path / "cut")
    assert again.recovery_notes and "rebuilt" in again.recovery_notes[0]
    assert values_of(again, 3) == expected[25:]


def test_an_oracle_one_step_behind_does_not_run_an_ended_trial_again(tmp_path):
    oracle = make_oracle(tmp_path)
    values_of(oracle, 1)
    behind = oracle_json(tmp_path).read_text()
    trial = oracle.create_trial("tuner0")  # trial 1 starts ...
    snapshot = oracle_json(tmp_path).read_text()  # ... the oracle's file says it runs
    oracle.update_trial(trial.trial_id, {"score": 0.5})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)  # trial.json written, then oracle.json: the kill lands in between
    oracle_json(tmp_path).write_text(snapshot)
    again = reloaded(tmp_path)
    assert again._retry_queue == [] and again.trials["01"].status == "COMPLETED"
    assert again.create_trial("tuner0").trial_id == "02"
    # the file from before trial 1 was created: trial 1 is not forgotten either
    oracle_json(tmp_path).write_text(behind)
    again = reloaded(tmp_path)
    assert again.trials["01"].status == "COMPLETED" and "01" in again.end_order


def test_a_trial_started_after_the_oracle_file_runs_again_with_its_own_values(tmp_path):
    reference = make_oracle(tmp_path / "ref")
    expected = values_of(reference, 3)
    oracle = make_oracle(tmp_path / "cut")
    values_of(oracle, 1)
    behind = oracle_json(tmp_path / "cut").read_text()
    oracle.create_trial("tuner0")  # trial.json of trial 1 is written; kill before oracle.json
    oracle_json(tmp_path / "cut").write_text(behind)
    again = reloaded(tmp_path / "cut")
    assert values_of(again, 2) == expected[1:]  # trial 1 with its values, then trial 2: no id reused


def test_an_unreadable_trial_json_is_rebuilt_from_the_trials_metadata(tmp_path):
    results_dir = tmp_path / "16"
    reference = make_oracle(tmp_path / "ref", space="choice")
    expected = values_of(reference, 3)
    oracle = make_oracle(tmp_path / "cut", space="choice")
    values_of(oracle, 1)
    trial = oracle.create_trial("tuner0")
    results.write_trial(results.trial_dir(results_dir, trial.trial_id), {"lr": trial.hyperparameters.values["lr"]}, "COMPLETE", 5, [])
    (tmp_path / "cut" / "kt" / f"trial_{trial.trial_id}" / "trial.json").write_text('{"trial_id": "01", "hyp')
    again = make_oracle(tmp_path / "cut", space="choice")
    again.results_dir = results_dir
    again.reload()
    assert "rebuilt from its metadata.json" in again.recovery_notes[0]
    assert values_of(again, 2) == expected[1:]


def test_an_unreadable_trial_json_without_results_runs_with_a_new_point(tmp_path):
    oracle = make_oracle(tmp_path)
    values_of(oracle, 2)
    oracle.create_trial("tuner0")
    (tmp_path / "kt" / "trial_02" / "trial.json").write_text("")
    again = reloaded(tmp_path)
    ran = values_of(again, 2)
    assert [trial_id for trial_id, _ in ran] == ["02", "03"]
    seen = [t.hyperparameters.values["lr"] for t in again.trials.values()]
    assert len(set(seen)) == len(seen) == 4


# --------------------------------------------------------------------------- a whole study

def tiny_config(out):
    return {"data": {"name": "digits"}, "model": {"name": "mlp", "hidden_units": [16]},
            "optimizer": {"name": "momentum", "learning_rate": 0.1, "momentum": 0.9},
            "target": {"metric": "val/classification_error", "threshold": 0.0},
            "budget": {"max_steps": 20}, "eval_every": 10, "batch_sizes": [32], "seed": 1,
            "search": {"trials": 2, "space": {"optimizer.learning_rate": {"min": 0.02, "max": 0.3, "scale": "log"}}},
            "logging": {"tensorboard": True, "progress": "none"}, "output": str(out)}


def event_files(out):
    return sorted(p.relative_to(out / "tensorboard").as_posix().rsplit(".", 4)[0]
                  for p in (out / "tensorboard").rglob("events.out.tfevents.*"))


def test_a_trial_finished_on_disk_but_not_recorded_is_kept_and_logged_once(tmp_path):
    from tfbsz import Study

    out = tmp_path / "study"
    Study(tiny_config(out)).run()
    bs_dir = out / "digits" / "mlp" / "momentum" / "32"
    project = results.tuner_dir(bs_dir)
    finished = {p: p.stat().st_mtime_ns for p in bs_dir.glob("*/metadata.json")}
    runs_before = event_files(out)
    assert len(finished) == 2 and len(runs_before) == 5  # study config + (hparams, scalars) per trial

    # As a kill after trial 1's files and before the oracle heard of its end leaves it:
    state = json.loads((project / "oracle.json").read_text())
    state["ongoing_trials"] = {"tuner0": "1"}
    state["end_order"] = [i for i in state["end_order"] if i != "1"]
    (project / "oracle.json").write_text(json.dumps(state))
    trial_state = json.loads((project / "trial_1" / "trial.json").read_text())
    trial_state.update(status="RUNNING", score=None, metrics={"metrics": {}})
    (project / "trial_1" / "trial.json").write_text(json.dumps(trial_state))
    (project / "tuner0.json").write_text("")  # and a tuner file cut short, for good measure

    summary = Study(tiny_config(out), resume=True).run()
    assert {p: p.stat().st_mtime_ns for p in bs_dir.glob("*/metadata.json")} == finished  # not trained again
    assert [json.loads(p.read_text())["status"] for p in sorted(project.glob("trial_*/trial.json"))] == \
        ["COMPLETED", "COMPLETED"]
    assert summary["batch_sizes"][0]["trials"] == 2
    assert len(event_files(out)) == 5  # the kept trial's events replaced, not added


def test_a_study_resumes_from_a_truncated_oracle_json(tmp_path):
    from tfbsz import Study

    out = tmp_path / "study"
    cfg = tiny_config(out)
    cfg["search"]["trials"] = 1
    Study(cfg).run()
    bs_dir = out / "digits" / "mlp" / "momentum" / "32"
    project = results.tuner_dir(bs_dir)
    text = (project / "oracle.json").read_text()
    (project / "oracle.json").write_text(text[: len(text) // 2])
    cfg["search"]["trials"] = 2
    summary = Study(cfg, resume=True).run()  # KerasTuner alone: JSONDecodeError
    assert summary["batch_sizes"][0]["trials"] == 2
    assert sorted(p.parent.name for p in bs_dir.glob("*/metadata.json")) == ["0", "1"]
    shutil.rmtree(out)
