"""The private Keras hooks that `LayerwiseOptimizer` overrides, pinned.

Each test fails if Keras stops calling the hook the way the override relies on
(renamed, new signature, no longer on the path of `apply`):

* `_backend_update_step(grads, trainable_variables, learning_rate)`: on JAX, one
  batched update of all variables; on TensorFlow it is Keras's own, which
  all-reduces and calls
* `_distributed_tf_update_step(distribution, grads_and_vars, learning_rate)`:
  one batched update per device;
* `_apply_weight_decay(variables)`: a no-op (decay is inside the update);
* `_get_current_learning_rate()`: schedules see the update count.

`per_trial.bind` relies on `_get_current_learning_rate` returning `_learning_rate`
when it is a plain value: tests/optimizers/test_per_trial.py pins that (a shared
optimizer built with a schedule follows the bound rate).
"""

import inspect

import keras
import numpy as np
import pytest

from optimizers.driver import make_variables, subprocess_result
from optimizers.reference import make_problem
from tfbsz.optimizers import LAMB, LARS
from tfbsz.optimizers.layerwise import LayerwiseOptimizer

HOOKS = {
    "_backend_update_step": ["self", "grads", "trainable_variables", "learning_rate"],
    "_apply_weight_decay": ["self", "variables"],
    "_get_current_learning_rate": ["self"],
}


def _keras_class():
    """The class Keras's optimizers inherit the backend's hooks from."""
    return keras.optimizers.Optimizer.__mro__[1]


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_keras_hook_signatures_are_unchanged(hook):
    keras_hook = getattr(keras.optimizers.Optimizer, hook)
    assert list(inspect.signature(keras_hook).parameters) == HOOKS[hook]
    ours = getattr(LayerwiseOptimizer, hook)
    assert list(inspect.signature(ours).parameters) == HOOKS[hook]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's hook")
def test_tensorflow_distributed_update_hook_signature_is_unchanged():
    hook = _keras_class()._distributed_tf_update_step
    names = ["self", "distribution", "grads_and_vars", "learning_rate"]
    assert list(inspect.signature(hook).parameters) == names
    assert "_distributed_tf_update_step" in inspect.getsource(_keras_class()._backend_update_step)


def _spy(monkeypatch, cls, name):
    calls = []
    original = getattr(cls, name)

    def spy(self, *args, **kwargs):
        calls.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, spy)
    return calls


@pytest.mark.parametrize("cls", [LAMB, LARS])
def test_apply_runs_one_batched_update_and_our_no_op_decay(monkeypatch, cls):
    paths, params, grads, _ = make_problem()
    variables = make_variables(paths, params)
    optimizer = cls(learning_rate=0.1, weight_decay=0.01)
    updates = _spy(monkeypatch, LayerwiseOptimizer, "_update_variables")
    decays = _spy(monkeypatch, LayerwiseOptimizer, "_apply_weight_decay")
    optimizer.apply(grads[0], variables)
    # Keras's default would call update_step (and so _update_variables) once per variable.
    assert [len(call[1]) for call in updates] == [len(variables)]
    assert len(decays) == 1


def test_schedules_are_read_through_our_learning_rate_hook(monkeypatch):
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([1], [0.1, 0.01])
    optimizer = LAMB(learning_rate=schedule, gradient_accumulation_steps=2)
    reads = _spy(monkeypatch, LayerwiseOptimizer, "_get_current_learning_rate")
    w = keras.Variable(np.ones((2, 2), "float32"))
    for _ in range(4):  # two updates
        optimizer.apply([np.ones((2, 2), "float32")], [w])
    assert reads
    assert float(optimizer.learning_rate) == pytest.approx(0.01)  # update 2, not micro-step 4


def test_jax_apply_runs_one_batched_update():
    code = (
        "import sys, json; sys.path.insert(0, 'tests')\n"
        "from optimizers.driver import make_variables\n"
        "from optimizers.reference import make_problem\n"
        "from tfbsz.optimizers import LAMB\n"
        "from tfbsz.optimizers.layerwise import LayerwiseOptimizer\n"
        "calls = []\n"
        "original = LayerwiseOptimizer._update_variables\n"
        "def spy(self, grads, variables, lr):\n"
        "    calls.append(len(variables))\n"
        "    return original(self, grads, variables, lr)\n"
        "LayerwiseOptimizer._update_variables = spy\n"
        "paths, params, grads, _ = make_problem()\n"
        "variables = make_variables(paths, params)\n"
        "LAMB(learning_rate=0.1).apply(grads[0], variables)\n"
        "print('RESULT', json.dumps({'calls': calls, 'variables': len(variables)}))\n"
    )
    found = subprocess_result(code, backend="jax", timeout=120)
    assert found["calls"] == [found["variables"]]
