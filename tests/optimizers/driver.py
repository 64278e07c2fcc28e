"""Runs tfbsz's LARS/LAMB on `reference.make_problem` so tests can compare trajectories.

Works on any Keras backend (the JAX subprocess test imports it too). `subprocess_result`
runs code on another backend and returns what it printed as `RESULT <json>`.
"""

import json

import keras
import numpy as np

from optimizers.reference import make_problem


def make_variables(paths, params):
    """Keras variables with the given layer-style paths ("dense/kernel") and values."""
    layers = {}
    variables = []
    for path, value in zip(paths, params):
        layer_name, var_name = path.split("/")
        layer = layers.setdefault(layer_name, keras.layers.Layer(name=layer_name))
        var = layer.add_weight(shape=value.shape, name=var_name, initializer="zeros",
                               dtype=str(value.dtype))
        var.assign(value)
        variables.append(var)
    return variables


def tfbsz_trajectory(optimizer_class, options, seed=0, steps=None, dtype="float32"):
    """Parameters (float64 copies) after each step, learning rate set before each step."""
    paths, params, grads, lrs = make_problem(seed)
    steps = steps or len(grads)
    variables = make_variables(paths, [p.astype(dtype) for p in params])
    optimizer = optimizer_class(learning_rate=lrs[0], **options)
    history = []
    for step_grads, lr in list(zip(grads, lrs))[:steps]:
        optimizer.learning_rate = lr
        optimizer.apply([g.astype(dtype) for g in step_grads], variables)
        history.append([np.asarray(v.numpy(), np.float64) for v in variables])
    return optimizer, history


def max_relative_error(history, reference_history):
    """Largest ||a - b|| / ||b|| over steps and variables (absolute where ||b|| = 0)."""
    worst = 0.0
    for step, ref_step in zip(history, reference_history):
        for a, b in zip(step, ref_step):
            denom = np.linalg.norm(b)
            err = np.linalg.norm(a - b) / (denom if denom > 0 else 1.0)
            worst = max(worst, float(err))
    return worst


def stateless_trajectory(optimizer_class, options, seed=0):
    """Like `tfbsz_trajectory`, through a jitted `stateless_apply` (JAX backend only)."""
    import jax

    paths, params, grads, lrs = make_problem(seed)
    variables = make_variables(paths, params)
    optimizer = optimizer_class(learning_rate=lrs[0], **options)
    optimizer.build(variables)
    lr_index = [i for i, v in enumerate(optimizer.variables) if v is optimizer._learning_rate][0]

    @jax.jit
    def step(opt_values, param_values, step_grads, lr):
        opt_values = list(opt_values)
        opt_values[lr_index] = lr
        return optimizer.stateless_apply(opt_values, step_grads, param_values)

    opt_values = [v.value for v in optimizer.variables]
    param_values = [v.value for v in variables]
    history = []
    for step_grads, lr in zip(grads, lrs):
        param_values, opt_values = step(opt_values, param_values, step_grads, np.float32(lr))
        history.append([np.asarray(p, np.float64) for p in param_values])
    return history


def subprocess_result(code, backend="jax", timeout=240):
    """Runs `code` (which prints one line `RESULT <json>`) in a subprocess; returns the JSON."""
    from helpers import run_python

    result = run_python(code, backend=backend, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("RESULT")][0]
    return json.loads(line.split(" ", 1)[1])
