"""JAX-only: a half-precision matmul that returns its float32 accumulator (used by `tfbsz.models.logits`).

`half_matmul_float32(x, w)` is `x @ w` computed on half-precision operands
with `preferred_element_type=float32`. JAX's own derivative of such a matmul
multiplies the float32 cotangent with the half-precision operands, which XLA
runs as float32 matmuls; the custom derivative here casts the cotangent to the
operands' dtype first, so both gradient matmuls stay on half-precision tensor
cores, exactly as for a plain half-precision matmul followed by a cast.
Only `tfbsz.models.logits` imports this module, and only on the JAX backend.

>>> import jax.numpy as jnp
>>> x = jnp.ones((2, 4), jnp.bfloat16); w = jnp.ones((4, 3), jnp.bfloat16)
>>> half_matmul_float32(x, w, False).dtype
dtype('float32')
"""

from functools import partial

import jax
import jax.numpy as jnp

__all__ = ["half_matmul_float32"]


def _contract(x, w, kernel_is_vocab_major, preferred):
    rhs_contracting = 1 if kernel_is_vocab_major else 0
    return jax.lax.dot_general(
        x, w, (((x.ndim - 1,), (rhs_contracting,)), ((), ())), preferred_element_type=preferred
    )


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def half_matmul_float32(x, w, kernel_is_vocab_major):
    """`x @ w` (`x @ w.T` if `kernel_is_vocab_major`) of half-precision arrays, as float32."""
    return _contract(x, w, kernel_is_vocab_major, jnp.float32)


def _forward(x, w, kernel_is_vocab_major):
    return _contract(x, w, kernel_is_vocab_major, jnp.float32), (x, w)


def _backward(kernel_is_vocab_major, residuals, cotangent):
    x, w = residuals
    g = cotangent.astype(x.dtype)
    batch_axes = tuple(range(x.ndim - 1))
    # dx = g @ w.T (or g @ w when w is [vocab, d])
    w_vocab_axis = 0 if kernel_is_vocab_major else 1
    dx = jax.lax.dot_general(g, w, (((g.ndim - 1,), (w_vocab_axis,)), ((), ())),
                             preferred_element_type=x.dtype)
    # dw = x.T @ g over every leading axis, laid out like w
    if kernel_is_vocab_major:
        dw = jax.lax.dot_general(g, x, ((batch_axes, batch_axes), ((), ())), preferred_element_type=w.dtype)
    else:
        dw = jax.lax.dot_general(x, g, ((batch_axes, batch_axes), ((), ())), preferred_element_type=w.dtype)
    return dx, dw


half_matmul_float32.defvjp(_forward, _backward)
