"""bench/optimizers.py runs on JAX with TensorFlow unimportable, as on the GPU machine."""

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
