"""Vocabulary logits in float32 from a half-precision matmul.

Under `mixed_bfloat16` / `mixed_float16` the hidden states and the projection
kernel are half precision. `float32_logits(hidden, kernel)` multiplies them in
that precision (tensor cores) and returns float32 logits:

* JAX backend: one matmul whose accumulator is written out as float32
  (`preferred_element_type`), so the logits are never rounded to 8 bits of
  mantissa and no separate half-precision `[batch, seq, vocab]` array is
  written and converted; the backward pass casts the float32 logit gradient to
  half precision and runs the two gradient matmuls there, as the plain
  half-precision matmul would (`tfbsz.models.jax_logits`).
* other backends, or float32 inputs: `cast(matmul(hidden, kernel), float32)`,
  the computation used before this helper existed.

>>> import numpy as np
>>> h = np.ones((2, 3, 4), "float32"); w = np.ones((5, 4), "float32")
>>> out = float32_logits(h, w, kernel_is_vocab_major=True)
>>> tuple(out.shape), keras.backend.standardize_dtype(out.dtype)
((2, 3, 5), 'float32')
"""

import keras
from keras import ops

__all__ = ["float32_logits", "VocabularyProjection"]

HALF_DTYPES = ("bfloat16", "float16")


def float32_logits(hidden, kernel, kernel_is_vocab_major=False):
    """`hidden @ kernel` (or `hidden @ kernel.T` when `kernel_is_vocab_major`) as float32.

    Args:
        hidden: `[..., d_model]` hidden states.
        kernel: `[d_model, vocab]`, or `[vocab, d_model]` with `kernel_is_vocab_major`
            (a tied token-embedding table); cast to `hidden`'s dtype first.
        kernel_is_vocab_major: whether `kernel` is `[vocab, d_model]`.
    """
    kernel = ops.cast(kernel, hidden.dtype)
    dtype = keras.backend.standardize_dtype(hidden.dtype)
    if keras.backend.backend() == "jax" and dtype in HALF_DTYPES:
        from tfbsz.models import jax_logits

        return jax_logits.half_matmul_float32(hidden, kernel, kernel_is_vocab_major)
    if kernel_is_vocab_major:
        kernel = ops.transpose(kernel)
    return ops.cast(ops.matmul(hidden, kernel), "float32")


@keras.saving.register_keras_serializable(package="tfbsz")
class VocabularyProjection(keras.layers.Dense):
    """A bias-free Dense layer to the vocabulary whose output is float32 logits (`float32_logits`).

    >>> import numpy as np
    >>> layer = VocabularyProjection(7, dtype="mixed_bfloat16")
    >>> keras.backend.standardize_dtype(layer(np.ones((2, 3), "float32")).dtype)
    'float32'
    """

    def __init__(self, units, **kwargs):
        kwargs.setdefault("use_bias", False)
        if kwargs["use_bias"] or kwargs.get("activation") not in (None, "linear"):
            raise ValueError("VocabularyProjection: no bias and no activation (logits are a plain projection)")
        super().__init__(units, **kwargs)

    def call(self, inputs, training=None):
        return float32_logits(ops.cast(inputs, self.compute_dtype), self.kernel)

    def compute_output_spec(self, inputs, training=None):
        return keras.KerasTensor(tuple(inputs.shape[:-1]) + (self.units,), dtype="float32")
