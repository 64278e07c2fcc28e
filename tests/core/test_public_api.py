"""The public API: every exported name resolves, and `import tfbsz` stays light."""

from helpers import run_python

import tfbsz


def test_every_exported_name_resolves():
    for name in tfbsz.__all__:
        assert getattr(tfbsz, name) is not None, name


def test_import_tfbsz_does_not_import_keras_but_registers_serializables_when_keras_loads():
    code = (
        "import sys, tfbsz\n"
        "print('keras loaded by tfbsz:', 'keras' in sys.modules)\n"
        "import keras\n"
        "print('LAMB registered:', keras.saving.get_registered_object('tfbsz>LAMB') is tfbsz.LAMB)\n"
    )
    proc = run_python(code, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "keras loaded by tfbsz: False" in proc.stdout
    assert "LAMB registered: True" in proc.stdout


def test_model_with_tfbsz_optimizer_loads_after_plain_import(tmp_path):
    path = tmp_path / "m.keras"
    code_save = (
        "import keras, numpy as np, tfbsz\n"
        "m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n"
        "m.compile(optimizer=tfbsz.LAMB(1e-3, weight_decay=0.01), loss='mse')\n"
        "m.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)\n"
        f"m.save({str(path)!r})\n"
    )
    code_load = (
        "import tfbsz, keras\n"
        f"m = keras.saving.load_model({str(path)!r})\n"
        "print(type(m.optimizer).__name__, m.optimizer.weight_decay)\n"
    )
    assert run_python(code_save, timeout=120).returncode == 0
    proc = run_python(code_load, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "LAMB 0.01" in proc.stdout
