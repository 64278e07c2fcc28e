"""The Python API (`tfbsz.Study`) on the TensorFlow backend and, in a subprocess, on JAX."""

import json

from helpers import run_python

import tfbsz

CONFIG = {
    "data": {"name": "digits"},
    "model": {"name": "mlp", "hidden_units": [32]},
    "optimizer": {"name": "momentum", "learning_rate": 0.1, "momentum": 0.9},
    "target": {"metric": "val/classification_error", "threshold": 0.25},
    "budget": {"max_steps": 60},
    "eval_every": 10,
    "batch_sizes": [32, 128],
    "search": {"trials": 1},
}


def test_study_from_dict(tmp_path):
    summary = tfbsz.Study(CONFIG, output=tmp_path / "s").run()
    assert [r["batch_size"] for r in summary["batch_sizes"]] == [32, 128]
    assert all(r["trials"] == 1 for r in summary["batch_sizes"])
    meta = json.loads((tmp_path / "s" / "digits/mlp/momentum/32/0/metadata.json").read_text())
    assert meta["tfbsz"]["outcome"] in ("reached", "missed", "diverged")
    assert meta["tfbsz"]["max_steps"] == 60


def test_study_runs_on_jax_backend(tmp_path):
    code = (
        "import json, keras, tfbsz\n"
        f"cfg = {CONFIG!r}\n"
        f"s = tfbsz.Study(cfg, output={str(tmp_path / 'j')!r}).run()\n"
        "print('BACKEND', keras.backend.backend())\n"
        "print('RESULT', json.dumps([r['trials'] for r in s['batch_sizes']]))\n"
    )
    proc = run_python(code, backend="jax", timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "BACKEND jax" in proc.stdout
    assert "RESULT [1, 1]" in proc.stdout
    marker = json.loads((tmp_path / "j" / "tfbsz_study.json").read_text())
    assert "one_device" in marker["strategy"] or "auto" in marker["strategy"]
