"""The causal Transformer: causality, tied embeddings, exact size, JAX backend."""

import keras
import numpy as np
import pytest

from tfbsz import models
from tfbsz.models.transformer import CausalSelfAttention
from helpers import run_python
from model_testdata import TINY_TRANSFORMER, lm_data


def tokens(batch=2, seq_len=16, vocab=50, seed=0):
    return np.random.default_rng(seed).integers(0, vocab, (batch, seq_len)).astype("int32")


@pytest.mark.parametrize("position", [0, 7, 15])
def test_changing_a_token_changes_no_earlier_logits(position):
    keras.utils.set_random_seed(0)
    model = models.build(TINY_TRANSFORMER, lm_data())
    x = tokens()
    changed = x.copy()
    changed[:, position] = (changed[:, position] + 1) % 50
    before = keras.ops.convert_to_numpy(model(x))
    after = keras.ops.convert_to_numpy(model(changed))
    np.testing.assert_allclose(after[:, :position], before[:, :position], atol=1e-6)
    # and the changed position itself does see its own token
    assert np.abs(after[:, position] - before[:, position]).max() > 1e-4


def test_attention_layer_is_causal_on_its_own():
    keras.utils.set_random_seed(0)
    layer = CausalSelfAttention(num_heads=2)
    x = np.random.default_rng(0).normal(size=(1, 6, 8)).astype("float32")
    y = keras.ops.convert_to_numpy(layer(x))
    x2 = x.copy()
    x2[:, 4:] += 1.0
    y2 = keras.ops.convert_to_numpy(layer(x2))
    np.testing.assert_allclose(y2[:, :4], y[:, :4], atol=1e-6)
    # The output is small (kernels start at stddev 0.02), so "changed" is judged against its own
    # scale: over 20 seeds the later positions moved by 0.25-0.8 of the largest output.
    assert np.abs(y2[:, 4:] - y[:, 4:]).max() > 0.1 * np.abs(y).max()


@pytest.mark.parametrize("tie", [True, False])
def test_parameter_count_matches_the_documented_formula(tie):
    cfg = dict(TINY_TRANSFORMER, tie_embeddings=tie)
    model = models.build(cfg, lm_data(vocab=50, seq_len=16))
    expected = models.transformer_num_params(2, 32, 64, vocab=50, seq_len=16, tie_embeddings=tie)
    assert models.count_params(model) == expected
    assert ("output_projection" in [layer.name for layer in model.layers]) == (not tie)


def test_default_tiny_config_size():
    model = models.build({"name": "transformer"}, lm_data(vocab=256, seq_len=64))
    assert models.count_params(model) == 120576


def test_tied_output_uses_the_token_embedding():
    model = models.build(TINY_TRANSFORMER, lm_data())
    table = model.get_layer("token_embedding").embeddings
    table.assign(np.zeros(table.shape, "float32"))
    logits = keras.ops.convert_to_numpy(model(tokens()))
    np.testing.assert_allclose(logits, 0.0, atol=1e-7)


JAX_SMOKE = """
import keras, numpy as np
assert keras.backend.backend() == "jax", keras.backend.backend()
from tfbsz import models
import types
data = types.SimpleNamespace(name="t", task="language_model", num_classes=40, input_shape=(12,))
model = models.build({"name": "transformer", "num_layers": 1, "d_model": 16, "num_heads": 2,
                      "mlp_dim": 32}, data)
x = np.random.default_rng(0).integers(0, 40, (4, 12)).astype("int32")
y = np.roll(x, -1, axis=1)
out = np.asarray(model(x))
changed = x.copy(); changed[:, 6] = (changed[:, 6] + 1) % 40
assert np.allclose(np.asarray(model(changed))[:, :6], out[:, :6], atol=1e-6), "not causal"
loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss)
before = float(loss(y, model(x)))
for _ in range(3):
    model.train_on_batch(x, y)
after = float(loss(y, model(x)))
assert after < before, (before, after)
keras.mixed_precision.set_global_policy("mixed_bfloat16")
cnn = models.build({"name": "simple_cnn", "filters": [2, 4], "dense_units": 8},
                   types.SimpleNamespace(name="i", task="classification", num_classes=3,
                                         input_shape=(8, 8, 1)))
print("OK", out.shape, out.dtype, cnn(np.zeros((2, 8, 8, 1), "float32")).dtype)
"""


def test_models_build_and_train_on_the_jax_backend():
    proc = run_python(JAX_SMOKE, backend="jax", timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OK (4, 12, 40) float32 float32" in proc.stdout
