"""Norms and the guarded layer-wise trust ratio shared by LARS and LAMB.

Both optimizers scale a variable's step by a ratio of two L2 norms. The
helpers here compute those norms in float32 whatever the tensor's dtype (a
float16 sum of squares overflows above 65504; a bfloat16 one loses digits) and
replace the ratio by 1 whenever it is undefined or would freeze the variable:
when the weight norm is 0 (zero-initialised biases and LayerNorm offsets would
otherwise never move) or when the gradient/update norm is 0.

The guard selects with `where` from a denominator that is never 0, so `0/0` is
never evaluated and no NaN reaches the variable or, under JAX, a gradient.

What a norm costs on a GPU is kernels and memory passes, not arithmetic. The
optimizers take every norm in two stages (`l2_norm_vector`): a row reduction of
the tensor where it is computed (`row_sums_of_squares`; rows of at least
`MIN_ROW_ELEMENTS`, so XLA needs no two-kernel tree reduction and can fuse it
with the element-wise pass that produces the tensor), then one reduction of the
stacked row sums for many tensors at once. No tensor is copied.

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

__all__ = [
    "MAX_GROUPED_ELEMENTS",
    "MIN_ROW_ELEMENTS",
    "l2_norm",
    "l2_norms",
    "l2_norm_vector",
    "row_count",
    "row_sums_of_squares",
    "global_l2_norm",
    "guarded_ratio",
    "on_accelerator",
]


def l2_norm(x):
    """The L2 norm of all entries of `x`, computed in float32."""
    x = ops.cast(x, "float32")
    return ops.sqrt(ops.sum(ops.square(x)))


# Fewest elements a row of `row_sums_of_squares` holds (trailing axes are merged until a row has
# this many, or there are none left): short rows would make the second stage as large as the first.
MIN_ROW_ELEMENTS = 128


def row_count(shape):
    """How many partial sums `row_sums_of_squares` gives for a tensor of `shape`.

    The trailing axes whose product first reaches `MIN_ROW_ELEMENTS` form a
    row; the leading axes left count the rows (1 when every axis is merged).

    >>> row_count((768, 3072)), row_count((512, 8, 64)), row_count((300, 1)), row_count((5,))
    (768, 512, 1, 1)
    """
    shape = tuple(shape)
    if math.prod(shape) == 0:
        return 1
    split = len(shape)
    row = 1
    while split > 0 and row < MIN_ROW_ELEMENTS:
        split -= 1
        row *= shape[split]
    return math.prod(shape[:split])


def row_sums_of_squares(x):
    """The sums of squares of the rows of `x` (see `row_count`), float32, as a vector.

    The first stage of `l2_norm_vector`: a row reduction that XLA can fuse into
    the element-wise pass producing `x`, with no copy of `x`.

    >>> import numpy as np
    >>> keras.ops.convert_to_numpy(row_sums_of_squares(np.ones((2, 3, 64), "float32"))).tolist()
    [192.0, 192.0]
    """
    x = ops.cast(x, "float32")
    rows = row_count(x.shape)
    return ops.sum(ops.reshape(ops.square(x), (rows, -1)), axis=1)


def l2_norm_vector(tensors):
    """The L2 norms of `tensors` (all with the same `row_count`) as one float32 vector.

    Two stages, no copy of any tensor: each tensor's rows are reduced in place
    (`row_sums_of_squares`), then all the row sums are stacked (a few thousand
    numbers) and summed in one reduction. On a GPU this costs one row reduction
    per tensor, which XLA can fuse with the pass that computes the tensor, and
    one kernel for all of them, instead of a two-kernel tree reduction per norm.

    >>> import numpy as np
    >>> [round(float(n), 4) for n in l2_norm_vector([np.ones((2, 200)), np.zeros((2, 300))])]
    [20.0, 0.0]
    """
    partials = ops.stack([row_sums_of_squares(t) for t in tensors])
    return ops.sqrt(ops.sum(partials, axis=1))


# Largest tensor (in elements) that `l2_norms` stacks with its same-shape peers. Stacking
# writes and reads a copy: 8 bytes per element, ~2 us per 2^20 elements on an H200's
# ~4 TB/s, about what a kernel launch saved costs; larger tensors are reduced alone.
MAX_GROUPED_ELEMENTS = 2**20


def l2_norms(tensors, grouped=None, max_grouped_elements=MAX_GROUPED_ELEMENTS):
    """The L2 norm of each of `tensors` (float32 scalars), one reduction per tensor or per shape.

    tfbsz's optimizers used this before `l2_norm_vector` (which needs neither
    copies nor per-variable scalar work); the benchmarks keep it as variants
    (`bench/optimizers.py`: `_separate`, `_grouped`, `_allgrouped`). On a GPU or
    TPU (`grouped=None` asks `on_accelerator()`; True/False force it) tensors
    of the same shape and at most `max_grouped_elements` elements are stacked
    and reduced together (one reduction kernel per shape, at the cost of a copy
    of the stacked tensors); otherwise, and on a CPU, each tensor is reduced
    alone. Every way gives the same values up to the order of float32
    summation (docs/optimizers.md#performance).

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
