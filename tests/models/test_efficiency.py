"""Throughput columns: FLOPs per token, device peaks, and tokens/s (and MFU) in a trial's rows."""

import pytest

from tfbsz import data, models
from tfbsz.core.config import from_dict
from tfbsz.models import efficiency
from tfbsz.study import trainer
from model_testdata import image_data, lm_data


def test_flops_per_token_matches_issue_15s_figures():
    # 86.0M model of issue 15: 32.2% MFU at 80.4 ms per step of 32 x 1024 tokens on a 790 TFLOP/s peak.
    per_token = efficiency.transformer_flops_per_token(12, 768, 3072, seq_len=1024)
    mfu = per_token * 32 * 1024 / 0.0804 / 790e12
    assert round(mfu, 3) == 0.322
    total = models.transformer_num_params(12, 768, 3072, vocab=256, seq_len=1024)
    assert models.transformer_non_embedding_params(12, 768, 3072) == total - (256 + 1024) * 768


def test_peaks_by_device_kind_and_precision(monkeypatch):
    monkeypatch.delenv("TFBSZ_PEAK_TFLOPS", raising=False)
    assert efficiency.peak_flops("NVIDIA H100 80GB HBM3", "mixed_bfloat16") == 989e12
    assert efficiency.peak_flops("NVIDIA H100 PCIe", "mixed_float16") == 756e12
    assert efficiency.peak_flops("NVIDIA H200", "float32") is None
    assert efficiency.peak_flops(None, "mixed_bfloat16") is None
    assert efficiency.peak_flops("Some New Chip", "mixed_bfloat16") is None
    monkeypatch.setenv("TFBSZ_PEAK_TFLOPS", "100")
    assert efficiency.peak_flops(None, "float32") == 100e12
    monkeypatch.setenv("TFBSZ_PEAK_TFLOPS", "fast")
    with pytest.raises(ValueError, match="TFBSZ_PEAK_TFLOPS: expected a number"):
        efficiency.peak_flops("NVIDIA H200", "mixed_bfloat16")


def test_mfu_only_with_a_peak_and_shared_over_devices():
    assert efficiency.throughput_columns(10.0, 64) == {"train/tokens_per_s": 640.0}
    cols = efficiency.throughput_columns(10.0, 64, flops_per_token=1e9, peak=1e12, devices=2)
    assert cols == {"train/tokens_per_s": 640.0, "train/mfu": 640.0 * 1e9 / 2e12}


def test_only_transformers_get_throughput_columns():
    assert efficiency.measurement_throughput({"name": "mlp"}, image_data(), "mixed_bfloat16") is None
    columns = efficiency.measurement_throughput({"name": "transformer"}, lm_data(seq_len=16), "float32")
    assert columns(2.0) == {"train/tokens_per_s": 32.0}  # no peak on a CPU: no MFU column


def test_trial_rows_carry_tokens_per_second():
    cfg = from_dict({
        "data": {"name": "stdlib_text", "seq_len": 16},
        "model": {"name": "transformer", "num_layers": 1, "d_model": 16, "num_heads": 2, "mlp_dim": 32},
        "optimizer": {"name": "adam", "learning_rate": 0.003},
        "target": {"metric": "val/cross_entropy_error", "threshold": 0.01},
        "budget": {"max_steps": 20}, "eval_every": 10, "eval_examples": 64, "batch_sizes": [8],
    })
    dataset = data.load(cfg["data"], seed=0)
    result = trainer.run_trial(cfg, {}, batch_size=8, seed=0, dataset=dataset)
    rows = result.measurements
    assert [r["step"] for r in rows] == [10, 20]
    for row in rows:
        assert row["train/tokens_per_s"] > 0
        assert "train/mfu" not in row  # float32 on a CPU: no known peak
    # training time only: 10 steps of 8 x 16 tokens cannot take longer than the whole trial
    assert rows[1]["train/tokens_per_s"] > 10 * 8 * 16 / result.wall_time_s
