"""`python -m tfbsz.report` on a REAL `python -m tfbsz.run` output, and the measured noise scale
B_simple at the goal next to the fitted B_crit (real study: no fit with 2 batch sizes; synthetic:
with a fit)."""

import csv
import glob
import math
import os
import statistics
import subprocess
import sys

import pytest

from analysis.synthetic_studies import METRIC, THRESHOLD, write_synthetic_tree
from helpers import subprocess_env
from real_study import SMOKE_BATCH_SIZES, smoke_study_with_noise_scale
from tfbsz.analysis import analyze_workload, load_workloads, measured_noise_scale
from tfbsz.report import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NOISE = "train/gradient_noise_scale"


def _noise_at_goal_of_best_trials(root, threshold):
    """{batch size: noise scale of the fastest trial in its first row below `threshold`}, read with csv."""
    best = {}
    for path in sorted(glob.glob(str(root / "digits" / "mlp" / "momentum" / "*" / "*" / "measurements.csv"))):
        with open(path) as f:
            rows = [r for r in csv.DictReader(f) if r.get("val/classification_error")]
        hits = [r for r in rows if float(r["val/classification_error"]) < threshold]
        if not hits:
            continue
        batch_size, trial = int(path.split(os.sep)[-3]), int(path.split(os.sep)[-2])
        key = (int(hits[0]["step"]), trial)
        if batch_size not in best or key < best[batch_size][0]:
            noise = [r[NOISE] for r in rows if r.get(NOISE) and int(r["step"]) <= key[0]]
            best[batch_size] = (key, float(noise[-1]))
    return {b: value for b, (_, value) in best.items()}


@pytest.mark.slow
def test_report_cli_on_a_real_smoke_study(tmp_path):
    root = smoke_study_with_noise_scale()
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "tfbsz.report", str(root), "--output", str(out)],
                          env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(out / n) for n in
                                   ["steps_to_result.png", "metaparameters.png", "summary.csv", "summary.md",
                                    "search_saturation.png", "search_saturation.json", "goal_sensitivity.png",
                                    "goal_sensitivity.csv"]]
    for name in ["steps_to_result.png", "metaparameters.png"]:
        assert (out / name).read_bytes().startswith(PNG_MAGIC)
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["batch_size"]) for r in rows] == SMOKE_BATCH_SIZES
    # steps to result agree with what the study itself wrote
    import json
    summary = json.loads((root / "summary.json").read_text())
    assert {int(r["batch_size"]): int(r["steps"]) for r in rows} == {
        r["batch_size"]: r["steps_to_result"] for r in summary["batch_sizes"]}
    assert {r["metric"] for r in rows} == {"val/classification_error"} and rows[0]["threshold"] == "0.15"
    # train/* columns are sane window means (evaluation used to leak into them: accuracy > 1)
    for path in glob.glob(str(root / "digits" / "*" / "*" / "*" / "*" / "measurements.csv")):
        with open(path) as f:
            for r in csv.DictReader(f):
                assert 0.0 <= float(r["train/classification_error"]) <= 1.0, (path, r)
                assert float(r["train/cross_entropy_error"]) > 0.0, (path, r)
    # measured noise scale: each batch size's best trial at its goal row; the median over batch sizes
    at_goal = _noise_at_goal_of_best_trials(root, 0.15)
    assert sorted(at_goal) == SMOKE_BATCH_SIZES
    overall = statistics.median(at_goal.values())
    for r in rows:
        assert float(r["noise_scale"]) == pytest.approx(at_goal[int(r["batch_size"])], rel=1e-5)
        assert float(r["b_simple"]) == pytest.approx(overall, rel=1e-5)
        assert r["b_crit"] == ""  # two batch sizes: no fit
    markdown = (out / "summary.md").read_text()
    assert f"B_simple = {overall:.3g}: median over 2 batch sizes' best trials" in markdown
    assert "no B_crit was fitted to compare with" in markdown
    assert "| noise scale at goal |" in markdown


def _add_noise_column(root, value_of_batch_size):
    """Adds train/gradient_noise_scale to every measurements.csv under `root`: 1.0 before the goal,
    the batch size's value from the goal on, blank in the last row."""
    for path in glob.glob(os.path.join(root, "**", "measurements.csv"), recursive=True):
        batch_size = int(path.split(os.sep)[-3])
        with open(path) as f:
            rows = list(csv.DictReader(f))
        for k, row in enumerate(rows):
            reached = row[METRIC] != "" and float(row[METRIC]) < THRESHOLD
            row[NOISE] = "" if k == len(rows) - 1 else value_of_batch_size(batch_size) if reached else 1.0
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def test_b_simple_is_reported_next_to_the_fitted_b_crit(tmp_path):
    batches = [2**k for k in range(4, 10)]
    root = str(tmp_path / "study")
    write_synthetic_tree(root, batches, s_min=2000, b_crit=256, trials=3, seed=0)
    _add_noise_column(root, lambda b: "inf" if b == 512 else 100.0 + b)
    (workload,) = load_workloads(root)
    noise = measured_noise_scale(workload)
    assert noise.trials == len(batches) and noise.infinite == 1
    assert noise.by_batch_size == {b: math.inf if b == 512 else 100.0 + b for b in batches}
    assert noise.b_simple == statistics.median([100.0 + b for b in batches])  # inf kept: the median moves up
    assert noise.interval == (116.0, math.inf) and noise.interval_coverage == pytest.approx(0.96875)

    out = tmp_path / "report"
    assert main([root, "--output", str(out)]) == 0
    analysis = analyze_workload(workload, workload.target)
    markdown = (out / "summary.md").read_text()
    assert f"B_simple = {noise.b_simple:.3g}" in markdown and "(1 infinite)" in markdown
    assert f"B_simple / B_crit = {noise.b_simple / analysis.fit.b_crit:.3g}" in markdown
    assert "97% distribution-free interval for the median over the batch sizes' best trials [116, inf]" in markdown
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[0]["b_crit"]) == pytest.approx(analysis.fit.b_crit, rel=1e-5)
    assert float(rows[0]["b_simple"]) == pytest.approx(noise.b_simple, rel=1e-5)
    assert rows[-1]["noise_scale"] == "inf" and rows[0]["b_simple_high"] == "inf"


def test_without_the_column_nothing_about_the_noise_scale_is_written(tmp_path):
    root = str(tmp_path / "study")
    write_synthetic_tree(root, [16, 32, 64, 128], s_min=500, b_crit=64, trials=2, seed=0)
    (workload,) = load_workloads(root)
    assert measured_noise_scale(workload) is None
    assert main([root, "--output", str(tmp_path / "r")]) == 0
    assert "B_simple" not in (tmp_path / "r" / "summary.md").read_text()
    with open(tmp_path / "r" / "summary.csv") as f:
        assert all(r["noise_scale"] == "" and r["b_simple"] == "" for r in csv.DictReader(f))


@pytest.mark.slow
def test_dashboard_and_report_agree_on_b_simple_for_the_real_study():
    from tfbsz.records import results
    from tfbsz.tb_plugin import _scaling

    root = smoke_study_with_noise_scale()
    (workload,) = load_workloads(str(root))
    expected = measured_noise_scale(workload)
    study = results.load_study(root)
    shown = _scaling.summarize(study, study.declared_target())["noise_scale"]
    assert shown["b_simple"] == pytest.approx(expected.b_simple) and shown["trials"] == expected.trials == 2
    assert shown["by_batch_size"] == {str(b): pytest.approx(v) for b, v in expected.by_batch_size.items()}
    assert shown["column"] == NOISE
