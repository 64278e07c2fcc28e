"""End to end: the real CLI on configs/smoke.yaml in a subprocess, then the files on disk."""

import csv
import json

from helpers import run_cli

from tfbsz.records import results


def test_smoke_study_writes_shallue_layout(tmp_path):
    out = tmp_path / "smoke"
    proc = run_cli(["--config", "configs/smoke.yaml", "--output", str(out), "--progress", "plain"], timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "steps to result" in proc.stdout
    marker = json.loads((out / "tfbsz_study.json").read_text())
    assert marker["dataset"] == "digits" and marker["target"]["metric"] == "val/classification_error"
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["batch_size"]: r for r in summary["batch_sizes"]}
    assert sorted(rows) == [16, 64]
    for bs, row in rows.items():
        assert row["trials"] == 2
        assert row["reached"] + row["missed"] + row["diverged"] == 2
        bs_dir = out / "digits" / "mlp" / "momentum" / str(bs)
        study = json.loads((bs_dir / "study.json").read_text())
        assert study["batch_size"] == bs and study["parameter_configs"]["optimizer.learning_rate"]["scale"] == "LOG_SCALE"
        for trial in ("0", "1"):
            meta = json.loads((bs_dir / trial / "metadata.json").read_text())
            assert meta["status"] in ("COMPLETE", "INFEASIBLE")
            assert 0.02 <= meta["parameters"]["optimizer.learning_rate"] <= 0.3
            with open(bs_dir / trial / "measurements.csv") as f:
                table = list(csv.DictReader(f))
            steps = [int(r["step"]) for r in table]
            assert steps == sorted(steps) and steps[0] == 10
            assert {"examples_seen", "val/classification_error", "train/cross_entropy_error"} <= set(table[0])
            assert int(table[0]["examples_seen"]) == 10 * bs
    assert all(row["steps_to_result"] is not None for row in rows.values())
    # the larger batch needs fewer steps on this workload
    assert rows[64]["steps_to_result"] < rows[16]["steps_to_result"]
    # the summary matches a recomputation from the raw files
    study = results.load_study(out)
    assert sorted(study.batch_sizes) == [16, 64]
    assert (out / "summary.csv").exists() and (out / "tensorboard").is_dir()
