"""A cohort of 3 under `jax.jit(jax.vmap(stateless_apply))` with `per_trial.bind`, against
3 optimizers built with each member's values and run alone (eager `apply`), per optimizer name.

Run with KERAS_BACKEND=jax (tests/optimizers/test_per_trial.py does); prints one JSON line:
{name: {"per_trial": [...], "expected": [...], "worst": error, "errors": {variable: error},
"sensitivity": {per-trial name: error when only that value is another member's},
"moved": largest change of a weight, "restored": bool}}.

Every member has its own initial weights, gradients and a different value of every
per-trial name; the shared optimizer is built with a learning-rate *schedule*, so a
member follows the solo run only if the bound learning rate replaces it. Values are
float32 numbers (a cohort carries float32; see per_trial's "Precision").
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from optimizers.driver import make_variables  # noqa: E402
from tfbsz.optimizers import build, names, per_trial  # noqa: E402

MEMBERS = 3
STEPS = 5
PATHS = ["dense/kernel", "dense/bias", "norm/gamma", "conv/kernel"]
SHAPES = [(4, 3), (3,), (3,), (2, 2, 3)]

# Per name, one value per member (rounded to float32 below).
VALUES = {
    "learning_rate": (0.01, 0.03, 0.002),
    "momentum": (0.9, 0.5, 0.99),
    "beta_1": (0.9, 0.8, 0.95),
    "beta_2": (0.999, 0.99, 0.9),
    "epsilon": (1e-6, 1e-3, 1e-8),
    "weight_decay": (0.01, 0.0, 0.1),
    "trust_coefficient": (0.001, 0.01, 0.02),
}
LARS_LEARNING_RATES = (1.0, 3.0, 0.5)  # LARS's trust ratio makes its steps ~1000x smaller

# Options of the shared optimizer that switch every per-trial name on.
TEMPLATE_OPTIONS = {
    "sgd": {"weight_decay": 0.01},
    "momentum": {"weight_decay": 0.01},
    "nesterov": {"weight_decay": 0.01},
    "adam": {"weight_decay": 0.01},
    "adamw": {},
    "lamb": {"weight_decay": 0.01},
    "lars": {"weight_decay": 1e-4, "epsilon": 1e-3},
}

EXPECTED_NAMES = {
    "sgd": ("learning_rate", "weight_decay"),
    "momentum": ("learning_rate", "momentum", "weight_decay"),
    "nesterov": ("learning_rate", "momentum", "weight_decay"),
    "adam": ("learning_rate", "beta_1", "beta_2", "epsilon", "weight_decay"),
    "adamw": ("learning_rate", "beta_1", "beta_2", "epsilon", "weight_decay"),
    "lamb": ("learning_rate", "beta_1", "beta_2", "epsilon", "weight_decay"),
    "lars": ("learning_rate", "trust_coefficient", "epsilon", "momentum", "weight_decay"),
}


# Optimizer variables compared are the per-variable ones (moments, velocities).
SKIP = {"iteration", "learning_rate", "momentum_coefficient"}


def _f32(x):
    return float(np.float32(x))


def member_values(name, bindable):
    """{name: value} for each member, every per-trial name different between members."""
    members = []
    for m in range(MEMBERS):
        values = {}
        for key in bindable:
            table = LARS_LEARNING_RATES if (name, key) == ("lars", "learning_rate") else VALUES[key]
            values[key] = _f32(table[m])
        members.append(values)
    return members


def problem(seed):
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=(MEMBERS, *s)).astype("float32") for s in SHAPES]
    grads = [
        [rng.normal(scale=10.0 ** rng.uniform(-2, 1), size=(MEMBERS, *s)).astype("float32")
         for s in SHAPES]
        for _ in range(STEPS)
    ]
    return params, grads


def cohort_run(name, members, params, grads):
    schedule = keras.optimizers.schedules.ExponentialDecay(5.0, decay_steps=1, decay_rate=0.5)
    template = build(name, schedule, **TEMPLATE_OPTIONS[name])
    variables = make_variables(PATHS, [p[0] for p in params])
    template.build(variables)
    names_bound = per_trial.per_trial_names(template)

    def member_step(opt_values, param_values, step_grads, hyper):
        with per_trial.bind(template, hyper):
            return template.stateless_apply(opt_values, step_grads, param_values)

    step = jax.jit(jax.vmap(member_step))
    opt_values = [np.stack([np.asarray(v.value)] * MEMBERS) for v in template.variables]
    param_values = list(params)
    hyper = {k: np.array([m[k] for m in members], "float32") for k in names_bound}
    for step_grads in grads:
        param_values, opt_values = step(opt_values, param_values, step_grads, hyper)
    restored = template._learning_rate is schedule
    slots = {
        v.name: np.asarray(value)
        for v, value in zip(template.variables, opt_values)
        if v.name not in SKIP
    }
    return [np.asarray(p) for p in param_values], slots, names_bound, restored


def solo_run(name, values, params, grads, m):
    """Member `m` alone: an optimizer built with its values, a jitted `stateless_apply`."""
    options = {**TEMPLATE_OPTIONS[name], **values}
    learning_rate = options.pop("learning_rate")
    optimizer = build(name, learning_rate, **options)
    variables = make_variables(PATHS, [p[m] for p in params])
    optimizer.build(variables)
    step = jax.jit(optimizer.stateless_apply)
    opt_values = [v.value for v in optimizer.variables]
    param_values = [v.value for v in variables]
    for step_grads in grads:
        param_values, opt_values = step(opt_values, [g[m] for g in step_grads], param_values)
    slots = {
        v.name: np.asarray(value)
        for v, value in zip(optimizer.variables, opt_values)
        if v.name not in SKIP
    }
    return [np.asarray(p) for p in param_values], slots


def relative_error(a, b):
    """Largest elementwise |a - b| / (|b| + 1e-30) where |b| > 1e-6 * max|b|, else scaled."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(float(np.max(np.abs(b))), 1e-30)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-3 * scale)))


def main():
    assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"
    report = {}
    for index, name in enumerate(names()):
        params, grads = problem(index)
        template_names = per_trial.per_trial_names(
            build(name, 0.1, **TEMPLATE_OPTIONS[name])
        )
        members = member_values(name, template_names)
        cohort_params, cohort_slots, bound, restored = cohort_run(name, members, params, grads)
        errors = {}
        moved = 0.0
        for m, values in enumerate(members):
            solo_params, solo_slots = solo_run(name, values, params, grads, m)
            for path, a, b, start in zip(PATHS, cohort_params, solo_params, params):
                errors[f"{m}:{path}"] = relative_error(a[m], b)
                moved = max(moved, float(np.max(np.abs(b - start[m]))))
            assert set(solo_slots) == set(cohort_slots), (sorted(solo_slots), sorted(cohort_slots))
            for slot, value in solo_slots.items():
                errors[f"{m}:{slot}"] = relative_error(cohort_slots[slot][m], value)
        # Each name matters: member 0 run alone with one value taken from member 1
        # is far from member 0 in the cohort.
        sensitivity = {}
        for key in template_names:
            solo_params, _ = solo_run(name, {**members[0], key: members[1][key]}, params, grads, 0)
            sensitivity[key] = max(
                relative_error(a[0], b) for a, b in zip(cohort_params, solo_params)
            )
        report[name] = {
            "sensitivity": sensitivity,
            "per_trial": list(bound),
            "expected": list(EXPECTED_NAMES[name]),
            "worst": max(errors.values()),
            "errors": errors,
            "moved": moved,
            "restored": restored,
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
