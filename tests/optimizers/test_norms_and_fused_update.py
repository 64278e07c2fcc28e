"""How LARS and LAMB take their norms and run their update.

* The optimizers' default (`LayerwiseOptimizer._trust_ratios`): each norm is a row
  reduction of its tensor, and the norms and trust ratios of all variables with the
  same row count and decay flag are finished together as vectors
  (`trust_ratio.l2_norm_vector`). Checked against float64 NumPy, against the papers'
  reference with many buckets (short rows), and against one scalar ratio per variable.
* `trust_ratio.l2_norms` (one scalar norm per tensor: reduced alone, or stacked by
  shape) is what the benchmark variants run (`_separate`, `_grouped`); checked here too.
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
from tfbsz.optimizers import LAMB, LARS, layerwise, trust_ratio
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


def _float64_norm(t):
    return np.sqrt(np.sum(np.square(np.asarray(t, np.float64))))


@pytest.mark.parametrize("shape,rows", [((768, 3072), 768), ((512, 8, 64), 512), ((300, 1), 1),
                                        ((5,), 1), ((), 1), ((3, 3, 16, 160), 144),
                                        ((10, 4, 32), 10), ((0, 200), 1)])
def test_row_count(shape, rows):
    assert trust_ratio.row_count(shape) == rows


def test_row_sums_and_norm_vector_match_float64():
    rng = np.random.default_rng(5)
    tensors = [rng.normal(size=(6, 200)).astype("float32"), np.zeros((6, 150), "float32"),
               (1e3 * rng.normal(size=(2, 3, 256))).astype("float32")]
    sums = keras.ops.convert_to_numpy(trust_ratio.row_sums_of_squares(tensors[2]))
    np.testing.assert_allclose(sums, np.sum(np.square(tensors[2].astype(np.float64)), axis=2)
                               .reshape(-1), rtol=1e-6)
    norms = keras.ops.convert_to_numpy(trust_ratio.l2_norm_vector(tensors))
    assert norms.shape == (3,) and norms[1] == 0.0
    np.testing.assert_allclose(norms, [_float64_norm(t) for t in tensors], rtol=1e-6)


def _with_norms(cls, norms_of):
    """The optimizer taking one scalar norm per tensor with `norms_of` (a benchmark variant)."""

    class Variant(cls):
        def __init__(self, **options):
            super().__init__(**options)
            self._norms_of = norms_of

    return Variant


@pytest.mark.parametrize("algorithm,variant", CASES, ids=[f"{a}-{n}" for a, n in CASES])
def test_many_buckets_match_float64_reference(algorithm, variant, monkeypatch):
    # Rows of 2 elements: the problem's variables get 1 to 6 rows, so its norms are
    # finished in several buckets (by row count and decay flag) instead of one.
    monkeypatch.setattr(trust_ratio, "MIN_ROW_ELEMENTS", 2)
    options = (LAMB_VARIANTS if algorithm == "lamb" else LARS_VARIANTS)[variant]
    _, history = tfbsz_trajectory(LAMB if algorithm == "lamb" else LARS, options)
    assert max_relative_error(history, reference_trajectory(algorithm, options)) <= 1e-6


BENCH_NORMS = {
    "grouped": lambda tensors: trust_ratio.l2_norms(tensors, grouped=True),
    "separate": lambda tensors: trust_ratio.l2_norms(tensors, grouped=False),
}


@pytest.mark.parametrize("way", sorted(BENCH_NORMS))
@pytest.mark.parametrize("algorithm,variant", [("lamb", "weight_decay_regex"),
                                               ("lars", "epsilon_eta_regex")])
def test_benchmark_norm_variants_match_float64_reference(algorithm, variant, way):
    options = (LAMB_VARIANTS if algorithm == "lamb" else LARS_VARIANTS)[variant]
    cls = _with_norms(LAMB if algorithm == "lamb" else LARS, BENCH_NORMS[way])
    _, history = tfbsz_trajectory(cls, options)
    assert max_relative_error(history, reference_trajectory(algorithm, options)) <= 1e-6


LARGE_SHAPES = [(300, 200), (200, 300), (300, 200), (3, 3, 16, 160), (200,), (256, 64)]


def _large_problem_steps(optimizer, steps=3):
    rng = np.random.default_rng(6)
    variables = [keras.Variable(rng.normal(size=s).astype("float32"), name=f"v{i}")
                 for i, s in enumerate(LARGE_SHAPES)]
    for step in range(steps):
        grads = [(10.0 ** (step - 2) * rng.normal(size=s)).astype("float32") for s in LARGE_SHAPES]
        optimizer.apply(grads, variables)
    return [v.numpy() for v in variables]


@pytest.mark.parametrize("cls,options", [(LAMB, {"weight_decay": 0.01}),
                                         (LARS, {"weight_decay": 1e-3})], ids=["lamb", "lars"])
def test_bucketed_ratios_equal_one_ratio_per_variable(cls, options, monkeypatch):
    calls = []
    vector = trust_ratio.l2_norm_vector
    monkeypatch.setattr(layerwise, "l2_norm_vector",
                        lambda tensors: calls.append(len(tensors)) or vector(tensors))
    _large_problem_steps(cls(learning_rate=0.1, **options), steps=1)
    # Buckets by row count: 300 (two variables), 200, 144, 256; the (200,) bias is not adapted.
    assert sorted(calls) == [2, 2, 2, 4]
    fresh = _large_problem_steps(cls(learning_rate=0.1, **options))
    one_by_one = _large_problem_steps(
        _with_norms(cls, BENCH_NORMS["separate"])(learning_rate=0.1, **options))
    for a, b in zip(fresh, one_by_one):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


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
