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
