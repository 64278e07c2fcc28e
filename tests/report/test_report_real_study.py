"""`python -m tfbsz.report` on a REAL `python -m tfbsz.run` output, and the measured noise scale
B_simple next to the fitted B_crit (real study: no fit with 2 batch sizes; synthetic: with a fit)."""

import csv
import glob
import os
import statistics
import subprocess
import sys

import pytest

from analysis.synthetic_studies import write_synthetic_tree
from helpers import subprocess_env
from real_study import SMOKE_BATCH_SIZES, smoke_study_with_noise_scale
from tfbsz.analysis import analyze_workload, load_workloads, measured_noise_scale
from tfbsz.report import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NOISE = "train/gradient_noise_scale"


def _last_noise_values(root):
    """{batch size: [last non-blank noise scale of each trial]}, read with the csv module."""
    out = {}
    for path in sorted(glob.glob(str(root / "digits" / "mlp" / "momentum" / "*" / "*" / "measurements.csv"))):
        with open(path) as f:
            cells = [r[NOISE] for r in csv.DictReader(f) if r.get(NOISE)]
        out.setdefault(int(path.split(os.sep)[-3]), []).append(float(cells[-1]))
    return out


@pytest.mark.slow
def test_report_cli_on_a_real_smoke_study(tmp_path):
    root = smoke_study_with_noise_scale()
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "tfbsz.report", str(root), "--output", str(out)],
                          env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(out / n) for n in
                                   ["steps_to_result.png", "metaparameters.png", "summary.csv", "summary.md"]]
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
    # measured noise scale: median over trials of each trial's last value, per batch size and overall
    last = _last_noise_values(root)
    assert sorted(last) == SMOKE_BATCH_SIZES and all(len(v) == 2 for v in last.values())
    overall = statistics.median([v for values in last.values() for v in values])
    for r in rows:
        assert float(r["noise_scale"]) == pytest.approx(statistics.median(last[int(r["batch_size"])]), rel=1e-5)
        assert float(r["b_simple"]) == pytest.approx(overall, rel=1e-5)
        assert r["b_crit"] == ""  # two batch sizes: no fit
    markdown = (out / "summary.md").read_text()
    assert f"B_simple = {overall:.3g} (median over 4 trials" in markdown
    assert "no B_crit was fitted to compare with" in markdown
    assert "| noise scale |" in markdown


def _add_noise_column(root, value_of_batch_size):
    """Appends a train/gradient_noise_scale column to every measurements.csv under `root`."""
    for path in glob.glob(os.path.join(root, "**", "measurements.csv"), recursive=True):
        batch_size = int(path.split(os.sep)[-3])
        with open(path) as f:
            rows = list(csv.DictReader(f))
        for k, row in enumerate(rows):
            # earlier rows 1.0, the one before last the value, the last blank: only the last finite counts
            row[NOISE] = {len(rows) - 1: "", len(rows) - 2: value_of_batch_size(batch_size)}.get(k, 1.0)
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def test_b_simple_is_reported_next_to_the_fitted_b_crit(tmp_path):
    batches = [2**k for k in range(4, 10)]
    root = str(tmp_path / "study")
    write_synthetic_tree(root, batches, s_min=2000, b_crit=256, trials=3, seed=0)
    _add_noise_column(root, lambda b: 100.0 + b)  # the last row of each trial is blank
    (workload,) = load_workloads(root)
    noise = measured_noise_scale(workload)
    assert noise.trials == 3 * len(batches)
    assert noise.by_batch_size == {b: 100.0 + b for b in batches}
    assert noise.b_simple == statistics.median([100.0 + b for b in batches])

    out = tmp_path / "report"
    assert main([root, "--output", str(out)]) == 0
    analysis = analyze_workload(workload, workload.target)
    markdown = (out / "summary.md").read_text()
    assert f"B_simple = {noise.b_simple:.3g}" in markdown
    assert f"B_simple / B_crit = {noise.b_simple / analysis.fit.b_crit:.3g}" in markdown
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[0]["b_crit"]) == pytest.approx(analysis.fit.b_crit, rel=1e-5)
    assert float(rows[0]["b_simple"]) == pytest.approx(noise.b_simple, rel=1e-5)


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
    assert shown["b_simple"] == pytest.approx(expected.b_simple) and shown["trials"] == expected.trials == 4
    assert shown["by_batch_size"] == {str(b): pytest.approx(v) for b, v in expected.by_batch_size.items()}
    assert shown["column"] == NOISE
