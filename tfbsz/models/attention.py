"""Causal multi-head self-attention with a choice of attention kernel.

`CausalSelfAttention` projects its input to queries, keys and values, mixes
them with `keras.ops.dot_product_attention(..., is_causal=True)` and projects
the heads back. The `attention` argument picks the kernel:

* `"flash"`: fused flash attention (cuDNN on NVIDIA GPUs through JAX, the
  Splash kernel on TPUs): the `[batch, heads, seq, seq]` scores are never
  stored, and the masked half of causal attention is skipped.
* `"xla"`: the plain composition of matmuls and softmax that the backend
  compiles (Keras's `flash_attention=False` path); it stores the scores.
* `"auto"` (default): `"flash"` where the backend, device, dtype and shapes
  allow it, `"xla"` otherwise; `keras.config.disable_flash_attention()`
  turns `auto` into `xla`.

Flash attention needs the JAX backend on an Ampere-or-newer NVIDIA GPU with
cuDNN (or a TPU), float16/bfloat16 queries (a `mixed_bfloat16` or
`mixed_float16` policy) and a head size that is a multiple of 8 and at most 128
(256 on Hopper). Where `auto` or `flash` cannot use it, the layer uses `xla`
and says why, once per reason, in one log line (logger `tfbsz.models`).

Why an explicit option: Keras's JAX backend, given `flash_attention=None`
(what this layer passed before the option existed), already chooses cuDNN
flash attention when its own check passes, so
`keras.config.enable_flash_attention()` (which sets that same `None`)
changed nothing here; `MultiHeadAttention` runs the plain XLA path only when
flash attention is disabled. `"xla"` is byte-for-byte the computation of
that `None` path wherever flash attention is unavailable (CPUs, TensorFlow).

The query/key/value projection (`qkv`, one of `QKV_CHOICES`):

* `"fused"` (default; the layout of models saved before the option): one Dense
  layer `qkv` with `3 * d_model` outputs laid out `[3, heads, head_size]`, one
  matmul, and queries, keys and values sliced out of its output (strided
  slices, which XLA copies before a flash-attention kernel can read them);
* `"split"`: the same `qkv` weights, multiplied as three matmuls with the
  kernel's thirds, so each of queries, keys and values comes out contiguous;
* `"separate"`: three Dense layers `query`, `key`, `value`.

All three compute the same function given the same weights
(`split_fused_qkv` converts fused weights to separate ones).

>>> import numpy as np
>>> layer = CausalSelfAttention(num_heads=2, attention="xla")
>>> tuple(layer(np.zeros((1, 4, 8), "float32")).shape)
(1, 4, 8)
>>> choose_kernel("xla", np.zeros((1, 4, 2, 4), "float32"))
('xla', '')
"""

import logging

import keras
from keras import ops

from tfbsz.core.errors import ConfigError

__all__ = ["ATTENTION_CHOICES", "QKV_CHOICES", "CausalSelfAttention", "choose_kernel", "split_fused_qkv"]

ATTENTION_CHOICES = ("auto", "flash", "xla")
QKV_CHOICES = ("fused", "split", "separate")
INIT_STDDEV = 0.02

logger = logging.getLogger("tfbsz.models")
_SAID = set()


def _one_line(text):
    return " ".join(str(text).split()) or "no reason given"


def flash_attention_support(query, key=None, value=None):
    """`(True, "")` if Keras can run flash attention on these arrays here, else `(False, why)`.

    Asks the Keras backend's own check (the one `dot_product_attention` runs),
    so the answer matches what Keras would do. Only `.shape` and `.dtype` of
    the arrays are read: `jax.ShapeDtypeStruct`s or tracers work.
    """
    key = query if key is None else key
    value = query if value is None else value
    backend = keras.backend.backend()
    try:
        module = __import__(f"keras.src.backend.{backend}.nn", fromlist=["_can_use_flash_attention"])
        check = module._can_use_flash_attention
    except (ImportError, AttributeError):
        return False, f"Keras's {backend} backend has no flash attention"
    try:
        check(query, key, value, None, raise_error=True)
    except Exception as e:  # the check raises whatever its backend raises (RuntimeError, NotImplementedError, ...)
        where = backend
        if backend == "jax":
            import jax

            where = f"jax on {jax.devices()[0].platform}"
        return False, f"{where}: {_one_line(e)}"
    return True, ""


def choose_kernel(requested, query, key=None, value=None):
    """The kernel a layer asked for `requested` runs on these arrays: `(kernel, reason)`.

    `kernel` is `"flash"` or `"xla"`; `reason` is empty when the request is
    met as asked (`auto` finding flash attention, `flash`, `xla`) and says why
    otherwise (`auto` or `flash` falling back to `xla`).
    """
    if requested not in ATTENTION_CHOICES:
        raise ConfigError(
            f"model.attention: expected one of {', '.join(ATTENTION_CHOICES)}, got {requested!r}"
        )
    if requested == "xla":
        return "xla", ""
    if requested == "auto" and keras.config.is_flash_attention_enabled() is False:
        return "xla", "flash attention is off (keras.config.disable_flash_attention())"
    available, why = flash_attention_support(query, key, value)
    if available:
        return "flash", ""
    return "xla", f"flash attention unavailable ({why})"


def _say_once(requested, reason):
    message = f"model.attention: {requested}: {reason}; using XLA attention"
    if message not in _SAID:
        _SAID.add(message)
        logger.warning(message)


def split_fused_qkv(kernel, bias=None):
    """The `(query, key, value)` kernels (and biases) held in a fused `qkv` kernel.

    The fused kernel is `[d_model, 3 * d_model]` with columns in `[3, heads,
    head_size]` order, so its thirds are the separate kernels.

    >>> import numpy as np
    >>> q, k, v = split_fused_qkv(np.arange(12).reshape(2, 6))
    >>> q.tolist(), v.tolist()
    ([[0, 1], [6, 7]], [[4, 5], [10, 11]])
    """
    width = kernel.shape[-1] // 3
    kernels = tuple(kernel[..., i * width:(i + 1) * width] for i in range(3))
    if bias is None:
        return kernels
    biases = tuple(bias[i * width:(i + 1) * width] for i in range(3))
    return kernels, biases


@keras.saving.register_keras_serializable(package="tfbsz")
class CausalSelfAttention(keras.layers.Layer):
    """Multi-head self-attention in which position t sees only positions <= t.

    Args:
        num_heads: number of attention heads; must divide the input width.
        output_stddev: stddev of the output projection's initial kernel.
        attention: `"auto"`, `"flash"` or `"xla"` (see the module docstring).
        qkv: `"fused"`, `"split"` or `"separate"` query/key/value projection
            (see the module docstring).
    """

    def __init__(self, num_heads, output_stddev=INIT_STDDEV, attention="auto", qkv="fused", **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1:
            raise ConfigError(f"model.num_heads: expected an integer >= 1, got {num_heads!r}")
        if attention not in ATTENTION_CHOICES:
            raise ConfigError(
                f"model.attention: expected one of {', '.join(ATTENTION_CHOICES)}, got {attention!r}"
            )
        if qkv not in QKV_CHOICES:
            raise ConfigError(f"model.qkv: expected one of {', '.join(QKV_CHOICES)}, got {qkv!r}")
        self.num_heads = num_heads
        self.output_stddev = output_stddev
        self.attention = attention
        self.qkv_projection = qkv

    def _dense(self, units, stddev, name, input_shape):
        layer = keras.layers.Dense(
            units,
            kernel_initializer=keras.initializers.RandomNormal(stddev=stddev),
            dtype=self.dtype_policy,
            name=name,
        )
        layer.build(input_shape)
        return layer

    def build(self, input_shape):
        if self.built:
            return
        d_model = int(input_shape[-1])
        if d_model % self.num_heads:
            raise ConfigError(
                f"model.num_heads: must divide d_model={d_model}, got {self.num_heads}"
            )
        if self.qkv_projection in ("fused", "split"):
            self.qkv = self._dense(3 * d_model, INIT_STDDEV, "qkv", input_shape)
        else:
            self.query = self._dense(d_model, INIT_STDDEV, "query", input_shape)
            self.key = self._dense(d_model, INIT_STDDEV, "key", input_shape)
            self.value = self._dense(d_model, INIT_STDDEV, "value", input_shape)
        self.out = self._dense(
            d_model, self.output_stddev, "output", tuple(input_shape[:-1]) + (d_model,)
        )
        self.built = True

    def _heads(self, inputs):
        batch, length, d_model = ops.shape(inputs)
        head_dim = d_model // self.num_heads
        shape = (batch, length, self.num_heads, head_dim)
        if self.qkv_projection == "fused":
            qkv = ops.reshape(self.qkv(inputs), (batch, length, 3, self.num_heads, head_dim))
            return qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        if self.qkv_projection == "split":  # Dense.call's matmul and bias add, a third of the kernel each
            kernel, bias = self.qkv.kernel, self.qkv.bias
            return tuple(
                ops.reshape(ops.add(ops.matmul(inputs, kernel[:, i * d_model:(i + 1) * d_model]),
                                    bias[i * d_model:(i + 1) * d_model]), shape)
                for i in range(3)
            )
        return tuple(ops.reshape(dense(inputs), shape) for dense in (self.query, self.key, self.value))

    def call(self, inputs):
        batch, length, d_model = ops.shape(inputs)
        query, key, value = self._heads(inputs)
        kernel, reason = choose_kernel(self.attention, query, key, value)
        if reason:
            _say_once(self.attention, reason)
        mixed = ops.dot_product_attention(
            query, key, value, is_causal=True, flash_attention=kernel == "flash"
        )
        return self.out(ops.reshape(mixed, (batch, length, d_model)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "output_stddev": self.output_stddev,
            "attention": self.attention,
            "qkv": self.qkv_projection,
        })
        return config
