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

import math

import keras
from keras import ops

__all__ = ["MAX_GROUPED_ELEMENTS", "l2_norm", "l2_norms", "global_l2_norm", "guarded_ratio", "on_accelerator"]


def l2_norm(x):
    """The L2 norm of all entries of `x`, computed in float32."""
    x = ops.cast(x, "float32")
    return ops.sqrt(ops.sum(ops.square(x)))


# Largest tensor (in elements) that `l2_norms` stacks with its same-shape peers. Stacking
# writes and reads a copy: 8 bytes per element, ~2 us per 2^20 elements on an H200's
# ~4 TB/s, about what a kernel launch saved costs; larger tensors are reduced alone.
MAX_GROUPED_ELEMENTS = 2**20


def l2_norms(tensors, grouped=None, max_grouped_elements=MAX_GROUPED_ELEMENTS):
    """The L2 norm of each of `tensors` (float32 scalars), taken the way the device likes.

    LARS and LAMB take two norms per variable, and what they cost is the number
    of reductions, not the arithmetic. On a GPU or TPU (`grouped=None` asks
    `on_accelerator()`; True/False force it) tensors of the same
    shape are stacked and reduced together, so a model with `n` identical
    blocks launches one reduction kernel per distinct shape instead of one per
    tensor: on the 26M-parameter benchmark Transformer (117 variables, H200)
    LAMB's update compiles to 139 kernels instead of 272, and its whole
    training step costs 1.01x Adam's (median of nine runs) instead of
    1.05-1.10x. On a CPU stacking gained nothing (TensorFlow, 2 cores, LAMB
    update over three runs: 1.02-1.15x Adam's stacked, 1.05-1.09x separate), so
    there each tensor gets its own reduction (docs/optimizers.md#performance).
    Stacking copies the tensors (XLA materialises the stack), so only tensors of
    at most `max_grouped_elements` elements are stacked: above that the copy
    costs more memory traffic than the launch it saves (86M-parameter
    Transformer: all-stacked norms make LAMB's update read and write 6.5 GB, one
    reduction per tensor 5.1 GB, Adam 3.4 GB; XLA's CPU cost analysis). Every way
    gives the same values up to the order of float32 summation.

    >>> import numpy as np
    >>> tensors = [np.ones(4), np.zeros(4), np.ones((2, 2))]
    >>> [round(float(n), 4) for n in l2_norms(tensors, grouped=True)]
    [2.0, 0.0, 2.0]
    >>> [round(float(n), 4) for n in l2_norms(tensors, grouped=False)]
    [2.0, 0.0, 2.0]
    """
    if grouped is None:
        grouped = on_accelerator()
    if not grouped:
        return [l2_norm(t) for t in tensors]
    norms = [None] * len(tensors)
    groups = {}
    for index, tensor in enumerate(tensors):
        shape = tuple(tensor.shape)
        key = shape if math.prod(shape) <= max_grouped_elements else ("alone", index)
        groups.setdefault(key, []).append(index)
    for shape, indices in groups.items():
        if len(indices) == 1:
            norms[indices[0]] = l2_norm(tensors[indices[0]])
            continue
        stacked = ops.stack([ops.cast(tensors[i], "float32") for i in indices])
        squares = ops.square(stacked)
        sums = ops.sum(squares, axis=tuple(range(1, len(shape) + 1))) if shape else squares
        group_norms = ops.sqrt(sums)
        for position, index in enumerate(indices):
            norms[index] = group_norms[position]
    return norms


def on_accelerator():
    """True when a GPU or TPU is visible to the Keras backend (which then places
    the training step there unless told otherwise)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.default_backend() != "cpu"
    if backend == "tensorflow":
        import tensorflow as tf  # only on the TensorFlow backend

        return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))
    return False


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
