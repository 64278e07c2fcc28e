"""Runs an optimizer's update of all variables as one compiled computation.

LARS and LAMB describe their update as a pure function of tensors (keras.ops
only): `update(grads, values, slot_values, scalars)` returns, for every
variable, its new value and new slot values. `FusedUpdate.apply` runs that
function and writes the results back:

* JAX (and any backend other than TensorFlow): the function runs as is, inside
  the training step (which JAX jits); results are assigned with the
  optimizer's `assign`.
* TensorFlow, variables not distributed: the function *and the assignments* are
  compiled into one XLA function (`tf.function(jit_compile=True)` taking the
  variables as resource arguments). Keras's TensorFlow backend otherwise runs an
  optimizer step op by op whenever it does not use XLA (always on a CPU-only
  machine), and LAMB's ~45 small ops plus 3 assignments per variable then cost
  1.5-1.7 Adam steps; fused, a LAMB step costs about what an Adam step does.
* TensorFlow under a `tf.distribute` strategy (mirrored, TPU, multi-worker): the
  compiled function returns the new values, which are assigned outside it, per
  device (distributed variables cannot be handed to a compiled function).

Functions are built once per static key (the optimizer's resolved per-variable
flags) and cached. `compile=False` keeps TensorFlow's op-by-op execution (for
benchmarks). Held in a plain object so Keras and TensorFlow do not track the
functions as part of the optimizer's state.

Example (JAX or TensorFlow alike):

>>> import keras, numpy as np
>>> from tfbsz.optimizers.fused_update import FusedUpdate
>>> w = keras.Variable(np.ones(3, "float32"))
>>> def make():
...     def update(grads, values, slot_values, scalars):
...         return [(v - scalars[0] * g, ()) for g, v in zip(grads, values)]
...     return update
>>> FusedUpdate().apply("sgd", make, [np.ones(3, "float32")], [w], [()], (0.5,),
...                     assign=lambda variable, value: variable.assign(value))
>>> w.numpy().tolist()
[0.5, 0.5, 0.5]
"""

import keras

__all__ = ["FusedUpdate"]


class FusedUpdate:
    """Compiled, cached whole-model updates (see the module docstring).

    Args:
        compile: on TensorFlow, XLA-compile the update (default True).
    """

    def __init__(self, compile=True):
        self.compile = compile
        self._functions = {}

    def apply(self, key, make, grads, variables, slots, scalars, assign):
        """Computes `make()(grads, values, slot_values, scalars)` and writes it back.

        Args:
            key: hashable; identifies what `make` builds (cached under it).
            make: returns the pure update function.
            grads: one gradient per variable.
            variables: the variables to update (Keras or backend variables).
            slots: per variable, a tuple of its optimizer variables.
            scalars: a tuple (or NamedTuple) of numbers, tensors or variables shared by
                all variables; on TensorFlow passed to the compiled function as tensors.
            assign: `assign(variable, value)`, used where results come back.
        """
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf  # only on the TensorFlow backend

            handles = [_backend_variable(v) for v in variables]
            slot_handles = [tuple(_backend_variable(s) for s in group) for group in slots]
            if not any(_is_distributed(tf, v) for v in handles + _flatten(slot_handles)):
                update = self._function(
                    ("in_place", key), lambda: _assigning(tf, make(), self.compile)
                )
                update(_tensors(tf, grads), handles, slot_handles, _scalar_tensors(tf, scalars))
                return
            update = self._function(("returning", key), lambda: _reading(tf, make(), self.compile))
            results = update(
                _tensors(tf, grads), handles, slot_handles, _scalar_tensors(tf, scalars)
            )
        else:
            update = self._function(key, make)
            results = update(list(grads), list(variables), list(slots), scalars)
        _write_back(variables, slots, results, assign)

    def _function(self, key, build):
        function = self._functions.get(key)
        if function is None:
            function = self._functions[key] = build()
        return function


def _backend_variable(variable):
    return variable.value if isinstance(variable, keras.Variable) else variable


def _flatten(groups):
    return [item for group in groups for item in group]


def _write_back(variables, slots, results, assign):
    """`assign`s each variable's new value and its slots' new values."""
    for variable, slot_group, (new_value, new_slots) in zip(variables, slots, results):
        for slot, new_slot in zip(slot_group, new_slots):
            assign(slot, new_slot)
        assign(variable, new_value)


def _is_distributed(tf, variable):
    return isinstance(variable, tf.distribute.DistributedValues)


def _tensors(tf, values):
    """Plain tensors: variables read, sparse `IndexedSlices` gradients (embeddings)
    densified, so every row of an embedding is updated, as in TensorFlow Addons' LAMB."""

    def read(value):
        return tf.convert_to_tensor(_backend_variable(value))

    return [read(v) for v in values]


def _scalar_tensors(tf, scalars):
    """`scalars` as float tensors, keeping its type (a NamedTuple's fields stay named)."""
    values = _tensors(tf, scalars)
    return type(scalars)(*values) if hasattr(scalars, "_fields") else tuple(values)


def _assigning(tf, update, compile):
    """One function that reads the variables, updates, and assigns the results."""

    def apply_in_place(grads, variables, slots, scalars):
        values = [v.read_value() for v in variables]
        slot_values = [tuple(s.read_value() for s in group) for group in slots]
        results = update(grads, values, slot_values, scalars)
        _write_back(variables, slots, results,
                    lambda target, value: target.assign(tf.cast(value, target.dtype)))

    return tf.function(apply_in_place, jit_compile=True) if compile else apply_in_place


def _reading(tf, update, compile):
    """A function returning the new values; variables (per-device copies) read first."""
    run = tf.function(update, jit_compile=True) if compile else update

    def apply_returning(grads, variables, slots, scalars):
        slot_values = [tuple(_tensors(tf, group)) for group in slots]
        return run(grads, _tensors(tf, variables), slot_values, scalars)

    return apply_returning
