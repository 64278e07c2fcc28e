"""Every LARS/LAMB option survives get_config/from_config, Keras serialization and a .keras file."""

import copy
import os

import keras
import numpy as np
import pytest

import tfbsz.optimizers  # noqa: F401  (registers tfbsz>LARS and tfbsz>LAMB)
from tfbsz.optimizers import LAMB, LARS

LAMB_OPTIONS = [
    {},
    {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-4},
    {"weight_decay": 0.05},
    {"exclude_from_weight_decay": ["bias", "norm"], "exclude_from_layer_adaptation": []},
    {"exclude_from_layer_adaptation": ["^emb/"]},
    {"bias_correction": False},
    {"normalize_by_global_gradient_norm": True},
    {"trust_ratio_bounds": (0.01, 10.0)},
    {"gradient_accumulation_steps": 3, "global_clipnorm": 1.0, "name": "my_lamb"},
    {"learning_rate": keras.optimizers.schedules.CosineDecay(0.01, 100)},
]
LARS_OPTIONS = [
    {},
    {"momentum": 0.5, "nesterov": True},
    {"weight_decay": 1e-4, "trust_coefficient": 0.02, "epsilon": 1e-9},
    {"trust_ratio_denominator": "norm_of_sum"},
    {"learning_rate_inside_momentum": False},
    {"exclude_from_weight_decay": [], "exclude_from_layer_adaptation": ["batch_norm", "bias"]},
    {"momentum": 0.0, "use_ema": True, "ema_momentum": 0.9},
    {"learning_rate": keras.optimizers.schedules.PolynomialDecay(5.0, 100, 1e-4, power=2.0)},
]
CASES = [(LAMB, o) for o in LAMB_OPTIONS] + [(LARS, o) for o in LARS_OPTIONS]



def _json_like(value):
    if isinstance(value, dict):
        return {k: _json_like(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_like(v) for v in value]
    return value


@pytest.mark.parametrize("cls,options", CASES, ids=[f"{c.__name__}{i}" for i, (c, _) in
                                                   enumerate(CASES)])
def test_config_round_trip(cls, options):
    optimizer = cls(**options)
    config = optimizer.get_config()
    for key, value in options.items():
        if key != "learning_rate":
            assert _json_like(config[key]) == _json_like(value), key
    restored = cls.from_config(copy.deepcopy(config))  # from_config edits its argument
    assert _json_like(restored.get_config()) == _json_like(config)

    serialized = keras.saving.serialize_keras_object(optimizer)
    assert serialized["registered_name"] == f"tfbsz>{cls.__name__}"
    again = keras.saving.deserialize_keras_object(serialized)
    assert type(again) is cls
    assert _json_like(again.get_config()) == _json_like(config)


def _model():
    inputs = keras.Input((4,))
    x = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    x = keras.layers.LayerNormalization(name="norm")(x)
    outputs = keras.layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("cls,options", [
    (LAMB, {"weight_decay": 0.01, "exclude_from_weight_decay": ["norm", "bias"],
            "trust_ratio_bounds": (0.1, 5.0), "normalize_by_global_gradient_norm": True}),
    (LARS, {"weight_decay": 1e-3, "nesterov": True, "trust_ratio_denominator": "norm_of_sum",
            "exclude_from_layer_adaptation": ["logits/"]}),
], ids=["LAMB", "LARS"])
def test_compiled_model_saves_and_loads(tmp_path, cls, options):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = rng.integers(0, 3, size=32)
    model = _model()
    model.compile(optimizer=cls(learning_rate=0.01, **options),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)

    loaded = keras.saving.load_model(path)  # no custom_objects: registered under "tfbsz"
    assert type(loaded.optimizer) is cls
    assert _json_like(loaded.optimizer.get_config()) == _json_like(model.optimizer.get_config())
    for saved, restored in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(saved.numpy(), restored.numpy())
    assert loaded.optimizer.variable_treatments() == model.optimizer.variable_treatments()
    # Training continues identically from the restored state.
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
