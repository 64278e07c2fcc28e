"""configs/mnist_cnn_sparsity.yaml end to end at sparsity 0.9 (SNIP), with a tiny budget.

Checks that every trial's metadata.json records the pruning report and that the trained,
saved model really has the pruned kernels at zero (the masks held through training).
"""

import json

import keras
import numpy as np
from helpers import run_cli


def test_snip_sparsity_study_records_and_keeps_masks(tmp_path):
    out = tmp_path / "sparsity_0.9"
    proc = run_cli([
        "--config", "configs/mnist_cnn_sparsity.yaml", "--output", str(out), "--progress", "none",
        "--batch-sizes", "32", "--trials", "1",
        "--set", "sparsity.level=0.9", "--set", "budget.max_steps=20", "--set", "eval_every=10",
        "--set", "save_models=all",
    ], timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    marker = json.loads((out / "tfbsz_study.json").read_text())
    assert marker["config"]["sparsity"]["method"] == "snip" and marker["config"]["sparsity"]["level"] == 0.9
    trial = out / "mnist5k" / "simple_cnn" / "momentum" / "32" / "0"
    meta = json.loads((trial / "metadata.json").read_text())
    report = meta["tfbsz"]["sparsity"]
    assert report["method"] == "snip" and report["level"] == 0.9 and report["batches"] == 10
    assert abs(report["global_sparsity"] - 0.9) < 1e-4
    assert report["pruned"] == round(0.9 * report["size"])
    layers = report["layers"]
    # the default selection prunes the four kernels, not the biases
    assert sorted(layers) == ["conv_0/kernel", "conv_1/kernel", "hidden/kernel", "output/kernel"]
    assert sum(v["size"] for v in layers.values()) == report["size"]
    # a global top-k: layers end up with different sparsities
    assert len({round(v["sparsity"], 3) for v in layers.values()}) > 1

    # The trained model (saved after the last update) still has the pruned weights at zero,
    # and the kept weights moved away from zero.
    model = keras.saving.load_model(str(trial / "model.keras"), compile=False)
    kernels = {v.path: keras.ops.convert_to_numpy(v) for v in model.weights if v.path.endswith("kernel")}
    assert sorted(kernels) == sorted(layers)
    zeros = {path: int((w == 0).sum()) for path, w in kernels.items()}
    for path, info in layers.items():
        assert zeros[path] >= info["pruned"], (path, zeros[path], info["pruned"])
    total = sum(w.size for w in kernels.values())
    assert 0.9 <= sum(zeros.values()) / total < 0.92
    biases = [keras.ops.convert_to_numpy(v) for v in model.weights if v.path.endswith("bias")]
    assert all(np.count_nonzero(b) > 0 for b in biases[:1])  # biases are not pruned and did train
    assert (out / "best_model.keras").exists()
