"""Label smoothing and mixup as tunable metaparameters of a study on image data (digits)."""

import json

import numpy as np

import tfbsz
from tfbsz import data
from tfbsz.study import trainer
from tfbsz.core.config import from_dict

SPACE = {
    "optimizer.learning_rate": {"min": 0.05, "max": 0.2, "scale": "log"},
    "regularization.label_smoothing": {"values": [0.0, 0.01, 0.1]},
    "regularization.mixup_alpha": {"min": 0.0, "max": 0.4},
}

CONFIG = {
    "data": {"name": "digits"},
    "model": {"name": "mlp", "hidden_units": [32]},
    "optimizer": {"name": "momentum", "learning_rate": 0.1, "momentum": 0.9},
    "target": {"metric": "val/classification_error", "threshold": 0.3},
    "budget": {"max_steps": 40},
    "eval_every": 10,
    "batch_sizes": [32],
    "search": {"trials": 3, "space": SPACE},
    "logging": {"tensorboard": False, "progress": "none"},
}


def test_label_smoothing_and_mixup_are_searched(tmp_path):
    summary = tfbsz.Study(CONFIG, output=tmp_path / "reg").run()
    assert summary["batch_sizes"][0]["trials"] == 3
    bs_dir = tmp_path / "reg" / "digits" / "mlp" / "momentum" / "32"
    smoothing, mixup = [], []
    for trial in ("0", "1", "2"):
        meta = json.loads((bs_dir / trial / "metadata.json").read_text())
        params = meta["parameters"]
        assert set(SPACE) <= set(params)  # (the config's fixed momentum may be recorded too)
        assert meta["tfbsz"]["outcome"] in ("reached", "missed")
        smoothing.append(params["regularization.label_smoothing"])
        mixup.append(params["regularization.mixup_alpha"])
    assert set(smoothing) <= {0.0, 0.01, 0.1} and len(set(smoothing)) >= 2
    assert all(0.0 <= a <= 0.4 for a in mixup) and max(mixup) > 0.05


def _train_loss(cfg, parameters):
    dataset = data.load(cfg["data"], seed=0)
    result = trainer.run_trial(cfg, parameters, batch_size=32, seed=3, dataset=dataset)
    return np.array([m["train/cross_entropy_error"] for m in result.measurements]), result


def test_each_regularizer_changes_training():
    """The searched values reach the loss: same seed, only the regulariser differs."""
    cfg = from_dict({**CONFIG, "budget": {"max_steps": 20}, "search": {"trials": 1}})
    plain, result = _train_loss(cfg, {})
    smoothed, _ = _train_loss(cfg, {"regularization.label_smoothing": 0.1})
    mixed, mixed_result = _train_loss(cfg, {"regularization.mixup_alpha": 0.4})
    repeat, _ = _train_loss(cfg, {"regularization.label_smoothing": 0.0})
    np.testing.assert_allclose(repeat, plain, rtol=1e-5)  # deterministic, so differences are real
    assert not np.allclose(smoothed, plain, rtol=1e-3)
    assert not np.allclose(mixed, plain, rtol=1e-3)
    # mixup keeps the target metric on the held-out (unmixed) labels
    assert all(0.0 <= m["val/classification_error"] <= 1.0 for m in mixed_result.measurements)
