"""LARS/LAMB behaviour beyond the reference trajectories.

Exclusion resolution, loss-scale overflow skipping, gradient accumulation and
update-counting schedules, the NVLAMB global norm under MirroredStrategy,
low-precision variables and XLA compilation.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from optimizers.driver import make_variables, max_relative_error
from optimizers.policy_model import mirrored_strategy
from optimizers.reference import LAMB_VARIANTS, LARS_VARIANTS, make_problem, reference_trajectory
from tfbsz.core.errors import ConfigError
from tfbsz.optimizers import LAMB, LARS


# --- exclusions ------------------------------------------------------------------------
def _built(cls, **options):
    paths, params, _, _ = make_problem()
    variables = make_variables(paths, params)
    optimizer = cls(**options)
    optimizer.build(variables)
    return optimizer


def test_default_exclusions_are_rank_at_most_one():
    table = {t.path: t for t in _built(LAMB).variable_treatments()}
    assert {p for p, t in table.items() if not t.weight_decay} == {"dense/bias", "norm/gamma"}
    assert {p for p, t in table.items() if not t.layer_adaptation} == {"dense/bias", "norm/gamma"}
    assert table["conv/kernel"].shape == (2, 3, 3)


def test_exclusions_match_paths_and_are_independent():
    optimizer = _built(LARS, exclude_from_weight_decay=["^norm/", "kernel$"],
                       exclude_from_layer_adaptation=[])
    table = {t.path: (t.weight_decay, t.layer_adaptation) for t in optimizer.variable_treatments()}
    assert table == {
        "dense/kernel": (False, True), "dense/bias": (True, True), "conv/kernel": (False, True),
        "norm/gamma": (False, True), "head/kernel": (False, True), "late/kernel": (False, True),
    }
    # "norm" is only in the path, never in the short name "gamma": the regex sees the path.
    text = optimizer.format_variable_treatments()
    assert text.splitlines()[0].split() == ["variable", "shape", "weight", "decay", "layer",
                                            "adaptation"]
    assert "norm/gamma" in text and len(text.splitlines()) == 7


def test_keras_exclusion_method_points_to_the_constructor_argument():
    with pytest.raises(ConfigError, match="exclude_from_weight_decay=\\[regex"):
        LAMB().exclude_from_weight_decay(var_names=["bias"])


def test_keras_base_weight_decay_never_applies():
    """weight_decay lives in the update: a decay-only step follows the LARS formula, not lr*wd*w."""
    w = keras.Variable(np.full((2, 2), 2.0, "float32"))
    optimizer = LARS(learning_rate=10.0, momentum=0.0, weight_decay=0.1)
    optimizer.apply([np.zeros((2, 2), "float32")], [w])
    # ||g|| = 0: ratio guarded to 1, step = lr * wd * w = 2 -> w = 0.  Keras's decoupled decay
    # would have applied lr * wd * w first as well and given w = -2.
    np.testing.assert_allclose(w.numpy(), np.zeros((2, 2)), atol=1e-6)


# --- loss scaling ----------------------------------------------------------------------
def test_overflowed_step_is_skipped_and_does_not_advance_bias_correction():
    w = keras.Variable(np.ones((3, 2), "float32"))
    scaled = keras.optimizers.LossScaleOptimizer(LAMB(learning_rate=0.1), initial_scale=4.0)
    scaled.build([w])
    scaled.apply([np.full((3, 2), np.inf, "float32")], [w])
    np.testing.assert_array_equal(w.numpy(), np.ones((3, 2)))
    assert int(scaled.inner_optimizer.iterations.numpy()) == 0
    assert float(scaled.dynamic_scale.numpy()) == 2.0

    g = np.arange(6, dtype="float32").reshape(3, 2) - 2.5
    scaled.apply([g * 2.0], [w])  # the gradient of the loss scaled by 2
    fresh_w = keras.Variable(np.ones((3, 2), "float32"))
    LAMB(learning_rate=0.1).apply([g], [fresh_w])  # first step: t = 1
    np.testing.assert_allclose(w.numpy(), fresh_w.numpy(), rtol=1e-6)


# --- gradient accumulation -------------------------------------------------------------
@pytest.mark.parametrize("cls", [LAMB, LARS])
def test_accumulation_matches_averaged_gradient_and_schedules_count_updates(cls):
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([1], [0.1, 0.01])
    paths, params, grads, _ = make_problem()
    accumulated_vars = make_variables(paths, params)
    plain_vars = make_variables(paths, params)
    accumulated = cls(learning_rate=schedule, weight_decay=0.01, gradient_accumulation_steps=2)
    plain = cls(learning_rate=schedule, weight_decay=0.01)
    for update in range(2):
        first, second = grads[2 * update], grads[2 * update + 1]
        accumulated.apply(first, accumulated_vars)
        accumulated.apply(second, accumulated_vars)
        plain.apply([(a + b) / 2 for a, b in zip(first, second)], plain_vars)
    assert int(accumulated.iterations.numpy()) == 2
    # A schedule fed micro-steps would have used 0.01 from the first update on.
    assert float(accumulated.learning_rate) == pytest.approx(0.01)
    for a, b in zip(accumulated_vars, plain_vars):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=2e-6, atol=1e-7)


# --- NVLAMB global norm after the all-reduce ---------------------------------------------
def _nvlamb_fit(strategy=None, normalize=True):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 5)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32") * 10.0
    scope = strategy.scope() if strategy is not None else tf.init_scope()
    with scope:
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2, name="out")])
        model.set_weights([np.full((5, 2), 0.1, "float32"), np.zeros(2, "float32")])
        # Trust ratio 1 and an epsilon far above sqrt(v): the step is about m, so it
        # scales with 1 / max(1, ||G||) (a replica's own norm would give another step).
        optimizer = LAMB(learning_rate=0.1, normalize_by_global_gradient_norm=normalize,
                         epsilon=10.0, exclude_from_layer_adaptation=[".*"])
        model.compile(optimizer=optimizer, loss="mse")
    kernel, bias = (tf.Variable(v) for v in model.get_weights())
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(x @ kernel + bias - y))
    norm = np.sqrt(sum(float(tf.reduce_sum(g * g)) for g in tape.gradient(loss, [kernel, bias])))
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return [w.numpy() for w in model.weights], norm


def test_global_gradient_norm_is_taken_after_the_cross_replica_sum():
    """Two replicas (8 examples each) step like one device on the whole batch: the norm
    divides the all-reduced gradient, not a replica's own (about half as large)."""
    mirrored, norm = _nvlamb_fit(mirrored_strategy())
    alone, _ = _nvlamb_fit()
    plain, _ = _nvlamb_fit(normalize=False)
    assert norm > 2.0  # the division by max(1, ||G||) matters
    for a, b in zip(mirrored, alone):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # g / ||G||: NVLAMB moves about ||G|| times less than plain LAMB
    moved, moved_plain = (np.abs(w[0] - 0.1).max() for w in (alone, plain))
    assert moved_plain > 1.5 * moved > 0


# --- precision and XLA -----------------------------------------------------------------
@pytest.mark.parametrize("cls", [LAMB, LARS])
def test_bfloat16_variables_use_float32_norms(cls):
    """bfloat16 variables: the step follows the reference to bfloat16 precision (2^-8)."""
    options = {"weight_decay": 0.01}
    paths, params, grads, lrs = make_problem()
    variables = make_variables(paths, [p.astype("float32") for p in params])
    low = [keras.Variable(v.numpy(), dtype="bfloat16", name=v.name) for v in variables]
    optimizer = cls(learning_rate=lrs[0], **options)
    optimizer.build(low)
    history = []
    for step_grads, lr in list(zip(grads, lrs))[:5]:
        optimizer.learning_rate = lr
        optimizer.apply([keras.ops.cast(g, "bfloat16") for g in step_grads], low)
        history.append([np.asarray(keras.ops.cast(v, "float32")) for v in low])
    algorithm = "lamb" if cls is LAMB else "lars"
    reference = reference_trajectory(algorithm, options)[:5]
    assert all(np.all(np.isfinite(x)) for step in history for x in step)
    assert max_relative_error(history, reference) < 3e-2


@pytest.mark.parametrize("algorithm,variant", [("lamb", "global_norm"), ("lars", "nesterov")])
def test_xla_compiled_steps_match_reference(algorithm, variant):
    options = (LAMB_VARIANTS if algorithm == "lamb" else LARS_VARIANTS)[variant]
    paths, params, grads, lrs = make_problem()
    variables = make_variables(paths, params)
    optimizer = (LAMB if algorithm == "lamb" else LARS)(learning_rate=lrs[0], **options)
    optimizer.build(variables)

    @tf.function(jit_compile=True)
    def step(step_grads, lr):
        optimizer.learning_rate.assign(lr)
        optimizer.apply(step_grads, variables)

    history = []
    for step_grads, lr in zip(grads, lrs):
        step([tf.constant(g) for g in step_grads], tf.constant(lr))
        history.append([np.asarray(v.numpy(), np.float64) for v in variables])
    assert max_relative_error(history, reference_trajectory(algorithm, options)) <= 1e-6


@pytest.mark.parametrize("cls", [LAMB, LARS])
def test_sparse_embedding_gradients_are_densified(cls):
    """An IndexedSlices gradient (TensorFlow embeddings) gives the same step as its dense form."""
    table = np.arange(12, dtype="float32").reshape(4, 3) / 10.0
    rows = tf.IndexedSlices(tf.ones((2, 3)), indices=tf.constant([1, 3]), dense_shape=[4, 3])
    sparse_var, dense_var = keras.Variable(table), keras.Variable(table)
    cls(learning_rate=0.5, weight_decay=0.01).apply([rows], [sparse_var])
    cls(learning_rate=0.5, weight_decay=0.01).apply([tf.convert_to_tensor(rows)], [dense_var])
    np.testing.assert_allclose(sparse_var.numpy(), dense_var.numpy(), rtol=1e-6)
    assert not np.allclose(sparse_var.numpy(), table)
