"""The Transformer's train step has no reduction that XLA's GPU compiler would relayout its input for.

XLA's GPU layout assignment gives the operand of a reduction with a result of rank >= 2 a layout in
which the reduced axes vary fastest, and propagates it through element-wise ops. The position
embedding's gradient used to be such a reduction (a sum over the batch of `[batch, seq, d_model]`),
and on an H200 the whole residual stream ended up laid out `[seq, d_model, batch]`, transposed back
around every LayerNorm and matmul (14% of the 86M model's step; docs/benchmarks.md). CPUs do not
relayout reductions, so the test reads the train step's HLO before optimisation
(`bench/hlo_census.py`) for every model option; the old position embedding, rebuilt here, shows the
check finds what it looks for. Timings with and without the fix: bench/transformer_mfu.py.
"""

from helpers import run_python

CHECKS = r"""
import sys
sys.path[:0] = ["bench", "tests/models"]
import jax, keras, numpy as np
from keras import ops
assert keras.backend.backend() == "jax"
import hlo_census
from tfbsz import models
from tfbsz.models import transformer
from model_testdata import lm_data

keras.config.set_dtype_policy("mixed_bfloat16")
data = lm_data(vocab=64, seq_len=16)
x = np.random.default_rng(0).integers(0, 64, (4, 16)).astype("int32")

def hazards(options):
    model = models.build(dict({"name": "transformer", "num_layers": 2, "d_model": 32, "num_heads": 4,
                               "mlp_dim": 64}, **options), data)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def step(trainable, non_trainable, optimizer_vars, x, y):
        def loss(trainable):
            logits, _ = model.stateless_call(trainable, non_trainable, x, training=True)
            return loss_fn(y, logits)
        grads = jax.grad(loss)(trainable)
        return optimizer.stateless_apply(optimizer_vars, grads, trainable)

    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             [v.value for v in optimizer.variables])
    hlo = jax.jit(step).lower(*state, x, np.roll(x, -1, 1)).as_text(dialect="hlo")
    return [(h.operand_shape, h.dimensions, h.result_shape) for h in hlo_census.layout_hazards(hlo)]

for options in ({}, {"qkv": "split"}, {"qkv": "separate"}, {"tie_embeddings": False}, {"remat": True},
                {"attention": "xla", "dropout": 0.1}):
    found = hazards(options)
    assert not found, (options, found)

def broadcast_positions(self, inputs):  # PositionEmbedding.call before the fix
    _, length, dim = ops.shape(inputs)
    positions = ops.slice(ops.convert_to_tensor(self.position_embeddings), (0, 0), (length, dim))
    return ops.cast(ops.cast(inputs, positions.dtype) + positions, self.compute_dtype)

transformer.PositionEmbedding.call = broadcast_positions
assert hazards({}) == [((4, 16, 32), (0,), (16, 32))], hazards({})
print("OK")
"""


def test_train_step_has_no_reduction_the_gpu_compiler_relayouts():
    proc = run_python(CHECKS, backend="jax", timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("OK"), proc.stdout
