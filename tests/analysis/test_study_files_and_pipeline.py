"""Loading study trees (tfbsz and bare Shallue layouts) and the whole analysis on synthetic studies."""

import os

import pytest

from analysis.synthetic_studies import METRIC, THRESHOLD, write_study, write_synthetic_tree, write_trial
from tfbsz.analysis import Target, analyze_workload, load_workloads
from tfbsz.analysis.study_files import column_values
from tfbsz.core.errors import ConfigError

BATCHES = [2**k for k in range(4, 14)]


def test_tfbsz_root_gives_its_target_and_sorted_studies(tmp_path):
    write_synthetic_tree(str(tmp_path), [256, 16, 64], trials=2)
    (workload,) = load_workloads(str(tmp_path))
    assert workload.name == "synthetic/mlp/momentum"
    assert workload.batch_sizes == [16, 64, 256]
    assert workload.target == Target(METRIC, THRESHOLD, "min")
    statuses = sorted(t.status for t in workload.studies[0].trials)
    assert statuses == ["COMPLETE", "COMPLETE", "INFEASIBLE"]


def test_bare_shallue_tree_with_several_workloads_has_no_target(tmp_path):
    write_synthetic_tree(str(tmp_path), [16, 32], trials=1, tfbsz_root=False, model="a")
    write_synthetic_tree(str(tmp_path), [16, 32], trials=1, tfbsz_root=False, model="b")
    workloads = load_workloads(str(tmp_path))
    assert [w.name for w in workloads] == ["synthetic/a/momentum", "synthetic/b/momentum"]
    assert all(w.target is None for w in workloads)


def test_measurements_are_sorted_by_step_and_blank_cells_are_nan(tmp_path):
    study_dir = write_study(str(tmp_path), 32)
    write_trial(study_dir, "7", [300, 100, 200], [0.01, 0.5, 0.2], {"learning_rate": 0.1})
    with open(os.path.join(study_dir, "7", "measurements.csv"), "a") as f:
        f.write("400,,\n")
    trial = load_workloads(str(tmp_path))[0].studies[0].trials[0]
    assert trial.column("step") == [100, 200, 300, 400]
    assert trial.column(METRIC) == [0.5, 0.2, 0.01, None]
    values = column_values(trial, METRIC)
    assert list(values[:3]) == [0.5, 0.2, 0.01] and values[3] != values[3]  # NaN


def test_study_target_in_study_json_is_used_without_a_root_marker(tmp_path):
    write_study(str(tmp_path), 32, study_extra={"tfbsz": {"target": {"metric": "val/accuracy", "value": 0.9}}})
    (workload,) = load_workloads(str(tmp_path))
    assert workload.target == Target("val/accuracy", 0.9, "max")


def test_missing_or_empty_directories_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_workloads(str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="no studies found"):
        load_workloads(str(tmp_path))
    study_dir = write_study(str(tmp_path), 32)
    with open(os.path.join(study_dir, "study.json"), "w") as f:
        f.write("{not json")
    with pytest.raises(ConfigError, match="cannot read the study files"):
        load_workloads(str(tmp_path))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pipeline_recovers_b_crit_from_synthetic_trials(tmp_path, seed):
    write_synthetic_tree(str(tmp_path), BATCHES, s_min=2000.0, b_crit=512.0, trials=8, seed=seed)
    (workload,) = load_workloads(str(tmp_path))
    result = analyze_workload(workload, workload.target, n_resamples=500, seed=seed)
    assert result.fit.b_crit == pytest.approx(512.0, rel=0.15)
    assert result.fit.b_crit_interval[0] <= 512.0 <= result.fit.b_crit_interval[1]
    assert [r["regime"] for r in result.rows][0] == "perfect"
    for row in result.rows:
        assert row["steps_low"] <= row["steps"] <= row["steps_high"]
        assert row["diverged"] == 1 and row["reached"] == 8


def test_pipeline_notes_batch_sizes_that_missed(tmp_path):
    write_synthetic_tree(str(tmp_path), [16, 32, 64, 128], trials=3)
    (workload,) = load_workloads(str(tmp_path))
    hard = Target(METRIC, 0.0)  # nothing beats 0 strictly
    result = analyze_workload(workload, hard, n_resamples=200)
    assert result.fit is None and result.regimes is None and result.reached == []
    assert any("never reached" in n for n in result.notes)
    assert any("no critical-batch fit" in n for n in result.notes)
