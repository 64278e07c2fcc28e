"""Momentum held in an optimizer variable: tfbsz's MomentumSGD (Keras's SGD update) and LARS.

MomentumSGD must give Keras's SGD weights step by step; LARS with a momentum
changed before every step must follow the float64 reference fed the same momenta;
setting `optimizer.momentum` after build assigns the variable (no retrace) and
everything survives serialization. The JAX backend runs in a subprocess.
"""

import copy
import os

import keras
import numpy as np
import pytest
from helpers import run_python

import tfbsz.optimizers as optimizers
from optimizers.driver import make_variables, max_relative_error
from optimizers.reference import LARS_VARIANTS, make_problem, reference_trajectory
from tfbsz.core.errors import ConfigError
from tfbsz.optimizers import LARS, MomentumSGD

SHAPES = [(5, 4), (4,), (2, 3, 3), (3, 1)]
STEPS = 20


def _keras_sgd_pair(momentum, nesterov, momenta=None, seed=0):
    """Keras SGD and MomentumSGD on the same random problem: final weights of both."""
    rng = np.random.default_rng(seed)
    init = [rng.normal(size=s).astype("float32") for s in SHAPES]
    results = []
    for cls in (keras.optimizers.SGD, MomentumSGD):
        variables = [keras.Variable(x) for x in init]
        optimizer = cls(learning_rate=0.05, momentum=momentum, nesterov=nesterov)
        grad_rng = np.random.default_rng(seed + 1)
        for step in range(STEPS):
            if momenta is not None:
                optimizer.momentum = momenta[step]  # eager apply: both read the new value
            grads = [grad_rng.normal(size=s).astype("float32") for s in SHAPES]
            optimizer.apply(grads, variables)
        results.append([v.numpy() for v in variables])
    return results


@pytest.mark.parametrize("momentum,nesterov", [(0.9, False), (0.9, True), (0.0, False),
                                               (0.5, True)])
def test_momentum_sgd_matches_keras_sgd_step_by_step(momentum, nesterov):
    keras_weights, ours = _keras_sgd_pair(momentum, nesterov)
    for a, b in zip(keras_weights, ours):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_sgd_matches_keras_sgd_with_changing_momentum(nesterov):
    momenta = [float(m) for m in np.linspace(0.95, 0.5, STEPS)]
    keras_weights, ours = _keras_sgd_pair(0.95, nesterov, momenta)
    constant = _keras_sgd_pair(0.95, nesterov)[1]
    for a, b, c in zip(keras_weights, ours, constant):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
        assert not np.allclose(b, c, rtol=1e-3)  # the changes took effect


def _mlp():
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh"),
                             keras.layers.Dense(3)])


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_sgd_matches_keras_sgd_in_compiled_fit(nesterov):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(80, 6)).astype("float32")
    y = rng.normal(size=(80, 3)).astype("float32")
    weights = None
    finals = []
    for cls in (keras.optimizers.SGD, MomentumSGD):
        model = _mlp()
        if weights is None:
            weights = model.get_weights()
        model.set_weights(weights)
        model.compile(cls(learning_rate=0.05, momentum=0.9, nesterov=nesterov), loss="mse")
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)  # 20 steps
        assert int(model.optimizer.iterations.numpy()) == STEPS
        finals.append(model.get_weights())
    for a, b in zip(*finals):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", [MomentumSGD, LARS])
def test_momentum_property_assigns_the_variable_once_built(cls):
    variables = [keras.Variable(np.ones((2, 2), "float32"))]
    optimizer = cls(learning_rate=0.1, momentum=0.9)
    assert optimizer.momentum == 0.9 and optimizer.momentum_variable is None
    optimizer.momentum = 0.8  # before build: just the float
    optimizer.build(variables)
    variable = optimizer.momentum_variable
    assert sum(v is variable for v in optimizer.variables) == 1
    assert float(variable.numpy()) == pytest.approx(0.8)
    assert optimizer.momentum == 0.8 and optimizer.get_config()["momentum"] == 0.8
    optimizer.momentum = 0.85
    assert float(variable.numpy()) == pytest.approx(0.85) and optimizer.momentum == 0.85
    assert optimizer.momentum_variable is variable
    variable.assign(0.5)  # changed another way (e.g. loaded weights): the variable wins
    assert optimizer.momentum == 0.5
    with pytest.raises(ConfigError, match="momentum: expected a number"):
        optimizer.momentum = -0.1


@pytest.mark.parametrize("cls", [MomentumSGD, LARS])
def test_zero_momentum_keeps_no_velocity_and_cannot_be_raised(cls):
    optimizer = cls(learning_rate=0.1, momentum=0.0)
    optimizer.build([keras.Variable(np.ones((2, 2), "float32"))])
    # iteration, learning rate, momentum coefficient: no velocity
    assert len(optimizer.variables) == 3
    optimizer.momentum = 0.0
    with pytest.raises(ConfigError, match="built with momentum=0"):
        optimizer.momentum = 0.5


def test_lars_momentum_error_message_is_unchanged():
    with pytest.raises(ConfigError) as info:
        LARS(momentum=1.0)
    assert str(info.value) == "momentum: expected a number in [0, 1), got 1.0"


@pytest.mark.parametrize("variant", ["default", "nesterov", "lr_outside_momentum",
                                     "lr_outside_nesterov"])
def test_lars_with_scheduled_momentum_follows_reference(variant):
    options = LARS_VARIANTS[variant]
    paths, params, grads, lrs = make_problem()
    momenta = [float(np.float32(0.95 - 0.4 * abs(np.sin(k)))) for k in range(len(grads))]
    variables = make_variables(paths, params)
    optimizer = LARS(learning_rate=lrs[0], **options)
    history = []
    for step_grads, lr, momentum in zip(grads, lrs, momenta):
        optimizer.learning_rate = lr
        optimizer.momentum = momentum
        optimizer.apply(step_grads, variables)
        history.append([np.asarray(v.numpy(), np.float64) for v in variables])
    reference = reference_trajectory("lars", {**options, "momentum": momenta})
    assert max_relative_error(history, reference) <= 1e-6
    fixed = reference_trajectory("lars", options)
    assert max_relative_error(history, fixed) > 1e-3  # the momenta really changed the steps


def test_factory_names_build_momentum_sgd():
    assert type(optimizers.build("momentum", 0.1)) is MomentumSGD
    nesterov = optimizers.build("nesterov", 0.1, momentum=0.8)
    assert type(nesterov) is MomentumSGD and nesterov.nesterov and nesterov.momentum == 0.8
    assert isinstance(nesterov, keras.optimizers.SGD)
    assert type(optimizers.build("sgd", 0.1)) is keras.optimizers.SGD
    assert not optimizers.schedule_counts_updates("momentum")  # Keras's micro-step counting


@pytest.mark.parametrize("options", [
    {}, {"momentum": 0.9}, {"momentum": 0.5, "nesterov": True},
    {"momentum": 0.9, "gradient_accumulation_steps": 2, "clipnorm": 1.0, "name": "my_sgd"},
    {"learning_rate": keras.optimizers.schedules.CosineDecay(0.01, 100), "momentum": 0.8},
])
def test_momentum_sgd_config_round_trip(options):
    optimizer = MomentumSGD(**options)
    config = optimizer.get_config()
    assert config.keys() == keras.optimizers.SGD(**options).get_config().keys()
    restored = MomentumSGD.from_config(copy.deepcopy(config))
    assert restored.get_config() == config
    serialized = keras.saving.serialize_keras_object(optimizer)
    assert serialized["registered_name"] == "tfbsz>MomentumSGD"
    again = keras.saving.deserialize_keras_object(serialized)
    assert type(again) is MomentumSGD and again.get_config() == config


@pytest.mark.parametrize("cls,options", [(MomentumSGD, {"momentum": 0.9, "nesterov": True}),
                                         (LARS, {"weight_decay": 1e-3})], ids=["MomentumSGD",
                                                                               "LARS"])
def test_saved_model_keeps_the_scheduled_momentum(tmp_path, cls, options):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = rng.normal(size=(32, 3)).astype("float32")
    model = _mlp()
    model.compile(optimizer=cls(learning_rate=0.01, **options), loss="mse")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    model.optimizer.momentum = 0.7  # as a schedule would leave it
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects: registered under "tfbsz"
    assert type(loaded.optimizer) is cls
    assert loaded.optimizer.momentum == 0.7
    assert float(loaded.optimizer.momentum_variable.numpy()) == pytest.approx(0.7)
    for saved, restored in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(saved.numpy(), restored.numpy())
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


JAX_CODE = """
import keras, numpy as np
keras.utils.set_random_seed(0)
from tfbsz.optimizers import LARS, MomentumSGD
rng = np.random.default_rng(4)
x = rng.normal(size=(80, 6)).astype("float32")
y = rng.normal(size=(80, 3)).astype("float32")
def mlp():
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh"),
                             keras.layers.Dense(3)])
class SetMomentum(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.momentum = 0.95 - 0.02 * batch
for nesterov in (False, True):
    weights, finals = None, []
    for cls in (keras.optimizers.SGD, MomentumSGD):
        model = mlp()
        weights = weights or model.get_weights()
        model.set_weights(weights)
        model.compile(cls(learning_rate=0.05, momentum=0.9, nesterov=nesterov), loss="mse")
        # Keras's SGD needs a rebuilt train function per momentum; run it eagerly
        model.run_eagerly = cls is keras.optimizers.SGD
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0,
                  callbacks=[SetMomentum()])
        finals.append(model.get_weights())
    for a, b in zip(*finals):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
opt = LARS(learning_rate=0.1, momentum=0.9)
opt.build([keras.Variable(np.ones((2, 2), "float32"))])
opt.momentum = 0.6
assert any(v is opt.momentum_variable for v in opt.variables)
assert abs(float(opt.momentum_variable.numpy()) - 0.6) < 1e-7
print("BACKEND", keras.backend.backend())
"""


def test_momentum_sgd_matches_keras_sgd_on_jax_with_changing_momentum():
    result = run_python(JAX_CODE, backend="jax", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "BACKEND jax" in result.stdout
