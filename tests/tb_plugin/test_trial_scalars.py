"""`hparams_logging.log_trial_scalars`: per-trial scalars (by step and by examples seen), read back
with TensorBoard's EventAccumulator, written without TensorFlow.

The scalars are TF2-style summaries (a float tensor with the Scalars plugin's metadata, as
`tf.summary.scalar` writes them), so they are read with the accumulator TensorBoard itself uses,
`plugin_event_accumulator.EventAccumulator` (the legacy one lists only `simple_value` scalars).
"""

import math

import pytest
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
from tensorboard.util import tensor_util

from helpers import run_python
from tfbsz.records import hparams_logging
from tfbsz.core.errors import ConfigError

ROWS = [
    {"step": 10, "examples_seen": 640, "wall_time_s": 0.5, "learning_rate": 0.1,
     "train/cross_entropy_error": 2.0, "val/cross_entropy_error": 2.1, "train/gradient_noise_scale": None},
    {"step": 20, "examples_seen": 1280, "wall_time_s": 1.0, "learning_rate": 0.05,
     "train/cross_entropy_error": 1.0, "val/cross_entropy_error": 1.2, "train/gradient_noise_scale": 42.0},
    {"step": 30, "examples_seen": 1920, "wall_time_s": 1.5, "learning_rate": 0.05,
     "train/cross_entropy_error": math.nan, "val/cross_entropy_error": "", "train/gradient_noise_scale": math.inf},
]


def _scalars(run_dir):
    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    assert all(acc.SummaryMetadata(t).plugin_data.plugin_name == "scalars" for t in acc.Tags()["tensors"])
    return {tag: [(e.step, pytest.approx(float(tensor_util.make_ndarray(e.tensor_proto)))) for e in acc.Tensors(tag)]
            for tag in acc.Tags()["tensors"]}


def test_each_numeric_column_is_a_series_by_step_and_by_examples(tmp_path):
    path = hparams_logging.log_trial_scalars(tmp_path, "bs_64/0", ROWS)
    assert path.parent == tmp_path / "bs_64" / "0"
    scalars = _scalars(path.parent)
    assert set(scalars) == {
        tag + suffix for tag in ["learning_rate", "train/cross_entropy_error", "val/cross_entropy_error",
                                 "train/gradient_noise_scale"] for suffix in ["", "/by_examples"]}
    assert scalars["learning_rate"] == [(10, 0.1), (20, 0.05), (30, 0.05)]
    assert scalars["learning_rate/by_examples"] == [(640, 0.1), (1280, 0.05), (1920, 0.05)]
    # blank, NaN and inf cells are left out
    assert scalars["train/cross_entropy_error"] == [(10, 2.0), (20, 1.0)]
    assert scalars["val/cross_entropy_error/by_examples"] == [(640, 2.1), (1280, 1.2)]
    assert scalars["train/gradient_noise_scale"] == [(20, 42.0)]


def test_wall_times_follow_the_measurements(tmp_path):
    path = hparams_logging.log_trial_scalars(tmp_path, "t", ROWS)
    acc = EventAccumulator(str(path.parent))
    acc.Reload()
    walls = [e.wall_time for e in acc.Tensors("learning_rate")]
    assert walls[1] - walls[0] == pytest.approx(0.5, abs=1e-3) and walls[2] - walls[1] == pytest.approx(0.5, abs=1e-3)


def test_rows_without_examples_or_step(tmp_path):
    path = hparams_logging.log_trial_scalars(tmp_path, "t", [
        {"step": 5, "val/accuracy": 0.5}, {"examples_seen": 10, "val/accuracy": 0.7}, {"step": "x", "val/accuracy": 1}])
    assert _scalars(path.parent) == {"val/accuracy": [(5, 0.5)]}
    assert hparams_logging.log_trial_scalars(tmp_path, "empty", []) is None
    assert not (tmp_path / "empty").exists()
    with pytest.raises(ConfigError, match="trial_id"):
        hparams_logging.log_trial_scalars(tmp_path, "../x", ROWS)


def test_no_tensorflow_import(tmp_path):
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'keras'):
            raise ImportError('blocked ' + name)
sys.meta_path.insert(0, Block())
from tfbsz.records import hparams_logging
p = hparams_logging.log_trial_scalars({str(tmp_path)!r}, 'bs_16/0', [{{'step': 1, 'examples_seen': 16, 'learning_rate': 0.1}}])
assert p is not None
assert not any(m.split('.')[0] in ('tensorflow', 'keras') for m in sys.modules), 'imported'
print('ok')
"""
    proc = run_python(code, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
    assert _scalars(tmp_path / "bs_16" / "0") == {"learning_rate": [(1, 0.1)], "learning_rate/by_examples": [(16, 0.1)]}
