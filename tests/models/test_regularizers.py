"""Label smoothing and mixup against their NumPy formulas."""

import keras
import numpy as np
import pytest

from tfbsz.training import regularizers
from tfbsz.core.errors import ConfigError


def numpy_log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def numpy_smoothed_ce(labels, logits, eps):
    k = logits.shape[-1]
    target = (1 - eps) * np.eye(k)[labels] + eps / k
    return -(target * numpy_log_softmax(logits)).sum(axis=-1).mean()


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("label_shape", [(6,), (3, 5)], ids=["classification", "language_model"])
def test_label_smoothing_equals_its_formula(eps, label_shape):
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=label_shape + (7,)).astype("float32")
    labels = rng.integers(0, 7, label_shape)
    got = float(regularizers.smoothed_cross_entropy(eps)(labels, logits))
    np.testing.assert_allclose(got, numpy_smoothed_ce(labels, logits, eps), rtol=1e-5)


def test_zero_smoothing_equals_keras_sparse_cross_entropy():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 9)).astype("float32")
    labels = rng.integers(0, 9, 4)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    ours = regularizers.smoothed_cross_entropy(0.0)(labels, logits)
    np.testing.assert_allclose(float(ours), float(keras_loss), rtol=1e-6)


def test_smoothing_accepts_bfloat16_logits():
    logits = keras.ops.cast(np.array([[2.0, 0.0, 0.0]]), "bfloat16")
    got = float(regularizers.smoothed_cross_entropy(0.1)(np.array([0]), logits))
    np.testing.assert_allclose(got, numpy_smoothed_ce(np.array([0]), np.array([[2.0, 0, 0]]), 0.1),
                               rtol=1e-5)


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_soft_cross_entropy_equals_its_formula(eps):
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(5, 4)).astype("float32")
    targets = rng.dirichlet(np.ones(4), size=5).astype("float32")
    got = float(regularizers.soft_target_cross_entropy(eps)(targets, logits))
    smoothed = (1 - eps) * targets + eps / 4
    expected = -(smoothed * numpy_log_softmax(logits)).sum(axis=-1).mean()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_soft_and_sparse_losses_agree_on_one_hot_targets():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(6, 5)).astype("float32")
    labels = rng.integers(0, 5, 6)
    soft = regularizers.soft_target_cross_entropy(0.1)(np.eye(5, dtype="float32")[labels], logits)
    sparse = regularizers.smoothed_cross_entropy(0.1)(labels, logits)
    np.testing.assert_allclose(float(soft), float(sparse), rtol=1e-5)


@pytest.mark.parametrize("bad", [-0.1, 1.0, "0.1", True])
def test_label_smoothing_is_checked(bad):
    with pytest.raises(ConfigError, match=r"label_smoothing: expected a number in \[0, 1\), got"):
        regularizers.smoothed_cross_entropy(bad)
    with pytest.raises(ConfigError, match=r"label_smoothing: expected a number in \[0, 1\)"):
        regularizers.soft_target_cross_entropy(bad)


@pytest.mark.parametrize("cls", [regularizers.SmoothedCrossEntropy, regularizers.SoftTargetCrossEntropy])
def test_losses_survive_serialization(cls):
    loss = cls(label_smoothing=0.05)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is cls
    assert restored.get_config() == loss.get_config()
    assert restored.label_smoothing == 0.05


def test_mixup_targets_are_convex_combinations_with_the_documented_lambda():
    rng = np.random.default_rng(4)
    x = rng.random((16, 4, 4, 3)).astype("float32")
    y = rng.integers(0, 10, 16)
    x_mixed, y_mixed = regularizers.mixup_batch(x, y, alpha=0.4, num_classes=10,
                                                rng=np.random.default_rng(123))
    # the documented draws: lambda first, then the permutation
    replay = np.random.default_rng(123)
    lam = replay.beta(0.4, 0.4)
    perm = replay.permutation(16)
    onehot = np.eye(10)[y]
    np.testing.assert_allclose(x_mixed, lam * x + (1 - lam) * x[perm], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y_mixed, lam * onehot + (1 - lam) * onehot[perm], rtol=1e-5, atol=1e-6)
    assert x_mixed.dtype == np.float32 and y_mixed.dtype == np.float32
    np.testing.assert_allclose(y_mixed.sum(axis=1), 1.0, rtol=1e-6)
    assert (y_mixed >= 0).all()
    assert not np.allclose(x_mixed, x)  # something was mixed


def test_mixup_lambda_follows_beta_alpha_alpha():
    # With x = one-hot of the example's index and labels = index, x_mixed[i, i] is lambda
    # wherever the pairing moves example i (and 1 where it does not), so the smallest
    # diagonal entry is lambda; and the targets mix exactly like the inputs.
    n, alpha = 8, 0.2
    rng = np.random.default_rng(5)
    lams = []
    for _ in range(2000):
        x_mixed, y_mixed = regularizers.mixup_batch(np.eye(n), np.arange(n), alpha, n, rng)
        np.testing.assert_allclose(y_mixed, x_mixed, atol=1e-6)
        lams.append(np.diag(x_mixed).min())
    lams = np.array(lams)
    # Beta(alpha, alpha): mean 1/2, variance 1 / (4 (2 alpha + 1)) = 0.179 for alpha 0.2
    assert abs(lams.mean() - 0.5) < 0.03
    assert abs(lams.var() - 1 / (4 * (2 * alpha + 1))) < 0.015
    # U-shaped for alpha < 1: most draws are near 0 or 1
    assert ((lams < 0.1) | (lams > 0.9)).mean() > 0.5


def test_mixup_stream_is_deterministic_in_its_seed():
    batches = [(np.random.default_rng(i).random((4, 3)), np.array([0, 1, 2, 1])) for i in range(3)]
    first = list(regularizers.mixup_batches(iter(batches), 1.0, 3, seed=7))
    again = list(regularizers.mixup_batches(iter(batches), 1.0, 3, seed=7))
    other = list(regularizers.mixup_batches(iter(batches), 1.0, 3, seed=8))
    for (xa, ya), (xb, yb) in zip(first, again):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(first, other))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"alpha": 0.0}, r"mixup\.alpha: expected a number > 0, got 0\.0"),
        ({"num_classes": 1}, r"mixup\.num_classes: expected an integer >= 2, got 1"),
        ({"y": np.array([0, 3])}, r"mixup: labels must lie in \[0, 3\), got values from 0 to 3"),
        ({"y": np.array([0, 1, 2])}, r"mixup: expected x of shape \[batch, \.\.\.\]"),
    ],
)
def test_mixup_arguments_are_checked(kwargs, message):
    args = {"x": np.zeros((2, 3)), "y": np.array([0, 1]), "alpha": 0.2, "num_classes": 3,
            "rng": np.random.default_rng(0)}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        regularizers.mixup_batch(**args)


def test_training_with_mixup_and_soft_targets_lowers_the_loss():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(6)
    x = rng.random((16, 5)).astype("float32")
    y = rng.integers(0, 3, 16)
    x_mixed, y_mixed = regularizers.mixup_batch(x, y, 1.0, 3, rng)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, name="out")])
    loss = regularizers.soft_target_cross_entropy(0.1)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=loss, run_eagerly=True)
    before = float(loss(y_mixed, model(x_mixed)))
    model.train_on_batch(x_mixed, y_mixed)
    assert float(loss(y_mixed, model(x_mixed))) < before
