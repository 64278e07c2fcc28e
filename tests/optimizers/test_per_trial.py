"""`per_trial.bind`: cohort members under jit(vmap) follow their own values exactly; bind
restores the optimizer and names what it cannot bind."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from helpers import subprocess_env
from optimizers.driver import make_variables
from tfbsz.optimizers import build, names, per_trial

HERE = os.path.dirname(os.path.abspath(__file__))
TOLERANCE = 1e-6  # float32; only LAMB's bias correction differs (float64 vs float32 log)


def test_cohort_members_match_solo_runs_on_jax():
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "per_trial_jax_check.py")],
        env=subprocess_env("jax", JAX_PLATFORMS="cpu"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(report) == names()
    for name, entry in report.items():
        assert entry["per_trial"] == entry["expected"], name
        assert entry["worst"] <= TOLERANCE, (name, entry["errors"])
        assert entry["moved"] > 1e-2, name
        assert entry["restored"], name
        # every bound value changes the result, so a value silently ignored would fail
        assert min(entry["sensitivity"].values()) > 100 * TOLERANCE, (name, entry["sensitivity"])


def _built(name, **options):
    optimizer = build(name, 0.1, **options)
    variables = make_variables(["dense/kernel", "dense/bias"],
                               [np.ones((3, 2), "float32"), np.zeros(2, "float32")])
    optimizer.build(variables)
    return optimizer, variables


def _state(optimizer):
    keys = ("_learning_rate", "beta_1", "beta_2", "epsilon", "weight_decay",
            "trust_coefficient", "_momentum_variable")
    return {k: getattr(optimizer, k) for k in keys if hasattr(optimizer, k)}


@pytest.mark.parametrize("name", names())
def test_bind_restores_the_optimizer_also_after_an_error(name):
    optimizer, variables = _built(name, weight_decay=0.01)
    before = _state(optimizer)
    bound = {key: keras.ops.convert_to_tensor(0.5) for key in per_trial.per_trial_names(optimizer)}
    with per_trial.bind(optimizer, bound):
        assert float(optimizer.learning_rate) == 0.5
    after = _state(optimizer)
    assert after.keys() == before.keys()
    assert all(after[k] is before[k] for k in before), name
    with pytest.raises(RuntimeError, match="inside"):
        with per_trial.bind(optimizer, bound):
            raise RuntimeError("inside")
    assert all(_state(optimizer)[k] is before[k] for k in before), name

    # and the next step is the step of an optimizer that was never bound
    fresh, fresh_variables = _built(name, weight_decay=0.01)
    grads = [np.full((3, 2), 0.3, "float32"), np.full(2, -0.2, "float32")]
    optimizer.apply(grads, variables)
    fresh.apply(grads, fresh_variables)
    for a, b in zip(variables, fresh_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize(
    "name,options,key,message",
    [
        ("sgd", {}, "momentum", r"'momentum' is not a per-trial hyperparameter of SGD "
         r"\(per-trial: learning_rate\); Keras's SGD tests momentum != 0 in Python"),
        ("lamb", {}, "weight_decay", r"of LAMB \(per-trial: learning_rate, beta_1, beta_2, "
         r"epsilon\); it was built with weight_decay=0"),
        ("adam", {}, "weight_decay", r"built with weight_decay=None"),
        ("lars", {"momentum": 0.0}, "momentum", r"built with momentum 0"),
        ("lars", {}, "beta_1", r"^values: 'beta_1' is not a per-trial hyperparameter of LARS "
         r"\(per-trial: learning_rate, trust_coefficient, epsilon, momentum\)$"),
    ],
)
def test_bind_names_what_it_cannot_bind(name, options, key, message):
    optimizer, _ = _built(name, **options)
    before = _state(optimizer)
    with pytest.raises(ValueError, match=message):
        with per_trial.bind(optimizer, {"learning_rate": 0.5, key: 0.5}):
            pass
    assert all(_state(optimizer)[k] is before[k] for k in before)


def test_bind_needs_a_built_optimizer_and_a_dict():
    with pytest.raises(ValueError, match=r"^optimizer: LAMB is not built"):
        with per_trial.bind(build("lamb", 0.1), {"learning_rate": 0.5}):
            pass
    optimizer, _ = _built("lamb")
    with pytest.raises(ValueError, match=r"^values: expected a dict"):
        with per_trial.bind(optimizer, [0.5]):
            pass


def test_loss_scale_optimizer_binds_its_inner_optimizer():
    inner, variables = _built("lamb", weight_decay=0.01)
    wrapped = keras.optimizers.LossScaleOptimizer(inner)
    assert per_trial.per_trial_names(wrapped) == per_trial.per_trial_names(inner)
    with per_trial.bind(wrapped, {"beta_1": 0.5}):
        assert inner.beta_1 == 0.5
    assert inner.beta_1 == 0.9
