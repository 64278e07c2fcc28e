"""configs/digits_lr_rule.yaml end to end: `search.metaparameters: rule` with the linear rule.

The base batch size (16) is tuned; every other batch size trains exactly one trial whose
learning rate is the base's best learning rate times B / 16.
"""

import json

import pytest
from helpers import run_cli

BASE = 16


def _trials(bs_dir):
    return sorted(p.parent.name for p in bs_dir.glob("*/metadata.json"))


def test_linear_rule_scales_the_base_learning_rate(tmp_path):
    out = tmp_path / "rule"
    proc = run_cli([
        "--config", "configs/digits_lr_rule.yaml", "--output", str(out), "--progress", "none",
        "--batch-sizes", "16,32,64", "--trials", "2",
        "--set", "budget.max_steps=40", "--set", "eval_every=10", "--set", "target.threshold=0.6",
    ], timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["study"]["metaparameters"] == "rule"
    rows = {r["batch_size"]: r for r in summary["batch_sizes"]}
    assert sorted(rows) == [16, 32, 64]
    root = out / "digits" / "mlp" / "momentum"
    assert len(_trials(root / str(BASE))) == 2 and rows[BASE]["trials"] == 2
    assert rows[BASE]["reached"] >= 1, rows[BASE]
    base_lr = rows[BASE]["best_parameters"]["optimizer.learning_rate"]
    base_lrs = [json.loads((root / str(BASE) / t / "metadata.json").read_text())["parameters"]["optimizer.learning_rate"]
                for t in _trials(root / str(BASE))]
    assert base_lr in base_lrs and 0.005 <= base_lr <= 0.2
    for bs in (32, 64):
        assert _trials(root / str(bs)) == ["0"], bs
        assert rows[bs]["trials"] == 1
        meta = json.loads((root / str(bs) / "0" / "metadata.json").read_text())
        assert meta["parameters"]["optimizer.learning_rate"] == pytest.approx(base_lr * bs / BASE, rel=1e-12)
        study = json.loads((root / str(bs) / "study.json").read_text())
        assert study["tfbsz"]["metaparameters"] == "rule" and study["parameter_configs"] == {}
