"""The on-disk layout round-trips, and steps to result follows Shallue et al.'s definition."""

import json

from tfbsz.records import results
from tfbsz.records.summary import summarize_study, write_summary

TARGET = {"metric": "val/classification_error", "threshold": 0.1, "direction": "min"}


def make_tree(root):
    for bs, trials in {16: [[0.5, 0.2, 0.09], [0.4, 0.1, 0.1]], 64: [[0.3, 0.05], [float("nan")]]}.items():
        d = results.batch_size_dir(root, "digits", "mlp", "sgd", bs)
        results.write_json(d / "study.json", {"batch_size": bs, "dataset": "digits", "model": "mlp", "optimizer": "sgd"})
        for i, values in enumerate(trials):
            rows = [{"step": 10 * (k + 1), "val/classification_error": v} for k, v in enumerate(values)]
            status = results.STATUS_INFEASIBLE if values[-1] != values[-1] else results.STATUS_COMPLETE
            results.write_trial(d / str(i), {"optimizer.learning_rate": 0.1 * (i + 1)}, status, 10 * len(values), rows)
    results.write_json(root / results.STUDY_MARKER, {"name": "t", "target": TARGET})


def test_round_trip_and_strict_threshold(tmp_path):
    make_tree(tmp_path)
    study = results.load_study(tmp_path)
    assert sorted(study.batch_sizes) == [16, 64]
    summary = summarize_study(study)
    rows = {r["batch_size"]: r for r in summary["batch_sizes"]}
    # trial 1 of bs 16 touches 0.1 but never goes strictly below it
    assert rows[16]["steps_to_result"] == 30 and rows[16]["best_trial"] == 0
    assert (rows[16]["reached"], rows[16]["missed"], rows[16]["diverged"]) == (1, 1, 0)
    assert rows[64]["steps_to_result"] == 20
    assert rows[64]["diverged"] == 1
    assert rows[64]["best_parameters"] == {"optimizer.learning_rate": 0.1}
    write_summary(tmp_path, summary)
    assert json.loads((tmp_path / "summary.json").read_text())["batch_sizes"][0]["steps_to_result"] == 30
    assert (tmp_path / "summary.csv").read_text().splitlines()[0].startswith("batch_size,steps_to_result")


def test_nan_is_written_as_empty_and_json_has_no_infinity(tmp_path):
    results.write_json(tmp_path / "x.json", {"a": float("inf"), "b": [float("nan"), 1.0]})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": None, "b": [None, 1.0]}
    results.write_measurements(tmp_path / "m.csv", [{"step": 1, "val/accuracy": float("nan")}])
    assert results.read_measurements(tmp_path / "m.csv")[0]["step"] == 1


def test_bare_shallue_tree_is_found(tmp_path):
    d = tmp_path / "mnist" / "simple_cnn_base" / "nesterov_momentum" / "1024"
    results.write_json(d / "study.json", {"batch_size": 1024, "dataset": "mnist"})
    results.write_trial(d / "7", {"learning_rate": 1.0}, "COMPLETE", 100, [{"step": 100, "val/classification_error": 0.009}])
    roots = results.find_study_roots(tmp_path)
    assert roots == [tmp_path / "mnist" / "simple_cnn_base" / "nesterov_momentum"]
    study = results.load_study(roots[0])
    assert study.batch_sizes[1024].trials[0].parameters == {"learning_rate": 1.0}
