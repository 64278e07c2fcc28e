"""The study pipeline's side of cohorts, on any backend: the tuner takes several trials from the
oracle at once and reports each as it ends; a study interrupted mid-cohort keeps the trials that
ended and runs the others once more; the new config keys; the one-line notices."""

import dataclasses
import io
import json
import os
import time

import keras_tuner as kt
import pytest

import tfbsz
from tfbsz.core.config import from_dict
from tfbsz.core.errors import ConfigError
from tfbsz.records import results
from tfbsz.study import tuning
from tfbsz.study.progress import PlainProgress
from tfbsz.study.tuning.kt_internals import TrialStatus

CONFIG = {
    "data": {"name": "digits"},
    "model": {"name": "mlp", "hidden_units": [16]},
    "optimizer": {"name": "momentum", "learning_rate": 0.1, "momentum": 0.9},
    "target": {"metric": "val/classification_error", "threshold": 0.0},  # never reached: whole budget
    "budget": {"max_steps": 20},
    "eval_every": 10,
    "batch_sizes": [32],
    "search": {"trials": 4, "space": {"optimizer.learning_rate": {"min": 0.01, "max": 0.3, "scale": "log"}}},
    "logging": {"tensorboard": False},
}


def folder(tmp_path):
    """The batch size's folder of a study in `tmp_path` (its KerasTuner project is `results.tuner_dir`)."""
    return results.batch_size_dir(tmp_path, "digits", "mlp", "momentum", 32)


def make_tuner(tmp_path, hypermodel, max_trials, parallel_trials):
    oracle = tuning.QuasiRandomOracle(objective=kt.Objective(tuning.OBJECTIVE_NAME, "min"), max_trials=max_trials,
                                      hyperparameters=hypermodel.hyperparameters(), seed=0)
    project = results.tuner_dir(folder(tmp_path))
    return tuning.StepsToTargetTuner(hypermodel, oracle, directory=str(project.parent), project_name=project.name,
                                     parallel_trials=parallel_trials)


class Interrupt(PlainProgress):
    """A display during which the user presses Ctrl-C at the first measurement of one trial."""

    def __init__(self, at_trial):
        super().__init__(stream=io.StringIO(), metric=CONFIG["target"]["metric"])
        self.at_trial = at_trial

    def measurement(self, row, trial_id=None):
        super().measurement(row, trial_id)
        if trial_id == self.at_trial:
            raise KeyboardInterrupt


def search(tmp_path, progress, parallel_trials):
    from tfbsz import data

    cfg = from_dict(CONFIG)
    dataset = data.load(cfg["data"], seed=0)
    hypermodel = tuning.StudyHyperModel(cfg, dataset, 32, folder(tmp_path), progress=progress)
    tuner = make_tuner(tmp_path, hypermodel, 4, parallel_trials)
    tuner.search()
    return tuner


def kt_statuses(tmp_path):
    return {p.parent.name: json.loads(p.read_text())["status"]
            for p in sorted(results.tuner_dir(folder(tmp_path)).glob("trial_*/trial.json"))}


def test_cohorts_of_three_from_the_oracle_and_resume_after_ctrl_c(tmp_path):
    started = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        search(tmp_path, Interrupt(at_trial="1"), parallel_trials=3)
    # trial 0 of the first cohort ended and is recorded; 1 was running, 2 waiting
    finished = {p.parent.name: p.stat().st_mtime_ns for p in folder(tmp_path).glob("*/metadata.json")}
    assert list(finished) == ["0"]
    assert kt_statuses(tmp_path) == {"trial_0": "COMPLETED", "trial_1": "RUNNING", "trial_2": "RUNNING"}
    tuner = search(tmp_path, PlainProgress(stream=started, metric=CONFIG["target"]["metric"]), parallel_trials=3)
    assert kt_statuses(tmp_path) == {f"trial_{i}": "COMPLETED" for i in range(4)}
    assert (folder(tmp_path) / "0" / "metadata.json").stat().st_mtime_ns == finished["0"]  # not run again
    begun = [line.split("]")[0] for line in started.getvalue().splitlines() if "] start" in line]
    assert sorted(begun) == ["[bs 32 trial 1", "[bs 32 trial 2", "[bs 32 trial 3"]  # each once
    trials = {t.trial_id for t in tuner.oracle.trials.values()}
    assert trials == {"0", "1", "2", "3"}
    assert len({json.dumps(t.hyperparameters.values) for t in tuner.oracle.trials.values()}) == 4


class InterruptAfterFiles(PlainProgress):
    """Ctrl-C just after trial 0's files are written, before the oracle hears that it ended."""

    def trial_end(self, batch_size, trial_id, result):
        super().trial_end(batch_size, trial_id, result)
        raise KeyboardInterrupt


def test_a_trial_whose_files_were_written_is_kept_not_trained_again(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        search(tmp_path, InterruptAfterFiles(stream=io.StringIO(), metric=CONFIG["target"]["metric"]), 1)
    written = (folder(tmp_path) / "0" / "metadata.json").stat().st_mtime_ns
    assert kt_statuses(tmp_path)["trial_0"] == "RUNNING"
    shown = io.StringIO()
    search(tmp_path, PlainProgress(stream=shown, metric=CONFIG["target"]["metric"]), parallel_trials=2)
    assert (folder(tmp_path) / "0" / "metadata.json").stat().st_mtime_ns == written
    assert kt_statuses(tmp_path) == {f"trial_{i}": "COMPLETED" for i in range(4)}
    assert "[bs 32 trial 0] kept: finished before the interruption" in shown.getvalue()
    assert "[bs 32 trial 0] start" not in shown.getvalue()


def test_measurements_of_a_cohort_show_under_their_own_trial():
    out = io.StringIO()
    progress = PlainProgress(stream=out, metric="val/accuracy")
    progress.study_begin([16], trials=2)
    progress.trial_begin(16, "0", {}, max_steps=100)
    progress.trial_begin(16, "1", {}, max_steps=100)
    progress.measurement({"step": 10, "val/accuracy": 0.5}, trial_id="0")
    progress.measurement({"step": 10, "val/accuracy": 0.25}, trial_id="1")
    lines = out.getvalue().splitlines()
    assert lines[-2] == "[bs 16 trial 0] step 10/100  val/accuracy=0.5000"
    assert lines[-1] == "[bs 16 trial 1] step 10/100  val/accuracy=0.2500"


@pytest.mark.parametrize("key, value, message", [
    ("search.parallel_trials", 0, "search.parallel_trials: expected an integer >= 1, got 0"),
    ("search.parallel_trials", "many", "search.parallel_trials: expected an integer >= 1 or auto, got 'many'"),
    ("budget.stop_when_beaten", "yes", "budget.stop_when_beaten: expected true or false, got 'yes'"),
])
def test_new_keys_are_checked(key, value, message):
    section, name = key.split(".")
    cfg = {**CONFIG, section: {**CONFIG[section], name: value}}
    with pytest.raises(ConfigError) as error:
        from_dict(cfg)
    assert str(error.value).startswith(message)


def test_defaults():
    cfg = from_dict(CONFIG)
    assert cfg["search"]["parallel_trials"] == "auto" and cfg["budget"]["stop_when_beaten"] is False


def test_empty_space_says_one_trial_per_batch_size(tmp_path):
    out = io.StringIO()
    cfg = {**CONFIG, "search": {"trials": 3}, "batch_sizes": [64]}
    summary = tfbsz.Study(cfg, output=tmp_path / "s", progress=PlainProgress(stream=out)).run()
    notices = [line for line in out.getvalue().splitlines() if line.startswith("search.space")]
    assert notices == ["search.space is empty: every trial would train the same metaparameters, so each "
                       "batch size runs 1 trial (search.trials: 3 ignored)"]
    assert [row["trials"] for row in summary["batch_sizes"]] == [1]
    assert "1 trials each" in out.getvalue()


def test_tuner_rejects_a_bad_parallel_trials(tmp_path):
    with pytest.raises(ValueError, match="parallel_trials"):
        tuning.StepsToTargetTuner(None, None, str(tmp_path), "p", parallel_trials=0)


def test_failed_trial_in_a_group_records_a_failure_file_and_the_search_goes_on(tmp_path):
    # Held-out labels out of range: every trial raises at its first evaluation, a runtime
    # failure of the trial (a ConfigError would stop the search instead).
    from tfbsz import data

    cfg = from_dict({**CONFIG, "search": {"trials": 2, "space": CONFIG["search"]["space"]}})
    loaded = data.load(cfg["data"], seed=0)  # cached per process: change a copy
    dataset = dataclasses.replace(loaded, y_eval=loaded.y_eval + 1000)  # labels the model cannot have
    hypermodel = tuning.StudyHyperModel(cfg, dataset, 32, folder(tmp_path))
    tuner = make_tuner(tmp_path, hypermodel, 2, 2)
    tuner.search()
    failures = results.failure_paths(folder(tmp_path))
    assert [p.name for p in failures] == ["0.failure.json", "1.failure.json"]
    assert all(t.status == TrialStatus.FAILED for t in tuner.oracle.trials.values())
    assert not list(folder(tmp_path).glob("*/"))  # a batch size's folder holds finished trials only
    record = json.loads(failures[0].read_text())
    assert record["trial_id"] == "0" and record["reason"] and "Traceback" in record["traceback"]


def test_asking_for_cohorts_on_tensorflow_says_once_that_trials_train_one_at_a_time(tmp_path):
    out = io.StringIO()
    cfg = {**CONFIG, "budget": {"max_steps": 10}, "batch_sizes": [32, 64],
           "search": {**CONFIG["search"], "trials": 2, "parallel_trials": 2}}
    tfbsz.Study(cfg, output=tmp_path / "s", progress=PlainProgress(stream=out)).run()
    notices = [line for line in out.getvalue().splitlines() if line.startswith("search.parallel_trials")]
    assert notices == ["search.parallel_trials: 2: the tensorflow backend trains trials one at a time"]
    begun = [line for line in out.getvalue().splitlines() if "] start" in line]
    assert len(begun) == 4


def test_chief_keeps_a_cohort_while_its_worker_beats_and_requeues_all_of_it_when_it_stops(tmp_path, monkeypatch):
    from tfbsz.study import distributed
    from tfbsz.study.distributed import chief, heartbeat

    monkeypatch.setenv("TFBSZ_WORKER_TIMEOUT", "5")
    oracle = tuning.QuasiRandomOracle(objective=kt.Objective(tuning.OBJECTIVE_NAME, "min"), max_trials=4,
                                      hyperparameters=tuning.build_hyperparameters(CONFIG["search"]["space"]), seed=0)
    project = results.tuner_dir(folder(tmp_path))
    oracle._set_project_dir(str(project.parent), project.name)
    members = [oracle.create_trial(distributed.cohort_member_id("w0", k)) for k in range(3)]
    beat = heartbeat.heartbeat_dir(project) / "w0"
    beat.touch()
    chief._requeue_dead_workers(oracle, project, folder(tmp_path))
    assert len(oracle.ongoing_trials) == 3  # the worker's one heartbeat covers its cohort
    old = time.time() - 60
    os.utime(beat, (old, old))
    chief._requeue_dead_workers(oracle, project, folder(tmp_path))
    assert not oracle.ongoing_trials
    failures = [p.name for p in results.failure_paths(folder(tmp_path))]
    assert failures == [f"{int(m.trial_id)}.failure.json" for m in members]
    again = sorted(oracle.create_trial(f"w1#{k}").trial_id for k in range(3))
    assert again == sorted(m.trial_id for m in members)
