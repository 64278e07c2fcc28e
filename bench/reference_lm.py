"""The plain Keras language model that tfbsz's Transformer is measured against (bench scripts only).

A GPT-style decoder written the way a Keras user would: token + learned position embeddings
(`keras.layers.Embedding`), pre-LayerNorm blocks of `keras.layers.MultiHeadAttention(...,
use_causal_mask=True)` and a GELU MLP, a final LayerNorm and a Dense layer to the vocabulary.

`float32_logits_dense=True` makes that last Dense layer float32 (its matmul too; what
bench/scaling.py has always measured); False keeps it in the dtype policy and adds a float32
linear activation, as Keras's mixed-precision guide recommends. Keras's global flash-attention
switch is read when each `MultiHeadAttention` is built: pass `flash_attention=False` to build a
model whose attention runs the XLA path (`keras.config.disable_flash_attention()` for the
duration of the build), or None to leave the switch as it is.
"""

import contextlib


@contextlib.contextmanager
def _flash_switch(keras, flash_attention):
    if flash_attention is None:
        yield
        return
    previous = keras.config.is_flash_attention_enabled()
    (keras.config.enable_flash_attention if flash_attention else keras.config.disable_flash_attention)()
    try:
        yield
    finally:
        if previous is False:
            keras.config.disable_flash_attention()
        else:
            keras.config.enable_flash_attention()


def build_mha_language_model(keras, vocab, seq_len, width, layers, heads, mlp_dim=None,
                             float32_logits_dense=True, flash_attention=None, name="decoder_lm"):
    """Tokens `[batch, seq_len]` (int32) to float32 logits `[batch, seq_len, vocab]`."""
    ops = keras.ops
    mlp_dim = mlp_dim or 4 * width

    class TokenAndPositionEmbedding(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.tokens = keras.layers.Embedding(vocab, width, name="tokens")
            self.positions = keras.layers.Embedding(seq_len, width, name="positions")

        def call(self, token_ids):
            positions = ops.arange(ops.shape(token_ids)[-1])
            return self.tokens(token_ids) + self.positions(positions)

    with _flash_switch(keras, flash_attention):
        token_ids = keras.Input((seq_len,), dtype="int32", name="token_ids")
        h = TokenAndPositionEmbedding(name="embedding")(token_ids)
        for i in range(layers):
            a = keras.layers.LayerNormalization(epsilon=1e-5, name=f"block{i}_attention_norm")(h)
            a = keras.layers.MultiHeadAttention(heads, width // heads, name=f"block{i}_attention")(
                a, a, use_causal_mask=True
            )
            h = keras.layers.Add(name=f"block{i}_attention_residual")([h, a])
            m = keras.layers.LayerNormalization(epsilon=1e-5, name=f"block{i}_mlp_norm")(h)
            m = keras.layers.Dense(mlp_dim, activation="gelu", name=f"block{i}_mlp_in")(m)
            m = keras.layers.Dense(width, name=f"block{i}_mlp_out")(m)
            h = keras.layers.Add(name=f"block{i}_mlp_residual")([h, m])
        h = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")(h)
        if float32_logits_dense:
            logits = keras.layers.Dense(vocab, dtype="float32", name="logits")(h)
        else:
            h = keras.layers.Dense(vocab, use_bias=False, name="output_projection")(h)
            logits = keras.layers.Activation("linear", dtype="float32", name="logits")(h)
    return keras.Model(token_ids, logits, name=name)
