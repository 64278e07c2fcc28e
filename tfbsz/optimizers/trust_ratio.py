"""Norms and the guarded layer-wise trust ratio shared by LARS and LAMB.

Both optimizers scale a variable's step by a ratio of two L2 norms. The
helpers here compute those norms in float32 whatever the tensor's dtype (a
float16 sum of squares overflows above 65504; a bfloat16 one loses digits) and
replace the ratio by 1 whenever it is undefined or would freeze the variable:
when the weight norm is 0 (zero-initialised biases and LayerNorm offsets would
otherwise never move) or when the gradient/update norm is 0.

The guard selects with `where` from a denominator that is never 0, so `0/0` is
never evaluated and no NaN reaches the variable or, under JAX, a gradient.

Example:

>>> import numpy as np
>>> from tfbsz.optimizers.trust_ratio import l2_norm, guarded_ratio
>>> w = np.array([3.0, 4.0], "float32")
>>> float(l2_norm(w))
5.0
>>> float(guarded_ratio(l2_norm(w), 2.0 * l2_norm(w)))
0.5
>>> round(float(guarded_ratio(l2_norm(w), 1.0, coefficient=0.001, denominator_extra=4.0)), 6)
0.001
>>> float(guarded_ratio(l2_norm(w), 0.0))   # no gradient: do not adapt
1.0
>>> float(guarded_ratio(0.0, 2.0))          # zero weights: do not adapt
1.0
"""

import keras
from keras import ops

__all__ = ["l2_norm", "global_l2_norm", "guarded_ratio", "FusedKernels"]


def l2_norm(x):
    """The L2 norm of all entries of `x`, computed in float32."""
    x = ops.cast(x, "float32")
    return ops.sqrt(ops.sum(ops.square(x)))


def global_l2_norm(tensors):
    """The L2 norm of the concatenation of `tensors` (float32), as one scalar."""
    squares = [ops.sum(ops.square(ops.cast(t, "float32"))) for t in tensors]
    return ops.sqrt(ops.sum(ops.stack(squares)))


def guarded_ratio(weight_norm, update_norm, coefficient=1.0, denominator_extra=0.0):
    """`coefficient * weight_norm / (update_norm + denominator_extra)`, guarded.

    Args:
        weight_norm: the L2 norm of the variable, >= 0.
        update_norm: the L2 norm of the gradient (LARS) or update (LAMB), >= 0.
        coefficient: multiplies the ratio (LARS's trust coefficient eta).
        denominator_extra: added to the denominator, >= 0 (LARS's
            `weight_decay * weight_norm + epsilon`).

    Returns:
        A float32 scalar tensor, exactly 1.0 when `weight_norm` or
        `update_norm` is 0.
    """
    weight_norm = ops.cast(weight_norm, "float32")
    update_norm = ops.cast(update_norm, "float32")
    usable = ops.logical_and(ops.greater(weight_norm, 0.0), ops.greater(update_norm, 0.0))
    denominator = ops.where(usable, update_norm + denominator_extra, 1.0)
    return ops.where(usable, coefficient * weight_norm / denominator, 1.0)


class FusedKernels:
    """Update functions, each compiled into one XLA kernel on TensorFlow.

    LARS and LAMB write their maths as pure functions of tensors (keras.ops
    only). Keras's TensorFlow backend runs optimizer steps op by op when it
    does not use XLA (always on CPU and under tf.distribute), and LAMB's ~45
    small ops per variable then cost about 1.5-1.7 Adam steps. Wrapped in
    `tf.function(jit_compile=True)`, the update of all variables is a single
    fused kernel. On JAX the function is returned as is: the whole training
    step is already jitted. Kernels are cached by a static key (the resolved
    per-variable flags). `compile=False` keeps TensorFlow's op-by-op execution
    (for benchmarks).

    Held in a plain object so Keras/TensorFlow do not track the functions as
    part of the optimizer's state.
    """

    def __init__(self, compile=True):
        self.compile = compile
        self._kernels = {}

    def get(self, key, make):
        """The kernel for `key`, building `make()` (a Python function) on first use."""
        kernel = self._kernels.get(key)
        if kernel is None:
            kernel = make()
            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf  # only on the TensorFlow backend

                if self.compile:
                    kernel = tf.function(kernel, jit_compile=True)
                kernel = _reading_arguments(tf, kernel)
            self._kernels[key] = kernel
        return kernel


def _reading_arguments(tf, compiled):
    """Calls `compiled` with plain tensors: variables read (the local copy under
    tf.distribute) and sparse `IndexedSlices` gradients (embeddings) densified, so
    every row of an embedding is updated, as in TensorFlow Addons' LAMB."""

    def read(a):
        return tf.convert_to_tensor(a.value if isinstance(a, keras.Variable) else a)

    def call(*args):
        return compiled(*tf.nest.map_structure(read, args))

    return call
