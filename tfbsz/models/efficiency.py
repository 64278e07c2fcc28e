"""Training throughput as model FLOPs: FLOPs per token of the Transformer, device peaks, MFU.

Model FLOPs utilisation (MFU) is the model's training FLOPs per second over
the device's peak. For the decoder-only Transformer, per trained token
(PaLM, Chowdhery et al. 2022, appendix B; the definition of issue 15):

    6 * N + 12 * L * d_model * seq_len

where N counts the non-embedding parameters (every block, the final
LayerNorm; not the token and position embeddings nor the output projection)
and the second term is attention's score and mix matmuls (forward and
backward, the causal mask's skipped half not subtracted). Multiply by the
tokens per second to get model FLOP/s.

Peaks are dense half-precision tensor-core rates, looked up by the device kind
that the backend reports (`device_kind()`, e.g. "NVIDIA H200"), for
`mixed_bfloat16` and `mixed_float16` only: float32 training has no entry
(its matmuls may or may not use TF32), and on a CPU there is no peak, so the
MFU column is left out there. `TFBSZ_PEAK_TFLOPS` (a number) overrides the
table. This module imports no Keras; `device_kind` imports the backend lazily.

>>> transformer_flops_per_token(num_layers=12, d_model=768, mlp_dim=3072, seq_len=1024)
623582208
>>> peak_flops("NVIDIA H200", "mixed_bfloat16")
790000000000000.0
>>> peak_flops("cpu", "mixed_bfloat16") is None, peak_flops("NVIDIA H100 80GB HBM3", "float32") is None
(True, True)
>>> cols = throughput_columns(100.0, tokens_per_example=1024, flops_per_token=623582208, peak=790e12)
>>> round(cols["train/tokens_per_s"]), round(cols["train/mfu"], 4)
(102400, 0.0808)
"""

import os

from tfbsz.models import transformer_non_embedding_params

__all__ = [
    "PEAK_BF16_FLOPS",
    "transformer_flops_per_token",
    "peak_flops",
    "device_kind",
    "throughput_columns",
    "measurement_throughput",
]

# Dense bf16/fp16 tensor-core FLOP/s, by a substring of the device kind; the first match wins.
# H200: 790 TFLOP/s, the rate an 8192^3 bf16 matmul reached on the project's lent H200s (769-798)
# and the peak issue 15 defines MFU against; NVIDIA's datasheet gives 989 (the H100 SXM figure).
# The others are datasheet dense (no sparsity) figures.
PEAK_BF16_FLOPS = (
    ("H200", 790e12),
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
    ("TPU v5 lite", 197e12),
    ("TPU v5", 459e12),
    ("TPU v4", 275e12),
)
HALF_PRECISION_POLICIES = ("mixed_bfloat16", "mixed_float16", "bfloat16", "float16")


def transformer_flops_per_token(num_layers, d_model, mlp_dim, seq_len):
    """Training FLOPs per token: `6 * non-embedding params + 12 * layers * d_model * seq_len`.

    Non-embedding params: `tfbsz.models.transformer_non_embedding_params`.
    """
    dense = 6 * transformer_non_embedding_params(num_layers, d_model, mlp_dim)
    return dense + 12 * num_layers * d_model * seq_len


def peak_flops(kind, precision):
    """The device's dense half-precision peak FLOP/s for `precision`, or None if unknown.

    `TFBSZ_PEAK_TFLOPS` in the environment overrides the table for every device.
    """
    override = os.environ.get("TFBSZ_PEAK_TFLOPS")
    if override:
        try:
            return float(override) * 1e12
        except ValueError:
            raise ValueError(f"TFBSZ_PEAK_TFLOPS: expected a number of TFLOP/s, got {override!r}") from None
    if not kind or precision not in HALF_PRECISION_POLICIES:
        return None
    for name, flops in PEAK_BF16_FLOPS:
        if name.lower() in kind.lower():
            return flops
    return None


def device_kind():
    """The first accelerator's kind as the Keras backend reports it ("NVIDIA H200"), or None on CPUs."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return None if device.platform == "cpu" else device.device_kind
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return None
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name")
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return None


def throughput_columns(examples_per_s, tokens_per_example, flops_per_token=None, peak=None, devices=1):
    """Measurement columns for a training throughput of `examples_per_s`.

    Returns `train/tokens_per_s`, and `train/mfu` (a fraction, over all
    `devices`) when both the FLOPs per token and the peak are known.
    """
    tokens_per_s = examples_per_s * tokens_per_example
    columns = {"train/tokens_per_s": tokens_per_s}
    if flops_per_token and peak:
        columns["train/mfu"] = tokens_per_s * flops_per_token / (peak * devices)
    return columns


def measurement_throughput(model_cfg, dataset, precision, devices=1):
    """A callable `examples_per_s -> columns` for the trials of a study, or None when not a Transformer.

    Args:
        model_cfg: the `model:` section (a dict with `name`; missing options take their defaults).
        dataset: the data set (`.input_shape` gives the tokens per example).
        precision: the study's dtype policy; MFU only for half-precision policies.
        devices: accelerators the trial trains on (the peak is per device).
    """
    from tfbsz import models

    name, options = models.resolve_options(model_cfg)
    if name != "transformer":
        return None
    seq_len = int(dataset.input_shape[0])
    flops = transformer_flops_per_token(options["num_layers"], options["d_model"], options["mlp_dim"], seq_len)
    peak = peak_flops(device_kind(), precision)

    def columns(examples_per_s):
        return throughput_columns(examples_per_s, seq_len, flops, peak, devices)

    return columns
