"""Decoder-only causal Transformer language model (GPT-style, pre-LayerNorm).

Architecture, for tokens `[batch, seq_len]`:

1. token embedding (`vocab x d_model`) + learned position embedding
   (`seq_len x d_model`), then dropout;
2. `num_layers` blocks, each `x + Attn(LN(x))` then `x + MLP(LN(x))`, where
   Attn is causal multi-head self-attention (`tfbsz.models.attention.
   CausalSelfAttention`: `attention` picks flash or XLA attention, `qkv` the
   query/key/value projection) and MLP is `Dense(mlp_dim, gelu) -> Dense(d_model)`;
   dropout on each branch output;
3. final LayerNorm, then the output projection to the vocabulary: the
   transposed token embedding when `tie_embeddings` (`TiedEmbedding` called
   with `reverse=True`), a bias-free `VocabularyProjection` otherwise; either
   way a half-precision matmul whose output is float32 logits
   (`tfbsz.models.logits.float32_logits`);
4. a float32 linear activation named `logits` (kept so the layer names of
   earlier models stay).

With `remat=True` each block is one `RematBlock` layer whose activations are
recomputed in the backward pass instead of stored (`keras.remat`): about one
more forward pass of compute for memory that no longer grows with the number
of layers times the block's internals, for long sequences or big batches.
Without it the blocks are plain layers of the functional model, as in models
saved before the option existed.

Weights start GPT-2 style: normal(0, 0.02), residual output projections
normal(0, 0.02 / sqrt(2 * num_layers)), zero biases. The trainable parameter
count is `tfbsz.models.transformer_num_params(...)`, whatever the options.

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
from tfbsz.models import require_bool, require_choice, require_fraction, require_int
from tfbsz.models.attention import ATTENTION_CHOICES, QKV_CHOICES, CausalSelfAttention
from tfbsz.models.logits import VocabularyProjection, float32_logits

__all__ = [
    "build_transformer",
    "CausalSelfAttention",
    "TiedEmbedding",
    "PositionEmbedding",
    "RematBlock",
]

INIT_STDDEV = 0.02


@keras.saving.register_keras_serializable(package="tfbsz")
class TiedEmbedding(keras.layers.Layer):
    """Token embedding that can also project hidden states back onto the vocabulary.

    `layer(tokens)` looks up rows of the `[vocab, d_model]` table;
    `layer(hidden, reverse=True)` returns float32 logits `hidden @ table.T`
    with the same weights (Press & Wolf, 2017).

    The table is never autocast (the variable is made with `autocast=False`,
    which holds also inside `stateless_call`, where Keras's JAX trainer runs
    the model and where a layer's own `autocast = False` is not honoured): the
    lookup reads the float32 table and casts the rows it takes to the compute
    dtype, so under mixed precision the gradient of the lookup is summed in
    float32; the reverse projection multiplies in the compute dtype and
    returns float32 (`tfbsz.models.logits.float32_logits`).

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
            autocast=False,
        )
        self.built = True

    def call(self, inputs, reverse=False):
        if reverse:
            hidden = ops.cast(inputs, self.compute_dtype)
            return float32_logits(hidden, self.embeddings, kernel_is_vocab_major=True)
        rows = ops.take(self.embeddings, ops.cast(inputs, "int32"), axis=0)
        return ops.cast(rows, self.compute_dtype)

    def compute_output_spec(self, inputs, reverse=False):
        if reverse:
            return keras.KerasTensor(tuple(inputs.shape[:-1]) + (self.vocab_size,), dtype="float32")
        return keras.KerasTensor(tuple(inputs.shape) + (self.output_dim,), dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"vocab_size": self.vocab_size, "output_dim": self.output_dim, "stddev": self.stddev}
        )
        return config


@keras.saving.register_keras_serializable(package="tfbsz")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned `[max_length, dim]` position embedding to `[batch, length, dim]` inputs.

    The sum is taken in float32 (the table is not autocast) and cast to the
    compute dtype once, so under mixed precision the table's gradient, a sum
    over the batch, is accumulated in float32.

    Each token's row is gathered (`take` with the `[batch, length]` position
    indices) rather than the first `length` rows being sliced out and broadcast
    over the batch: the values are the same, but the table's gradient becomes a
    scatter-add instead of a reduction over the batch axis. XLA's GPU compiler
    lays out the operand of a reduction with a rank >= 2 result so that the
    reduced axes are the fastest-varying, and propagates that layout through
    element-wise ops; for the broadcast it laid out the whole residual stream
    (every block's input and its gradient) as `[length, dim, batch]`, and
    transposed it back around every LayerNorm and matmul: 14% of the step of
    the 86M model on an H200 (docs/benchmarks.md, "Transformer MFU").

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
            autocast=False,
        )
        self.built = True

    def call(self, inputs):
        batch, length = ops.shape(inputs)[0], ops.shape(inputs)[1]
        table = ops.convert_to_tensor(self.position_embeddings)
        positions = ops.broadcast_to(ops.arange(length, dtype="int32"), (batch, length))
        rows = ops.take(table, positions, axis=0)  # gradient: a scatter-add, no batch reduction
        summed = ops.cast(inputs, rows.dtype) + rows
        return ops.cast(summed, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"max_length": self.max_length, "stddev": self.stddev})
        return config


def block_layers(index, d_model, num_heads, mlp_dim, dropout=0.0, residual_stddev=INIT_STDDEV, attention="auto",
                 qkv="fused"):
    """The layers of Transformer block `index`, by role, named `block_<index>_<role>`."""
    normal = keras.initializers.RandomNormal
    prefix = f"block_{index}"
    return {
        "attention_norm": keras.layers.LayerNormalization(epsilon=1e-5, name=f"{prefix}_attention_norm"),
        "attention": CausalSelfAttention(
            num_heads, output_stddev=residual_stddev, attention=attention, qkv=qkv,
            name=f"{prefix}_attention",
        ),
        "attention_dropout": keras.layers.Dropout(dropout, name=f"{prefix}_attention_dropout"),
        "attention_residual": keras.layers.Add(name=f"{prefix}_attention_residual"),
        "mlp_norm": keras.layers.LayerNormalization(epsilon=1e-5, name=f"{prefix}_mlp_norm"),
        "mlp_hidden": keras.layers.Dense(
            mlp_dim, activation="gelu", kernel_initializer=normal(stddev=INIT_STDDEV), name=f"{prefix}_mlp_hidden",
        ),
        "mlp_output": keras.layers.Dense(
            d_model, kernel_initializer=normal(stddev=residual_stddev), name=f"{prefix}_mlp_output",
        ),
        "mlp_dropout": keras.layers.Dropout(dropout, name=f"{prefix}_mlp_dropout"),
        "mlp_residual": keras.layers.Add(name=f"{prefix}_mlp_residual"),
    }


def apply_block(layers, x, training=None):
    """`x + Attn(LN(x))`, then `+ MLP(LN(.))`, with the layers of `block_layers`.

    Called with symbolic tensors it adds the block to a functional model;
    `RematBlock` calls it with real tensors.
    """
    kwargs = {} if training is None else {"training": training}
    h = layers["attention"](layers["attention_norm"](x))
    h = layers["attention_dropout"](h, **kwargs)
    x = layers["attention_residual"]([x, h])
    h = layers["mlp_output"](layers["mlp_hidden"](layers["mlp_norm"](x)))
    h = layers["mlp_dropout"](h, **kwargs)
    return layers["mlp_residual"]([x, h])


@keras.saving.register_keras_serializable(package="tfbsz")
class RematBlock(keras.layers.Layer):
    """One Transformer block whose activations are recomputed in the backward pass (`keras.remat`).

    Holds the layers of `block_layers` (same names, so its weights are
    `block_<i>/block_<i>_<role>/...`) and computes `apply_block` under
    `keras.remat`: only the block's input is kept for the backward pass.
    Takes the `block_layers` arguments.

    >>> import numpy as np
    >>> block = RematBlock(0, d_model=8, num_heads=2, mlp_dim=16, attention="xla", name="block_0")
    >>> tuple(block(np.zeros((1, 4, 8), "float32")).shape)
    (1, 4, 8)
    """

    def __init__(self, index, d_model, num_heads, mlp_dim, dropout=0.0, residual_stddev=INIT_STDDEV,
                 attention="auto", qkv="fused", **kwargs):
        super().__init__(**kwargs)
        self.block_config = dict(index=index, d_model=d_model, num_heads=num_heads, mlp_dim=mlp_dim,
                                 dropout=dropout, residual_stddev=residual_stddev, attention=attention,
                                 qkv=qkv)
        self.roles = block_layers(**self.block_config)
        self.block_sublayers = list(self.roles.values())  # tracked: Keras saves and counts their weights

    def build(self, input_shape):
        if self.built:
            return
        shape = tuple(input_shape)
        for role in ("attention_norm", "attention", "mlp_norm", "mlp_hidden"):
            self.roles[role].build(shape)
        self.roles["mlp_output"].build(shape[:-1] + (self.block_config["mlp_dim"],))
        self.built = True

    def call(self, inputs, training=None):
        return keras.remat(lambda x: apply_block(self.roles, x, training))(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(self.block_config)
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
    attention="auto",
    qkv="fused",
    remat=False,
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
        attention: `"auto"` (flash attention where available, else XLA),
            `"flash"` or `"xla"`; see `tfbsz.models.attention`.
        qkv: the query/key/value projection: `"fused"` (one Dense layer, one
            matmul), `"split"` (the same weights, three matmuls) or `"separate"`
            (three Dense layers); see `tfbsz.models.attention`.
        remat: recompute each block's activations in the backward pass (`RematBlock`);
            needs `dropout` 0.

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
    require_choice("attention", attention, ATTENTION_CHOICES)
    require_choice("qkv", qkv, QKV_CHOICES)
    require_bool("remat", remat)
    if d_model % num_heads:
        raise ConfigError(
            f"model.num_heads: must divide model.d_model={d_model}, got {num_heads}"
        )
    if remat and dropout > 0:
        raise ConfigError(
            f"model.remat: needs model.dropout 0 (recomputing a block would draw new dropout masks), "
            f"got dropout {dropout}"
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

    block_options = dict(d_model=d_model, num_heads=num_heads, mlp_dim=mlp_dim, dropout=dropout, residual_stddev=residual_stddev,
                         attention=attention, qkv=qkv)
    for i in range(num_layers):
        if remat:
            x = RematBlock(i, name=f"block_{i}", **block_options)(x)
        else:
            x = apply_block(block_layers(i, **block_options), x)

    x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    if tie_embeddings:
        x = token_embedding(x, reverse=True)
    else:
        x = VocabularyProjection(
            vocab, kernel_initializer=normal(stddev=INIT_STDDEV), name="output_projection",
        )(x)
    logits = keras.layers.Activation("linear", dtype="float32", name="logits")(x)
    return keras.Model(tokens, logits, name="transformer")
