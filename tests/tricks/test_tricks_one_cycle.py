"""configs/digits_one_cycle.yaml end to end: the one-cycle learning rate, measured in every
trial's measurements.csv, rises to the peak and falls; label smoothing and mixup are searched."""

import csv
import json

import numpy as np
import pytest
from helpers import run_cli

from tfbsz.training import schedules
from tfbsz.core.config import load_config

STEPS = 20


def test_one_cycle_study_measures_the_cycle_and_searches_regularizers(tmp_path):
    out = tmp_path / "one_cycle"
    # threshold 0: never beaten, so every trial trains its whole budget and logs the whole cycle
    overrides = [f"budget.max_steps={STEPS}", "eval_every=2", "target.threshold=0.0"]
    args = ["--config", "configs/digits_one_cycle.yaml", "--output", str(out), "--progress", "none",
            "--batch-sizes", "64", "--trials", "1"]
    for o in overrides:
        args += ["--set", o]
    proc = run_cli(args, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = load_config("configs/digits_one_cycle.yaml", overrides)
    assert cfg["schedule"]["name"] == "one_cycle"
    bs_dir = out / "digits" / "mlp" / "momentum" / "64"
    study = json.loads((bs_dir / "study.json").read_text())
    assert study["parameter_configs"]["regularization.label_smoothing"] == {
        "type": "DISCRETE", "feasible_points": [0.0, 0.01, 0.1]}
    assert study["parameter_configs"]["regularization.mixup_alpha"]["max_value"] == 0.4
    seen_mixup = []
    for trial in ("0",):
        meta = json.loads((bs_dir / trial / "metadata.json").read_text())
        params = meta["parameters"]
        assert meta["tfbsz"]["outcome"] == "missed", meta["tfbsz"]
        assert params["regularization.label_smoothing"] in (0.0, 0.01, 0.1)
        assert 0.0 <= params["regularization.mixup_alpha"] <= 0.4
        seen_mixup.append(params["regularization.mixup_alpha"])
        with open(bs_dir / trial / "measurements.csv") as f:
            table = list(csv.DictReader(f))
        steps = [int(r["step"]) for r in table]
        assert steps == list(range(2, STEPS + 1, 2))
        lr = np.array([float(r["learning_rate"]) for r in table])
        assert np.isfinite([float(r["val/cross_entropy_error"]) for r in table]).all()
        # the measured rate is the one-cycle formula at the number of updates done
        lr0 = params["optimizer.learning_rate"]
        expected = schedules.build(cfg["schedule"], lr0, STEPS)
        np.testing.assert_allclose(lr, [float(expected(s)) for s in steps], rtol=1e-5)
        # one cycle: rises to the peak (at 30% of the budget, step 6), then falls
        peak = int(np.argmax(lr))
        assert steps[peak] == 6
        assert np.all(np.diff(lr[: peak + 1]) > 0) and np.all(np.diff(lr[peak:]) < 0)
        assert lr[peak] == pytest.approx(lr0, rel=1e-5)
        assert lr[0] < 0.5 * lr0 and lr[-1] < 1e-3 * lr0
    assert max(seen_mixup) > 0.0  # a quasi-random point in [0, 0.4]: mixup on
