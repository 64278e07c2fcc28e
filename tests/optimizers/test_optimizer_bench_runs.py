"""bench/optimizers.py and bench/optimizers_at_scale.py run on JAX with TensorFlow unimportable,
as on the GPU machine."""

import gzip
import json
import os

from helpers import block_imports, run_python

BLOCK_TENSORFLOW = block_imports("tensorflow")


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


def _at_scale_results(folder, size):
    with open(os.path.join(folder, f"optimizers_at_scale_{size}.json")) as f:
        return json.load(f)


def test_whole_step_at_scale_bench_on_jax_without_tensorflow(tmp_path):
    # Two sizes under mixed_bfloat16: Keras's clear_session() between them resets the global
    # policy, and the bench stops if a size's model is not built under the policy asked for.
    code = BLOCK_TENSORFLOW + (
        "sys.argv = ['optimizers_at_scale.py', '--sizes', 'tiny,micro', '--rounds', '2',\n"
        "            '--only', 'tfbsz_lamb', '--first-size-extra', '', '--update-rounds', '1',\n"
        "            '--update-sizes', 'tiny', '--profile-steps', '1', '--dump-hlo',\n"
        f"            '--policy', 'mixed_bfloat16', '--out', {str(tmp_path)!r}]\n"
        "import runpy; runpy.run_path('bench/optimizers_at_scale.py', run_name='__main__')\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    result = run_python(code, backend="jax", timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    for size in ("tiny", "micro"):
        found = _at_scale_results(tmp_path, size)
        assert found["policy"] == "mixed_bfloat16" and found["stage"] == "done", found
        assert "error" not in found
        rows = found["optimizers"]
        assert list(rows) == ["keras_adam", "tfbsz_lamb"]  # the baseline is added
        assert rows["keras_adam"]["paired_ratio"] == 1.0
        assert rows["tfbsz_lamb"]["paired_ratio"] > 0 and len(rows["tfbsz_lamb"]["whole_step_s"]) == 2
        assert 0 < rows["keras_adam"]["kernels"] < rows["tfbsz_lamb"]["kernels"]
        assert (0 < rows["keras_adam"]["optimizer_kernels"] < rows["tfbsz_lamb"]["optimizer_kernels"]
                < rows["tfbsz_lamb"]["kernels"])
        assert rows["tfbsz_lamb"]["bytes_accessed"] > 0
    tiny = _at_scale_results(tmp_path, "tiny")["optimizers"]
    assert "update_difference_ms" in tiny["tfbsz_lamb"]
    profile = tiny["tfbsz_lamb"]["profile"]
    assert profile["optimizer_ms"] > 0 and profile["rest_ms"] > 0, profile
    assert "profile" not in _at_scale_results(tmp_path, "micro")["optimizers"]["tfbsz_lamb"]
    with gzip.open(tmp_path / "optimizers_at_scale_tiny_hlo.txt.gz", "rt") as f:
        dumped = f.read()
    assert dumped.count("\nENTRY") == 2 and "==== tfbsz_lamb (name scope lamb) ====" in dumped
    assert not (tmp_path / "optimizers_at_scale_micro_hlo.txt.gz").exists()
    assert "tfbsz_lamb" in result.stdout and "vs base" in result.stdout


def test_at_scale_bench_keeps_what_it_measured_when_cut_off(tmp_path):
    # The 5th timed loop fails as an out-of-memory error would: the first size keeps its first
    # round and records the error, the next size still runs; there, SIGTERM (as `timeout`
    # sends) in the second round ends the run with the first round saved.
    code = (
        "import os, signal, sys\n"
        "sys.path.insert(0, 'bench')\n"
        "import optimizers_at_scale as bench\n"
        "calls = []\n"
        "original = bench.WholeStepLoop.run\n"
        "def run(self, n):\n"
        "    calls.append(n)\n"
        "    if len(calls) == 5:\n"
        "        raise RuntimeError('RESOURCE_EXHAUSTED: injected')\n"
        "    if len(calls) == 10:\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return original(self, n)\n"
        "bench.WholeStepLoop.run = run\n"
        "code = bench.main(['--sizes', 'micro,tiny', '--rounds', '3', '--only', 'tfbsz_lamb',\n"
        "                   '--first-size-extra', '', '--profile-steps', '0', '--policy', 'float32',\n"
        f"                   '--out', {str(tmp_path)!r}])\n"
        "print('EXIT', code, len(calls))\n"
    )
    result = run_python(code, backend="jax", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "EXIT 1 10" in result.stdout, result.stdout[-2000:]
    micro = _at_scale_results(tmp_path, "micro")
    assert micro["error"].startswith("RuntimeError: RESOURCE_EXHAUSTED") and micro["stage"] == "timing"
    assert micro["rounds_done"] == 1
    assert [len(r["whole_step_s"]) for r in micro["optimizers"].values()] == [1, 1]
    assert micro["optimizers"]["tfbsz_lamb"]["paired_ratio"] > 0
    tiny = _at_scale_results(tmp_path, "tiny")
    assert tiny["error"].startswith("Interrupted") and tiny["rounds_done"] == 1
    assert [len(r["whole_step_s"]) for r in tiny["optimizers"].values()] == [1, 1]
    assert "interrupted" in result.stdout
