"""bench/optimizers.py and bench/optimizers_at_scale.py run on JAX with TensorFlow unimportable,
as on the GPU machine."""

import json
import os

from helpers import run_python

BLOCK_TENSORFLOW = '''
import sys, importlib.abc
class _NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("tensorflow is blocked in this test")
sys.meta_path.insert(0, _NoTensorFlow())
'''


def test_optimizer_bench_on_jax_without_tensorflow():
    code = BLOCK_TENSORFLOW + (
        "sys.argv = ['optimizers.py', '--model', 'mlp', '--steps', '2', '--repeats', '2',\n"
        "            '--warmup', '1', '--only', 'keras_adam,tfbsz_lamb,tfbsz_lars']\n"
        "import runpy; runpy.run_path('bench/optimizers.py', run_name='__main__')\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    result = run_python(code, backend="jax", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tfbsz_lamb" in result.stdout and "vs adam" in result.stdout, result.stdout


def test_train_step_bench_counts_kernels_on_jax():
    code = BLOCK_TENSORFLOW + (
        "sys.argv = ['optimizers.py', '--model', 'mlp', '--measure', 'train_step', '--steps', '2',\n"
        "            '--repeats', '2', '--warmup', '1', '--only', 'keras_adam,tfbsz_lamb_grouped']\n"
        "import runpy; runpy.run_path('bench/optimizers.py', run_name='__main__')\n"
    )
    result = run_python(code, backend="jax", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split() for line in result.stdout.splitlines()
            if line.startswith(("keras_adam", "tfbsz_lamb_grouped"))]
    assert len(rows) == 2, result.stdout
    kernels = {row[0]: int(row[-1]) for row in rows}
    # LAMB's step has Adam's kernels plus its norms and trust ratios.
    assert 0 < kernels["keras_adam"] < kernels["tfbsz_lamb_grouped"], kernels


def test_whole_step_at_scale_bench_on_jax_without_tensorflow(tmp_path):
    code = BLOCK_TENSORFLOW + (
        "sys.argv = ['optimizers_at_scale.py', '--sizes', 'tiny', '--rounds', '2',\n"
        "            '--only', 'tfbsz_lamb', '--first-size-extra', '', '--update-rounds', '1',\n"
        f"            '--policy', 'float32', '--out', {str(tmp_path)!r}]\n"
        "import runpy; runpy.run_path('bench/optimizers_at_scale.py', run_name='__main__')\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    result = run_python(code, backend="jax", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(os.path.join(tmp_path, "optimizers_at_scale_tiny.json")) as f:
        found = json.load(f)
    rows = found["optimizers"]
    assert list(rows) == ["keras_adam", "tfbsz_lamb"]  # the baseline is added
    assert rows["keras_adam"]["paired_ratio"] == 1.0
    assert rows["tfbsz_lamb"]["paired_ratio"] > 0 and len(rows["tfbsz_lamb"]["whole_step_s"]) == 2
    assert 0 < rows["keras_adam"]["kernels"] < rows["tfbsz_lamb"]["kernels"]
    assert "update_difference_ms" in rows["tfbsz_lamb"]
    assert "tfbsz_lamb" in result.stdout and "vs base" in result.stdout
