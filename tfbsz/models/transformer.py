"""Decoder-only causal Transformer language model (GPT-style, pre-LayerNorm).

Architecture, for tokens `[batch, seq_len]`:

1. token embedding (`vocab x d_model`) + learned position embedding
   (`seq_len x d_model`), then dropout;
2. `num_layers` blocks, each `x + Attn(LN(x))` then `x + MLP(LN(x))`, where
   Attn is causal multi-head self-attention (`CausalSelfAttention`, built on
   `keras.ops.dot_product_attention(..., is_causal=True)`, so
   `keras.config.enable_flash_attention()` takes effect on GPUs) and MLP is
   `Dense(mlp_dim, gelu) -> Dense(d_model)`; dropout on each branch output;
3. final LayerNorm, then the output projection to the vocabulary: the
   transposed token embedding when `tie_embeddings` (`TiedEmbedding` called
   with `reverse=True`), a bias-free Dense layer otherwise;
4. a float32 linear activation named `logits`, so logits stay float32 under
   `mixed_float16` / `mixed_bfloat16`.

Weights start GPT-2 style: normal(0, 0.02), residual output projections
normal(0, 0.02 / sqrt(2 * num_layers)), zero biases. The trainable parameter
count is `tfbsz.models.transformer_num_params(...)`.

Example:

>>> import numpy as np
>>> model = build_transformer(input_shape=(16,), num_classes=50, num_layers=1,
...                           d_model=32, num_heads=2, mlp_dim=64)
>>> tuple(model(np.zeros((3, 16), "int32")).shape)
(3, 16, 50)
"""

import math

import keras
from keras import ops

from tfbsz.core.errors import ConfigError
from tfbsz.models import require_bool, require_fraction, require_int

__all__ = ["build_transformer", "CausalSelfAttention", "TiedEmbedding", "PositionEmbedding"]

INIT_STDDEV = 0.02


@keras.saving.register_keras_serializable(package="tfbsz")
class TiedEmbedding(keras.layers.Layer):
    """Token embedding that can also project hidden states back onto the vocabulary.

    `layer(tokens)` looks up rows of the `[vocab, d_model]` table;
    `layer(hidden, reverse=True)` returns `hidden @ table.T`, i.e. logits over
    the vocabulary with the same weights (Press & Wolf, 2017).

    >>> import numpy as np
    >>> layer = TiedEmbedding(vocab_size=5, output_dim=3)
    >>> tuple(layer(np.array([[1, 4]])).shape), tuple(layer(np.ones((1, 2, 3)), reverse=True).shape)
    ((1, 2, 3), (1, 2, 5))
    """

    def __init__(self, vocab_size, output_dim, stddev=INIT_STDDEV, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.output_dim = output_dim
        self.stddev = stddev

    def build(self, input_shape=None):
        if self.built:
            return
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.vocab_size, self.output_dim),
            initializer=keras.initializers.RandomNormal(stddev=self.stddev),
        )
        self.built = True

    def call(self, inputs, reverse=False):
        if reverse:
            return ops.matmul(inputs, ops.transpose(ops.cast(self.embeddings, inputs.dtype)))
        return ops.take(self.embeddings, ops.cast(inputs, "int32"), axis=0)

    def compute_output_spec(self, inputs, reverse=False):
        if reverse:
            shape = tuple(inputs.shape[:-1]) + (self.vocab_size,)
        else:
            shape = tuple(inputs.shape) + (self.output_dim,)
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"vocab_size": self.vocab_size, "output_dim": self.output_dim, "stddev": self.stddev}
        )
        return config


@keras.saving.register_keras_serializable(package="tfbsz")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned `[max_length, dim]` position embedding to `[batch, length, dim]` inputs.

    >>> import numpy as np
    >>> tuple(PositionEmbedding(max_length=8)(np.zeros((2, 5, 4), "float32")).shape)
    (2, 5, 4)
    """

    def __init__(self, max_length, stddev=INIT_STDDEV, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length
        self.stddev = stddev

    def build(self, input_shape):
        if self.built:
            return
        self.position_embeddings = self.add_weight(
            name="position_embeddings",
            shape=(self.max_length, input_shape[-1]),
            initializer=keras.initializers.RandomNormal(stddev=self.stddev),
        )
        self.built = True

    def call(self, inputs):
        _, length, dim = ops.shape(inputs)
        table = ops.convert_to_tensor(self.position_embeddings)
        positions = ops.slice(table, (0, 0), (length, dim))
        return inputs + ops.cast(positions, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"max_length": self.max_length, "stddev": self.stddev})
        return config


@keras.saving.register_keras_serializable(package="tfbsz")
class CausalSelfAttention(keras.layers.Layer):
    """Multi-head self-attention in which position t sees only positions <= t.

    A fused Dense layer (`qkv`) makes queries, keys and values of `num_heads`
    heads of size `d_model / num_heads`; `keras.ops.dot_product_attention`
    with `is_causal=True` mixes them (it uses flash attention where
    `keras.config.enable_flash_attention()` is on and the hardware allows);
    a Dense layer (`output`) projects the heads back to `d_model`.

    Args:
        num_heads: number of attention heads; must divide the input width.
        output_stddev: stddev of the output projection's initial kernel.

    >>> import numpy as np
    >>> tuple(CausalSelfAttention(num_heads=2)(np.zeros((1, 4, 8), "float32")).shape)
    (1, 4, 8)
    """

    def __init__(self, num_heads, output_stddev=INIT_STDDEV, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.output_stddev = output_stddev

    def build(self, input_shape):
        if self.built:
            return
        d_model = int(input_shape[-1])
        if d_model % self.num_heads:
            raise ConfigError(
                f"model.num_heads: must divide d_model={d_model}, got {self.num_heads}"
            )
        self.qkv = keras.layers.Dense(
            3 * d_model,
            kernel_initializer=keras.initializers.RandomNormal(stddev=INIT_STDDEV),
            dtype=self.dtype_policy,
            name="qkv",
        )
        self.qkv.build(input_shape)
        self.out = keras.layers.Dense(
            d_model,
            kernel_initializer=keras.initializers.RandomNormal(stddev=self.output_stddev),
            dtype=self.dtype_policy,
            name="output",
        )
        self.out.build(tuple(input_shape[:-1]) + (d_model,))
        self.built = True

    def call(self, inputs):
        batch, length, d_model = ops.shape(inputs)
        head_dim = d_model // self.num_heads
        qkv = ops.reshape(self.qkv(inputs), (batch, length, 3, self.num_heads, head_dim))
        query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        mixed = ops.dot_product_attention(query, key, value, is_causal=True)
        return self.out(ops.reshape(mixed, (batch, length, d_model)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"num_heads": self.num_heads, "output_stddev": self.output_stddev})
        return config


def build_transformer(
    input_shape,
    num_classes,
    num_layers=2,
    d_model=64,
    num_heads=4,
    mlp_dim=256,
    dropout=0.0,
    tie_embeddings=True,
):
    """Builds the causal language model for sequences of `input_shape = (seq_len,)` tokens.

    Args:
        input_shape: `(seq_len,)`; seq_len sizes the position embedding.
        num_classes: vocabulary size.
        num_layers: number of Transformer blocks.
        d_model: width of the residual stream; a multiple of `num_heads`.
        num_heads: attention heads per block.
        mlp_dim: hidden width of each block's MLP.
        dropout: dropout rate on embeddings and on each residual branch, in [0, 1).
        tie_embeddings: project to the vocabulary with the token embedding.

    Returns:
        A functional `keras.Model` named `transformer`, tokens `[batch,
        seq_len]` (int32) to float32 logits `[batch, seq_len, vocab]`.

    Raises:
        ConfigError: an option out of range, or `input_shape` not of rank 1.
    """
    seq_len = input_shape[0] if len(input_shape) == 1 else None
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise ConfigError(
            "model.name: model 'transformer' needs token sequences of shape (seq_len,) "
            f"with a fixed seq_len >= 1, got input shape {tuple(input_shape)}"
        )
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError(
            f"model.name: model 'transformer' needs a vocabulary of >= 2 tokens "
            f"(the data set's num_classes), got {num_classes!r}"
        )
    vocab = num_classes
    require_int("num_layers", num_layers)
    require_int("d_model", d_model)
    require_int("num_heads", num_heads)
    require_int("mlp_dim", mlp_dim)
    dropout = require_fraction("dropout", dropout)
    require_bool("tie_embeddings", tie_embeddings)
    if d_model % num_heads:
        raise ConfigError(
            f"model.num_heads: must divide model.d_model={d_model}, got {num_heads}"
        )

    normal = keras.initializers.RandomNormal
    residual_stddev = INIT_STDDEV / math.sqrt(2 * num_layers)

    tokens = keras.Input(shape=(seq_len,), dtype="int32", name="tokens")
    if tie_embeddings:
        token_embedding = TiedEmbedding(vocab, d_model, name="token_embedding")
    else:
        token_embedding = keras.layers.Embedding(
            vocab, d_model, embeddings_initializer=normal(stddev=INIT_STDDEV),
            name="token_embedding",
        )
    x = token_embedding(tokens)
    x = PositionEmbedding(seq_len, name="position_embedding")(x)
    x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)

    for i in range(num_layers):
        prefix = f"block_{i}"
        h = keras.layers.LayerNormalization(epsilon=1e-5, name=f"{prefix}_attention_norm")(x)
        h = CausalSelfAttention(
            num_heads, output_stddev=residual_stddev, name=f"{prefix}_attention"
        )(h)
        h = keras.layers.Dropout(dropout, name=f"{prefix}_attention_dropout")(h)
        x = keras.layers.Add(name=f"{prefix}_attention_residual")([x, h])

        h = keras.layers.LayerNormalization(epsilon=1e-5, name=f"{prefix}_mlp_norm")(x)
        h = keras.layers.Dense(
            mlp_dim, activation="gelu", kernel_initializer=normal(stddev=INIT_STDDEV),
            name=f"{prefix}_mlp_hidden",
        )(h)
        h = keras.layers.Dense(
            d_model, kernel_initializer=normal(stddev=residual_stddev),
            name=f"{prefix}_mlp_output",
        )(h)
        h = keras.layers.Dropout(dropout, name=f"{prefix}_mlp_dropout")(h)
        x = keras.layers.Add(name=f"{prefix}_mlp_residual")([x, h])

    x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    if tie_embeddings:
        x = token_embedding(x, reverse=True)
    else:
        x = keras.layers.Dense(
            vocab, use_bias=False, kernel_initializer=normal(stddev=INIT_STDDEV),
            name="output_projection",
        )(x)
    logits = keras.layers.Activation("linear", dtype="float32", name="logits")(x)
    return keras.Model(tokens, logits, name="transformer")
