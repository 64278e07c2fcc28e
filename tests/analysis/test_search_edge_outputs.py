"""The search-edge flag where users see it (issue 11 item 5): summary.json, the CLI table, the
dashboard's batch-size rows, and a numeric tie-break in all of them."""

import json

from tfbsz.records import results
from tfbsz.records.summary import summarize_study, write_summary
from tfbsz.run import format_table

TARGET = {"metric": "val/classification_error", "threshold": 0.1, "direction": "min"}
SPACE = {"optimizer.learning_rate": {"type": "DOUBLE", "min_value": 0.001, "max_value": 1.0, "scale": "LOG_SCALE"},
         "optimizer.momentum": {"type": "DOUBLE", "min_value": 0.5, "max_value": 0.999, "scale": "REVERSE_LOG_SCALE"}}


def make_tree(root):
    # batch 16: best lr 0.9 (high edge on the log scale); batch 64: best lr 0.03 (middle), tie of
    # trials "9" and "10" at step 20, won by "9"
    trials = {16: {"0": (0.9, 0.9, 10), "1": (0.03, 0.9, 30)}, 64: {"10": (0.5, 0.9, 20), "9": (0.03, 0.9, 20)}}
    for bs, by_id in trials.items():
        d = results.batch_size_dir(root, "digits", "mlp", "sgd", bs)
        results.write_json(d / "study.json", {"batch_size": bs, "dataset": "digits", "model": "mlp", "optimizer": "sgd",
                                              "parameter_configs": SPACE})
        for trial_id, (lr, momentum, hit) in by_id.items():
            rows = [{"step": hit, "val/classification_error": 0.05}]
            results.write_trial(d / trial_id, {"optimizer.learning_rate": lr, "optimizer.momentum": momentum},
                                results.STATUS_COMPLETE, hit, rows)
    results.write_json(root / results.STUDY_MARKER, {"name": "t", "target": TARGET})


def test_summary_json_cli_table_and_dashboard_flag_the_edge(tmp_path):
    make_tree(tmp_path)
    summary = summarize_study(results.load_study(tmp_path))
    rows = {r["batch_size"]: r for r in summary["batch_sizes"]}
    assert rows[16]["at_search_edge"] == ["optimizer.learning_rate"]
    assert rows[64]["best_trial"] == 9 and rows[64]["at_search_edge"] == []
    write_summary(tmp_path, summary)
    assert json.loads((tmp_path / "summary.json").read_text())["batch_sizes"][0]["at_search_edge"] == [
        "optimizer.learning_rate"]

    for row in summary["batch_sizes"]:
        row["wall_time_s"] = 1.0
    table = format_table(summary).splitlines()
    assert "[edge: learning_rate]" in table[2] and "[edge" not in table[3]
    assert table[-1].startswith("[edge: ...] best trial in the outer eighth") and "widen the search range" in table[-1]

    from tfbsz.tb_plugin import _scaling

    study = results.load_study(tmp_path)
    shown = {r["batch_size"]: r for r in _scaling.summarize(study, study.declared_target())["batch_sizes"]}
    assert shown[16]["at_search_edge"] == ["optimizer.learning_rate"] and shown[64]["at_search_edge"] == []
    assert shown[64]["best_trial"] == 9
    without_target = {r["batch_size"]: r for r in _scaling.summarize(study, None)["batch_sizes"]}
    assert without_target[16]["at_search_edge"] == ["optimizer.learning_rate"]  # from summary.json
