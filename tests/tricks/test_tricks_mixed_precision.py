"""Mixed precision composes with the large-batch optimizers and with sparsity.

Tiny studies on the TensorFlow backend under `mixed_float16` (Keras wraps the optimizer in a
LossScaleOptimizer) and `mixed_bfloat16`, for momentum, LAMB and LARS, two of them with SNIP
sparsity 0.5; and one JAX-backend study (subprocess) with `mixed_bfloat16` and sparsity.
"""

import json

import keras
import numpy as np
import pytest
from helpers import run_python

import tfbsz

LEARNING_RATES = {"momentum": 0.1, "lamb": 0.01, "lars": 1.0}


def _config(precision, optimizer, sparsity):
    return {
        "precision": precision,
        "data": {"name": "digits"},
        "model": {"name": "mlp", "hidden_units": [32]},
        "optimizer": {"name": optimizer, "learning_rate": LEARNING_RATES[optimizer]},
        "sparsity": {"method": "snip", "level": sparsity} if sparsity else {"method": "none"},
        "target": {"metric": "val/classification_error", "threshold": 0.0},
        "budget": {"max_steps": 20},
        "eval_every": 10,
        "batch_sizes": [32],
        "search": {"trials": 1},
        "save_models": "all",
        "logging": {"tensorboard": False, "progress": "none"},
    }


def _check_trial(root, optimizer, precision, sparsity):
    trial = root / "digits" / "mlp" / optimizer / "32" / "0"
    meta = json.loads((trial / "metadata.json").read_text())
    assert meta["tfbsz"]["precision"] == precision
    assert meta["tfbsz"]["outcome"] == "missed", meta["tfbsz"]  # trained the whole budget, no divergence
    assert meta["steps"] == 20
    model = keras.saving.load_model(str(trial / "model.keras"), compile=False)
    first = next(layer for layer in model.layers if layer.weights)
    assert first.dtype_policy.name == precision  # the layers computed in float16/bfloat16
    weights = {v.path: keras.ops.convert_to_numpy(v) for v in model.weights}
    assert all(w.dtype == np.float32 and np.isfinite(w).all() for w in weights.values())  # fp32 master weights
    kernels = [w for p, w in weights.items() if p.endswith("kernel")]
    zeros = sum(int((w == 0).sum()) for w in kernels) / sum(w.size for w in kernels)
    if sparsity:
        report = meta["tfbsz"]["sparsity"]
        assert abs(report["global_sparsity"] - sparsity) < 1e-3
        assert zeros >= report["global_sparsity"] - 1e-6  # the masks held under the loss-scaled update
    else:
        assert "sparsity" not in meta["tfbsz"] and zeros < 0.01


@pytest.mark.parametrize("precision,optimizer,sparsity", [
    ("mixed_float16", "momentum", 0.0),
    ("mixed_float16", "lamb", 0.5),
    ("mixed_float16", "lars", 0.0),
    ("mixed_bfloat16", "momentum", 0.0),
    ("mixed_bfloat16", "lamb", 0.0),
    ("mixed_bfloat16", "lars", 0.5),
])
def test_mixed_precision_composes_on_tensorflow(tmp_path, precision, optimizer, sparsity):
    root = tmp_path / "s"
    summary = tfbsz.Study(_config(precision, optimizer, sparsity), output=root).run()
    assert summary["batch_sizes"][0]["trials"] == 1
    assert keras.config.dtype_policy().name == "float32"  # the study restores the global policy
    _check_trial(root, optimizer, precision, sparsity)


def test_mixed_bfloat16_with_sparsity_on_jax(tmp_path):
    root = tmp_path / "jax"
    code = (
        "import json, keras, tfbsz\n"
        f"cfg = {_config('mixed_bfloat16', 'lamb', 0.5)!r}\n"
        f"tfbsz.Study(cfg, output={str(root)!r}).run()\n"
        "print('BACKEND', keras.backend.backend())\n"
    )
    proc = run_python(code, backend="jax", timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "BACKEND jax" in proc.stdout
    _check_trial(root, "lamb", "mixed_bfloat16", 0.5)
