"""The Transformer's speed options compute what the plain model computes.

`attention: xla` is the old `dot_product_attention` call exactly; `auto`/`flash` fall back to it
where flash attention is absent (every CPU) and say so once; fused, split and separate QKV
projections agree given the same weights; `remat` gives the same outputs and gradients; the float32 logits
matmul has the plain half-precision matmul's gradient; the embedding gradients are summed in float32. Timings are in bench/transformer_mfu.py.
"""

import json
import logging
import zipfile

import keras
import numpy as np
import pytest

from tfbsz import models
from tfbsz.core.errors import ConfigError
from tfbsz.models import attention as attention_lib
from tfbsz.models.attention import CausalSelfAttention, choose_kernel, split_fused_qkv
from helpers import run_python
from model_testdata import TINY_TRANSFORMER, lm_data

FLASH_HERE = choose_kernel("flash", np.zeros((1, 16, 4, 8), "float16"))[0] == "flash"


def tokens(batch=3, seq_len=16, vocab=50, seed=0):
    return np.random.default_rng(seed).integers(0, vocab, (batch, seq_len)).astype("int32")


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def copy_weights(source, target, rename=lambda path: path):
    """Assigns `source`'s weights to `target`'s, matched by `rename(target path)` == source path."""
    by_path = {w.path: w for w in source.weights}
    for w in target.weights:
        w.assign(numpy(by_path[rename(w.path)].value).copy())


def test_xla_attention_is_the_former_dot_product_attention_call():
    layer = CausalSelfAttention(num_heads=2, attention="xla")
    x = np.random.default_rng(0).normal(size=(2, 6, 8)).astype("float32")
    got = numpy(layer(x))
    # What the layer computed before the option existed: flash_attention left to Keras (None).
    batch, length, width = x.shape
    qkv = keras.ops.reshape(layer.qkv(x), (batch, length, 3, 2, width // 2))
    mixed = keras.ops.dot_product_attention(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], is_causal=True)
    expected = numpy(layer.out(keras.ops.reshape(mixed, (batch, length, width))))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.skipif(FLASH_HERE, reason="flash attention is available here: nothing to fall back from")
@pytest.mark.parametrize("requested", ["auto", "flash"])
def test_without_flash_attention_the_option_falls_back_and_says_so_once(requested, caplog):
    attention_lib._SAID.clear()
    data = lm_data()
    xla = models.build(dict(TINY_TRANSFORMER, attention="xla"), data)
    other = models.build(dict(TINY_TRANSFORMER, attention=requested), data)
    copy_weights(xla, other)
    x = tokens()
    with caplog.at_level(logging.WARNING, logger="tfbsz.models"):
        first = numpy(other(x))
        numpy(other(tokens(seed=1)))  # both blocks, twice: still one line
    np.testing.assert_array_equal(first, numpy(xla(x)))
    lines = [r.getMessage() for r in caplog.records if r.name == "tfbsz.models"]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"model.attention: {requested}: flash attention unavailable (")
    assert lines[0].endswith("; using XLA attention") and "\n" not in lines[0]


def test_xla_says_nothing(caplog):
    attention_lib._SAID.clear()
    with caplog.at_level(logging.DEBUG, logger="tfbsz.models"):
        CausalSelfAttention(num_heads=2, attention="xla")(np.zeros((1, 4, 8), "float32"))
    assert not [r for r in caplog.records if r.name == "tfbsz.models"]


def test_choose_kernel_rejects_an_unknown_choice_by_key():
    with pytest.raises(ConfigError, match=r"model\.attention: expected one of auto, flash, xla, got 'fast'"):
        choose_kernel("fast", np.zeros((1, 4, 2, 4), "float32"))
    with pytest.raises(ConfigError, match=r"model\.attention: expected one of auto, flash, xla, got 'cudnn'"):
        models.build(dict(TINY_TRANSFORMER, attention="cudnn"), lm_data())


def test_remat_and_qkv_options_are_checked():
    with pytest.raises(ConfigError, match=r"model\.remat: expected true or false, got 1"):
        models.build(dict(TINY_TRANSFORMER, remat=1), lm_data())
    with pytest.raises(ConfigError, match=r"model\.qkv: expected one of fused, split, separate, got True"):
        models.build(dict(TINY_TRANSFORMER, qkv=True), lm_data())


def test_remat_with_dropout_is_refused():
    with pytest.raises(ConfigError, match=r"model\.remat: needs model\.dropout 0"):
        models.build(dict(TINY_TRANSFORMER, remat=True, dropout=0.1), lm_data())


def test_auto_is_xla_when_keras_flash_attention_is_disabled():
    keras.config.disable_flash_attention()
    try:
        kernel, reason = choose_kernel("auto", np.zeros((1, 4, 2, 8), "float16"))
    finally:
        keras.config.enable_flash_attention()
    assert kernel == "xla" and "disable_flash_attention" in reason


def test_fused_split_and_separate_projections_compute_the_same_function():
    data = lm_data()
    fused = models.build(TINY_TRANSFORMER, data)
    split = models.build(dict(TINY_TRANSFORMER, qkv="split"), data)
    separate = models.build(dict(TINY_TRANSFORMER, qkv="separate"), data)
    assert models.count_params(fused) == models.count_params(split) == models.count_params(separate)
    copy_weights(fused, split)  # split keeps the fused layout of the weights
    for i in range(TINY_TRANSFORMER["num_layers"]):
        f = fused.get_layer(f"block_{i}_attention")
        s = separate.get_layer(f"block_{i}_attention")
        kernels, biases = split_fused_qkv(numpy(f.qkv.kernel), numpy(f.qkv.bias))
        for dense, kernel, bias in zip((s.query, s.key, s.value), kernels, biases):
            dense.kernel.assign(kernel)
            dense.bias.assign(bias)
    shared = {w.path: w for w in fused.weights if "/qkv/" not in w.path}
    for w in separate.weights:
        if w.path in shared:
            w.assign(numpy(shared[w.path].value))
    x = tokens()
    expected = numpy(fused(x))
    np.testing.assert_allclose(numpy(split(x)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(numpy(separate(x)), expected, rtol=1e-5, atol=1e-6)


def _without_block_prefix(path):
    # RematBlock weights are block_<i>/block_<i>_<role>/...; the plain model's block_<i>_<role>/...
    head, _, rest = path.partition("/")
    return rest if head.startswith("block_") and rest.startswith(head + "_") else path


def test_remat_gives_the_same_outputs_and_gradients():
    data = lm_data()
    plain = models.build(TINY_TRANSFORMER, data)
    remat = models.build(dict(TINY_TRANSFORMER, remat=True), data)
    assert models.count_params(remat) == models.count_params(plain)
    assert [layer.name for layer in remat.layers if layer.name.startswith("block_")] == ["block_0", "block_1"]
    copy_weights(plain, remat, _without_block_prefix)
    x = tokens()
    y = np.roll(x, -1, axis=1)
    np.testing.assert_allclose(numpy(remat(x)), numpy(plain(x)), rtol=1e-6, atol=1e-6)
    before = {w.path: numpy(w.value).copy() for w in plain.weights}
    for model in (plain, remat):  # SGD at rate 1: each weight moves by minus its gradient
        model.compile(optimizer=keras.optimizers.SGD(1.0),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.train_on_batch(x, y)
    plain_after = {w.path: numpy(w.value) for w in plain.weights}
    moved = 0.0
    for w in remat.weights:
        path = _without_block_prefix(w.path)
        np.testing.assert_allclose(before[path] - numpy(w.value), before[path] - plain_after[path],
                                   rtol=1e-5, atol=1e-7, err_msg=path)
        moved = max(moved, float(np.abs(before[path] - plain_after[path]).max()))
    assert moved > 1e-4  # the step did change the weights


def test_remat_model_round_trips_through_a_keras_file(tmp_path):
    model = models.build(dict(TINY_TRANSFORMER, remat=True, qkv="separate", attention="xla"), lm_data())
    path = str(tmp_path / "remat.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    x = tokens()
    np.testing.assert_allclose(numpy(restored(x)), numpy(model(x)), rtol=1e-6, atol=1e-6)


def test_a_file_saved_before_the_options_existed_still_loads(tmp_path):
    model = models.build(TINY_TRANSFORMER, lm_data())
    path = tmp_path / "new.keras"
    model.save(str(path))
    old = tmp_path / "old.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                for layer in config["config"]["layers"]:
                    for key in ("attention", "qkv"):  # the options a former config lacks
                        layer["config"].pop(key, None)
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    restored = keras.saving.load_model(str(old))
    x = tokens()
    np.testing.assert_array_equal(numpy(restored(x)), numpy(model(x)))


@pytest.mark.skipif(not FLASH_HERE, reason="needs flash attention (JAX on an NVIDIA GPU with cuDNN)")
def test_flash_and_xla_attention_agree_within_bfloat16_tolerance():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        data = lm_data(vocab=256, seq_len=128)
        cfg = dict(TINY_TRANSFORMER, d_model=128, num_heads=2, mlp_dim=256)
        xla = models.build(dict(cfg, attention="xla"), data)
        flash = models.build(dict(cfg, attention="flash"), data)
        copy_weights(xla, flash)
        x = tokens(batch=4, seq_len=128, vocab=256)
        a, b = numpy(xla(x)), numpy(flash(x))
    finally:
        keras.config.set_dtype_policy(previous)
    scale = np.abs(a).max()
    assert np.abs(a - b).max() <= 2e-2 * scale, (np.abs(a - b).max(), scale)


JAX_CHECKS = r"""
import logging, types, numpy as np, keras, jax, jax.numpy as jnp
assert keras.backend.backend() == "jax"
from tfbsz import models
from tfbsz.models.jax_logits import half_matmul_float32

# 1. float32 logits: the forward is the float32 accumulator; the gradient is the plain bf16 matmul's.
rng = np.random.default_rng(0)
x = jnp.asarray(rng.normal(size=(2, 5, 8)), jnp.bfloat16)
table = jnp.asarray(rng.normal(size=(11, 8)), jnp.bfloat16)
weights = jnp.asarray(rng.normal(size=(2, 5, 11)), jnp.float32)
def new(x, t): return jnp.sum(half_matmul_float32(x, t, True) * weights)
def old(x, t): return jnp.sum(jnp.matmul(x, t.T).astype(jnp.float32) * weights)
exact = np.asarray(x, np.float32) @ np.asarray(table, np.float32).T
value = np.asarray(half_matmul_float32(x, table, True))
assert value.dtype == np.float32 and np.abs(value - exact).max() < 1e-5, np.abs(value - exact).max()
for got, want in zip(jax.grad(new, (0, 1))(x, table), jax.grad(old, (0, 1))(x, table)):
    assert got.dtype == want.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(got, np.float32), np.asarray(want, np.float32))
kernel = table.T
g_new = jax.grad(lambda x, k: jnp.sum(half_matmul_float32(x, k, False) * weights), (0, 1))(x, kernel)
g_old = jax.grad(lambda x, k: jnp.sum(jnp.matmul(x, k).astype(jnp.float32) * weights), (0, 1))(x, kernel)
for got, want in zip(g_new, g_old):
    np.testing.assert_array_equal(np.asarray(got, np.float32), np.asarray(want, np.float32))
# The backward matmuls run in bf16 (no f32 x bf16 dot in the gradient's jaxpr).
jaxpr = str(jax.make_jaxpr(jax.grad(new, (0, 1)))(x, table))
dots = [l for l in jaxpr.splitlines() if "dot_general" in l]
assert len(dots) == 3, jaxpr

# 2. A mixed_bfloat16 model: float32 logits; untied too; auto falls back on the CPU, once.
records = []
class Keep(logging.Handler):
    def emit(self, record): records.append(record.getMessage())
logging.getLogger("tfbsz.models").addHandler(Keep())
keras.config.set_dtype_policy("mixed_bfloat16")
data = types.SimpleNamespace(name="t", task="language_model", num_classes=40, input_shape=(12,))
tokens = rng.integers(0, 40, (4, 12)).astype("int32")
for tie in (True, False):
    for opts in ({}, {"qkv": "separate"}, {"qkv": "split"}, {"remat": True}):
        m = models.build(dict({"name": "transformer", "num_layers": 2, "d_model": 16, "num_heads": 2,
                               "mlp_dim": 32, "tie_embeddings": tie}, **opts), data)
        out = m(tokens)
        assert out.dtype == jnp.float32 and out.shape == (4, 12, 40), (out.dtype, out.shape)
        if (tie, opts) not in ((True, {"remat": True}), (False, {"qkv": "split"})):
            continue  # training every combination would only repeat these two compilations
        m.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        first = float(m.train_on_batch(tokens, np.roll(tokens, -1, 1)))
        for _ in range(3):
            last = float(m.train_on_batch(tokens, np.roll(tokens, -1, 1)))
        assert last < first, (tie, opts, first, last)
# 3. Inside stateless_call (how Keras's JAX trainer runs a model) the tied table is not autocast:
#    its lookup gradient is a float32 scatter-add.
m = models.build({"name": "transformer", "num_layers": 1, "d_model": 16, "num_heads": 2, "mlp_dim": 32}, data)
def loss(trainable):
    logits, _ = m.stateless_call(trainable, [], tokens, training=True)
    return jnp.mean(logits)
jaxpr = str(jax.make_jaxpr(jax.grad(loss))([v.value for v in m.trainable_variables]))
scatters = [l.strip() for l in jaxpr.splitlines() if "scatter-add[" in l]
assert scatters and all(l.split(":")[1].startswith("f32[") for l in scatters), scatters
assert records == ["model.attention: auto: flash attention unavailable (jax on cpu: cuDNN is not detected.); "
                   "using XLA attention"], records
print("OK")
"""


def test_jax_float32_logits_gradients_and_options_train():
    proc = run_python(JAX_CHECKS, backend="jax", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("OK")
