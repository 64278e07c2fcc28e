"""`python -m tfbsz.report` end to end on synthetic study trees."""

import csv
import re
import os
import subprocess
import sys

import pytest

from analysis.synthetic_studies import write_synthetic_tree
from helpers import subprocess_env
from tfbsz.report import main

BATCHES = [2**k for k in range(4, 12)]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
OUTPUTS = ["steps_to_result.png", "metaparameters.png", "summary.csv", "summary.md", "search_saturation.png",
           "search_saturation.json", "goal_sensitivity.png", "goal_sensitivity.csv"]


def run_report(args):
    return subprocess.run([sys.executable, "-m", "tfbsz.report", *args], env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def trees(tmp_path):
    write_synthetic_tree(str(tmp_path / "tfbsz_run"), BATCHES, s_min=2000, b_crit=512, trials=4, seed=0)
    write_synthetic_tree(str(tmp_path / "shallue"), BATCHES[:6], s_min=800, b_crit=64, trials=4, seed=1,
                         tfbsz_root=False, model="simple_cnn")
    return tmp_path


def test_cli_writes_plots_and_tables_for_overlaid_studies(trees):
    out = trees / "report"
    result = run_report([str(trees / "tfbsz_run"), str(trees / "shallue"), "--output", str(out), "--target", "0.05"])
    assert result.returncode == 0, result.stderr
    for name in ["steps_to_result.png", "metaparameters.png"]:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 20_000
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(BATCHES) + 6
    assert {r["workload"] for r in rows} == {"synthetic/mlp/momentum", "synthetic/simple_cnn/momentum"}
    assert all(int(r["steps"]) > 0 for r in rows)
    markdown = (out / "summary.md").read_text()
    assert "Critical batch size B_crit" in markdown and "## synthetic/simple_cnn/momentum" in markdown
    assert result.stdout.split() == [str(out / n) for n in OUTPUTS]
    # every interval is named for what it is
    assert "90% bootstrap interval over trials, curve refitted" in markdown
    assert "90% profile-likelihood interval given the measured points" in markdown
    assert "90% search-luck interval (smoothed bootstrap over trials)" in markdown
    assert "Goal sensitivity" in markdown and "(target)" in markdown


def test_search_saturation_json_and_default_goal_sensitivity(trees, capsys):
    import json

    out = trees / "sat"
    assert main([str(trees / "tfbsz_run"), "--output", str(out)]) == 0
    (workload,) = json.loads((out / "search_saturation.json").read_text())
    assert [b["batch_size"] for b in workload["batch_sizes"]] == BATCHES
    first = workload["batch_sizes"][0]
    assert first["trials"] == 5 and len(first["best_so_far"]) == len(first["typical_best_of"]) == 5
    assert (out / "search_saturation.png").read_bytes().startswith(PNG_MAGIC)
    with open(out / "goal_sensitivity.csv") as f:
        rows = list(csv.DictReader(f))
    assert len({r["threshold"] for r in rows}) == 5 and len(rows) == 5 * len(BATCHES)


def test_default_output_is_inside_the_first_run_dir_and_uses_the_stored_target(trees, capsys):
    assert main([str(trees / "tfbsz_run")]) == 0
    assert os.path.isfile(trees / "tfbsz_run" / "report" / "summary.md")
    assert "< 0.05" in (trees / "tfbsz_run" / "report" / "summary.md").read_text()


def test_goals_add_a_goal_sensitivity_plot_and_table(trees, capsys):
    out = trees / "goals"
    assert main([str(trees / "tfbsz_run"), "--output", str(out), "--goals", "0.08, 0.05,0.0"]) == 0
    assert (out / "goal_sensitivity.png").read_bytes().startswith(PNG_MAGIC)
    with open(out / "goal_sensitivity.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * len(BATCHES)
    steps = {(float(r["threshold"]), int(r["batch_size"])): r["steps"] for r in rows}
    assert all(int(steps[0.08, b]) <= int(steps[0.05, b]) for b in BATCHES)
    assert all(steps[0.0, b] == "" for b in BATCHES)  # nothing beats 0 strictly


def test_bad_input_is_one_line_and_exit_code_2(trees):
    result = run_report([str(trees / "missing")])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"tfbsz.report: error: run directory {str(trees / 'missing')!r} does not exist or is not a directory"
    ]


@pytest.mark.parametrize("args, message", [
    (["shallue"], "--target: synthetic/simple_cnn/momentum in .* has no stored target"),
    (["tfbsz_run", "--target", "abc"], "--target: expected a number, got 'abc'"),
    (["tfbsz_run", "--target", "nan"], "--target: expected a finite number, got 'nan'"),
    (["tfbsz_run", "--target", "0.0"], "no batch size of any workload reached the target"),
    (["tfbsz_run", "--metric", "val/bleu", "--target", "1"], "--metric: column 'val/bleu' not found"),
    (["tfbsz_run", "--confidence", "2"], "--confidence: expected a number in \\(0, 1\\), got '2'"),
    (["tfbsz_run", "--direction", "up"], "argument --direction: invalid choice"),
    ([], "the following arguments are required: RUN_DIR"),
    (["empty"], "no studies found under"),
    (["tfbsz_run", "--goals", "0.1,x"], "--goals: expected a number, got 'x'"),
    (["tfbsz_run", "--metric", "val/wibble", "--target", "1"], "--direction: cannot tell from the name 'val/wibble'"),
])
def test_bad_input_messages(trees, capsys, args, message):
    (trees / "empty").mkdir()
    argv = [str(trees / a) if a in ("shallue", "tfbsz_run", "empty") else a for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("tfbsz.report: error: ") and err.count("\n") == 1
    assert re.search(message, err), err


def test_report_and_analysis_import_neither_keras_nor_tensorflow():
    code = ("import sys, tfbsz.report, tfbsz.analysis; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
