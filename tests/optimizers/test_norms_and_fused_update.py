"""How LARS and LAMB take their norms and run their update.

* `trust_ratio.l2_norms` stacks same-shape tensors into one reduction on GPUs and
  TPUs and reduces each tensor alone on CPUs (both measured in bench/optimizers.py).
  The CPU suite runs the separate way by default, so the grouped way is checked
  here against float64 NumPy and against the papers' reference, every variant.
* `fused_update.FusedUpdate` runs a step on TensorFlow as one XLA function that
  also assigns the results (no per-variable assignments in the caller's graph),
  and gives the same numbers as op-by-op execution.
"""

import keras
import numpy as np
import pytest

from optimizers.driver import make_variables, max_relative_error, tfbsz_trajectory
from optimizers.reference import (
    LAMB_VARIANTS,
    LARS_VARIANTS,
    make_problem,
    reference_trajectory,
)
from tfbsz.optimizers import LAMB, LARS, trust_ratio
from tfbsz.optimizers.fused_update import FusedUpdate

CASES = [("lamb", name) for name in LAMB_VARIANTS] + [("lars", name) for name in LARS_VARIANTS]
tensorflow_only = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="TensorFlow's fused update path"
)


@pytest.mark.parametrize("grouped", [True, False], ids=["grouped", "separate"])
def test_l2_norms_match_float64(grouped):
    rng = np.random.default_rng(3)
    shapes = [(4, 3), (3,), (4, 3), (3,), (2, 2, 2), (), (4, 3), (5,)]
    tensors = [rng.normal(size=shape).astype("float32") for shape in shapes]
    tensors[1] = np.zeros(3, "float32")
    expected = [np.sqrt(np.sum(np.square(t.astype(np.float64)))) for t in tensors]
    got = [float(n) for n in trust_ratio.l2_norms(tensors, grouped=grouped)]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert got[1] == 0.0


def test_only_tensors_up_to_the_size_limit_are_stacked(monkeypatch):
    rng = np.random.default_rng(4)
    shapes = [(2, 2), (2, 2), (3, 3), (3, 3), (3, 3)]
    tensors = [rng.normal(size=shape).astype("float32") for shape in shapes]
    stacked = []
    stack = keras.ops.stack
    monkeypatch.setattr(keras.ops, "stack", lambda xs, *a, **k: stacked.append(len(xs)) or
                        stack(xs, *a, **k))
    got = trust_ratio.l2_norms(tensors, grouped=True, max_grouped_elements=4)
    assert stacked == [2]  # the two (2, 2) tensors; each (3, 3) one (9 elements) alone
    expected = [np.sqrt(np.sum(np.square(t.astype(np.float64)))) for t in tensors]
    np.testing.assert_allclose([float(n) for n in got], expected, rtol=1e-6)
    stacked.clear()
    trust_ratio.l2_norms(tensors, grouped=True)  # the default limit, 2**20 elements
    assert sorted(stacked) == [2, 3]


def test_l2_norms_of_no_tensors():
    assert trust_ratio.l2_norms([], grouped=True) == []
    assert trust_ratio.l2_norms([], grouped=False) == []


def test_default_grouping_follows_the_device(monkeypatch):
    calls = []
    monkeypatch.setattr(trust_ratio, "on_accelerator", lambda: calls.append(1) or True)
    norms = trust_ratio.l2_norms([np.ones(4, "float32"), np.ones(4, "float32")])
    assert calls == [1]
    assert [float(n) for n in norms] == [2.0, 2.0]


def test_this_cpu_machine_is_not_an_accelerator():
    # The suite runs on CPU-only machines (CI, the README's test command).
    assert trust_ratio.on_accelerator() is False


@pytest.mark.parametrize("algorithm,variant", CASES, ids=[f"{a}-{n}" for a, n in CASES])
def test_grouped_norms_match_float64_reference(algorithm, variant, monkeypatch):
    # As on a GPU: norms of same-shape tensors (every variable's weights and update,
    # and the two (3,) variables of the problem) come from stacked reductions.
    monkeypatch.setattr(trust_ratio, "on_accelerator", lambda: True)
    options = (LAMB_VARIANTS if algorithm == "lamb" else LARS_VARIANTS)[variant]
    _, history = tfbsz_trajectory(LAMB if algorithm == "lamb" else LARS, options)
    assert max_relative_error(history, reference_trajectory(algorithm, options)) <= 1e-6


def _compiled_steps(optimizer, steps=5):
    import tensorflow as tf

    paths, params, grads, _ = make_problem(0)
    variables = make_variables(paths, params)

    @tf.function
    def step(step_grads):
        optimizer.apply(step_grads, variables)

    for step_grads in grads[:steps]:
        step([tf.constant(g) for g in step_grads])
    return [v.numpy() for v in variables], step, grads


@tensorflow_only
@pytest.mark.parametrize("cls", [LAMB, LARS])
def test_fused_update_equals_op_by_op(cls):
    fused = cls(learning_rate=0.01, weight_decay=0.01)
    op_by_op = cls(learning_rate=0.01, weight_decay=0.01)
    op_by_op._kernels = FusedUpdate(compile=False)
    a, _, _ = _compiled_steps(fused)
    b, _, _ = _compiled_steps(op_by_op)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=2e-6, atol=1e-7)


@tensorflow_only
def test_tensorflow_step_assigns_inside_one_xla_function():
    import tensorflow as tf

    optimizer = LAMB(learning_rate=0.01, weight_decay=0.01)
    _, step, grads = _compiled_steps(optimizer, steps=1)
    graph = step.get_concrete_function([tf.constant(g) for g in grads[0]]).graph
    types = [op.type for op in graph.get_operations()]
    # Six variables with two moments each: op by op that would be 18 AssignVariableOps;
    # what is left is Keras's own bookkeeping outside the update.
    assert types.count("AssignVariableOp") <= 1, types
    calls = [op for op in graph.get_operations()
             if op.type in ("StatefulPartitionedCall", "PartitionedCall")]
    assert len(calls) == 1
