"""The GradientNoiseScale Keras callback on a linear model with known gradient covariance."""

import os
import textwrap

import numpy as np
import pytest

from helpers import run_python
from noise_scale.gns_linear_problem import DELTA, DIM, dataset, exact_noise_scale
from tfbsz.core.errors import ConfigError


def _fixed_weight_linear_model(keras, w):
    """Dense(1) without bias at weights w, compiled with MSE and a zero learning rate."""
    model = keras.Sequential([keras.Input((DIM,)), keras.layers.Dense(1, use_bias=False, name="linear")])
    model.get_layer("linear").set_weights([w[:, None].astype("float32")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    return model


def test_callback_in_fit_matches_the_exact_noise_scale(tmp_path):
    import keras

    from tfbsz.training.noise_scale import GradientNoiseScale

    rng = np.random.default_rng(0)
    w_star = rng.normal(size=DIM)
    x, y = dataset(rng, 20000, w_star)
    model = _fixed_weight_linear_model(keras, w_star + DELTA)
    gns = GradientNoiseScale(x, y, every=1, small_batch=32, big_batch=512, decay=0.995,
                             seed=1, log_dir=str(tmp_path / "tb"))
    history = model.fit(x[:3200], y[:3200], batch_size=8, epochs=1, verbose=0, callbacks=[gns])

    assert len(gns.history) == 400
    assert gns.history[-1]["gradient_noise_scale"] == pytest.approx(exact_noise_scale(), rel=0.10)
    assert history.history["gradient_noise_scale"][-1] == gns.history[-1]["gradient_noise_scale"]
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "tb"))


def exact_gradient_norm_sq(x, y, w):
    """|d mean((x w - y)^2) / dw|^2 in float64: the linear model's gradient is 2/n x^T (x w - y)."""
    x, y, w = (np.asarray(a, np.float64) for a in (x, y, w))
    grad = 2.0 / len(x) * x.T @ (x @ w - y.reshape(-1))
    return float(grad @ grad)


def check_compiled_norms(keras, gradient_norm_sq_function):
    """The compiled squared gradient norm against the float64 formula, before and after the weights
    change (they are arguments, not constants baked into the compiled function), at two batch
    shapes. Returns the largest relative error."""
    rng = np.random.default_rng(3)
    x, y = dataset(rng, 600, rng.normal(size=DIM))
    model = _fixed_weight_linear_model(keras, rng.normal(size=DIM))
    norm_sq = gradient_norm_sq_function(model, keras.losses.MeanSquaredError())
    worst = 0.0
    for _ in range(2):
        w = model.get_layer("linear").get_weights()[0][:, 0]
        for n in (32, 512):
            exact = exact_gradient_norm_sq(x[:n], y[:n], w)
            worst = max(worst, abs(norm_sq(x[:n], y[:n]) - exact) / exact)
        model.get_layer("linear").set_weights([rng.normal(size=(DIM, 1)).astype("float32")])
    return worst


def test_compiled_gradient_norm_matches_the_float64_formula():
    import keras

    from tfbsz.training.noise_scale import gradient_norm_sq_function

    assert check_compiled_norms(keras, gradient_norm_sq_function) < 1e-5


def test_callback_measures_only_every_n_steps():
    import keras

    from tfbsz.training.noise_scale import GradientNoiseScale

    rng = np.random.default_rng(0)
    x, y = dataset(rng, 256, np.zeros(DIM))
    model = _fixed_weight_linear_model(keras, DELTA)
    gns = GradientNoiseScale(x, y, every=5, small_batch=4, big_batch=64)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[gns])
    assert [h["step"] for h in gns.history] == [5, 10, 15]


def test_bad_callback_arguments_name_the_argument():
    from tfbsz.training.noise_scale import GradientNoiseScale

    x = np.zeros((100, DIM), "float32")
    y = np.zeros((100, 1), "float32")
    with pytest.raises(ConfigError, match="big_batch: expected at most len"):
        GradientNoiseScale(x, y, small_batch=8, big_batch=200)
    with pytest.raises(ConfigError, match="every"):
        GradientNoiseScale(x, y, every=0, small_batch=8, big_batch=64)
    with pytest.raises(ConfigError, match="y: expected 100"):
        GradientNoiseScale(x, y[:50], small_batch=8, big_batch=64)


JAX_CODE = textwrap.dedent(
    """
    import numpy as np, keras
    from tfbsz.training.noise_scale import GradientNoiseScale
    from noise_scale.gns_linear_problem import DELTA, DIM, dataset, exact_noise_scale
    assert keras.backend.backend() == "jax"
    rng = np.random.default_rng(0)
    w_star = rng.normal(size=DIM)
    x, y = dataset(rng, 20000, w_star)
    model = keras.Sequential([keras.Input((DIM,)), keras.layers.Dense(1, use_bias=False, name="linear")])
    model.get_layer("linear").set_weights([(w_star + DELTA)[:, None].astype("float32")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    gns = GradientNoiseScale(x, y, every=1, small_batch=32, big_batch=512, decay=0.99, seed=1)
    model.fit(x[:1600], y[:1600], batch_size=8, epochs=1, verbose=0, callbacks=[gns])
    print("RATIO", gns.history[-1]["gradient_noise_scale"] / exact_noise_scale())
    from noise_scale.test_noise_scale_callback import check_compiled_norms
    from tfbsz.training.noise_scale import gradient_norm_sq_function
    print("WORST", check_compiled_norms(keras, gradient_norm_sq_function))
    """
)


def test_callback_on_the_jax_backend():
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = run_python(JAX_CODE, backend="jax", timeout=240, PYTHONPATH=_pythonpath(tests_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    ratio = float(result.stdout.split("RATIO")[1].split()[0])
    assert abs(ratio - 1.0) < 0.10, ratio
    assert float(result.stdout.split("WORST")[1]) < 1e-5


def _pythonpath(tests_dir):
    root = os.path.dirname(tests_dir)
    return os.pathsep.join([root, tests_dir])
