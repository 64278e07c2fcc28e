"""`tfbsz.optimizers.build/names/options` and the constructors' argument checks."""

import keras
import pytest

import tfbsz.optimizers as optimizers
from tfbsz.core.errors import ConfigError
from tfbsz.optimizers import LAMB, LARS, MomentumSGD


def test_public_names_exist():
    for name in optimizers.__all__:
        assert hasattr(optimizers, name), name


def test_names():
    assert optimizers.names() == ["adam", "adamw", "lamb", "lars", "momentum", "nesterov", "sgd"]


@pytest.mark.parametrize("name,cls,checks", [
    ("sgd", keras.optimizers.SGD, {"momentum": 0.0, "nesterov": False}),
    ("momentum", MomentumSGD, {"momentum": 0.9, "nesterov": False}),
    ("nesterov", MomentumSGD, {"momentum": 0.9, "nesterov": True}),
    ("adam", keras.optimizers.Adam, {"beta_1": 0.9}),
    ("adamw", keras.optimizers.AdamW, {"weight_decay": 0.004}),
    ("lars", LARS, {"trust_coefficient": 0.001, "momentum": 0.9}),
    ("lamb", LAMB, {"epsilon": 1e-6, "bias_correction": True}),
])
def test_build_each_name(name, cls, checks):
    optimizer = optimizers.build(name, 0.5)
    assert type(optimizer) is cls
    assert float(optimizer.learning_rate) == 0.5
    for key, value in checks.items():
        assert getattr(optimizer, key) == value, key


def test_options_lists_defaults_and_base_arguments():
    lamb = optimizers.options("lamb")
    assert lamb["epsilon"] == 1e-6 and lamb["trust_ratio_bounds"] is None
    assert "gradient_accumulation_steps" in lamb and "learning_rate" not in lamb
    assert "nesterov" not in optimizers.options("nesterov")
    assert optimizers.options("momentum")["momentum"] == 0.9
    assert optimizers.options("lars")["trust_ratio_denominator"] == "sum_of_norms"
    options = optimizers.options("adam")
    options["beta_1"] = 0.0  # a copy: the registry is unchanged
    assert optimizers.options("adam")["beta_1"] == 0.9


def test_options_and_build_accept_what_options_lists():
    for name in optimizers.names():
        optimizer = optimizers.build(name, 0.1, **optimizers.options(name))
        assert isinstance(optimizer, keras.optimizers.Optimizer)


def test_schedule_counting():
    assert optimizers.schedule_counts_updates("lamb") and optimizers.schedule_counts_updates("lars")
    assert not optimizers.schedule_counts_updates("adam")


def test_accumulation_of_one_means_none():
    one = optimizers.build("lamb", 0.1, gradient_accumulation_steps=1)
    four = optimizers.build("adam", 0.1, gradient_accumulation_steps=4)
    assert one.gradient_accumulation_steps is None
    assert four.gradient_accumulation_steps == 4


@pytest.mark.parametrize("call,message", [
    (lambda: optimizers.build("lasr", 0.1),
     "optimizer.name: unknown optimizer 'lasr' (did you mean 'lars'?); valid names: adam, "
     "adamw, lamb, lars, momentum, nesterov, sgd"),
    (lambda: optimizers.build("lars", 0.1, nestrov=True),
     "optimizer.nestrov: unknown option for optimizer 'lars' (did you mean 'nesterov'?)"),
    (lambda: optimizers.build("sgd", 0.1, momentum=0.9),
     "optimizer.momentum: unknown option for optimizer 'sgd'"),
    (lambda: optimizers.build("momentum", 0.1, momentum=1.5),
     "optimizer.momentum: expected a number in [0, 1), got 1.5"),
    (lambda: optimizers.build("adam", -1.0),
     "optimizer.learning_rate: expected a number > 0, got -1.0"),
    (lambda: optimizers.build("lamb", "fast"),
     "optimizer.learning_rate: expected a positive number or a LearningRateSchedule, got 'fast'"),
    (lambda: optimizers.build("lamb", 0.1, trust_ratio_bounds=[2.0, 1.0]),
     "optimizer.trust_ratio_bounds: expected lower <= upper, got [2.0, 1.0]"),
    (lambda: optimizers.build("lars", 0.1, trust_ratio_denominator="paper"),
     "optimizer.trust_ratio_denominator: expected one of sum_of_norms, norm_of_sum, got 'paper'"),
    (lambda: optimizers.build("lamb", 0.1, gradient_accumulation_steps=0),
     "optimizer.gradient_accumulation_steps: expected an integer >= 1 or null, got 0"),
    (lambda: optimizers.build("adamw", 0.1, clipnorm=1.0, clipvalue=1.0),
     "optimizer (adamw): Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set"),
])
def test_factory_errors(call, message):
    with pytest.raises(ConfigError) as info:
        call()
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize("cls,kwargs,message", [
    (LAMB, {"beta_1": 1.0}, "beta_1: expected a number in [0, 1), got 1.0"),
    (LAMB, {"beta_2": -0.1}, "beta_2: expected a number in [0, 1), got -0.1"),
    (LAMB, {"epsilon": 0.0}, "epsilon: expected a number > 0, got 0.0"),
    (LAMB, {"weight_decay": -1e-4}, "weight_decay: expected a number >= 0, got -0.0001"),
    (LAMB, {"bias_correction": "yes"}, "bias_correction: expected true or false, got 'yes'"),
    (LAMB, {"normalize_by_global_gradient_norm": 1},
     "normalize_by_global_gradient_norm: expected true or false, got 1 (int)"),
    (LAMB, {"trust_ratio_bounds": 5.0},
     "trust_ratio_bounds: expected null or a pair [lower, upper], got 5.0 (float)"),
    (LAMB, {"trust_ratio_bounds": (-1.0, 2.0)},
     "trust_ratio_bounds[0]: expected a number >= 0, got -1.0"),
    (LAMB, {"learning_rate": 0.0}, "learning_rate: expected a number > 0, got 0.0"),
    (LAMB, {"exclude_from_weight_decay": "bias("},
     "exclude_from_weight_decay[0]: 'bias(' is not a regular expression: missing ),"),
    (LAMB, {"exclude_from_layer_adaptation": {"bias": True}},
     "exclude_from_layer_adaptation: expected a list of regular expressions or null, "
     "got {'bias': True} (dict)"),
    (LAMB, {"exclude_from_layer_adaptation": ["bias", 3]},
     "exclude_from_layer_adaptation[1]: expected a string, got 3 (int)"),
    (LARS, {"momentum": 1.0}, "momentum: expected a number in [0, 1), got 1.0"),
    (LARS, {"trust_coefficient": 0.0},
     "trust_coefficient: expected a number > 0, got 0.0"),
    (LARS, {"epsilon": float("nan")}, "epsilon: expected a number >= 0, got nan (float)"),
    (LARS, {"nesterov": None}, "nesterov: expected true or false, got nothing (null)"),
    (LARS, {"learning_rate_inside_momentum": "classic"},
     "learning_rate_inside_momentum: expected true or false, got 'classic'"),
])
def test_constructor_errors_name_argument_rule_and_value(cls, kwargs, message):
    with pytest.raises(ConfigError) as info:
        cls(**kwargs)
    assert str(info.value).startswith(message), str(info.value)


def test_unknown_keyword_is_rejected_by_keras():
    with pytest.raises(ValueError, match="not recognized"):
        LAMB(eta=0.1)
