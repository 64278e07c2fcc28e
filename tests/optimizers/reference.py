"""Float64 NumPy reference for LARS and LAMB, written from the papers' equations.

Independent of tfbsz (no Keras, no shared helpers), so a bug in the shared
trust-ratio code cannot hide in both. Each function runs a whole trajectory:
given initial parameters, one list of gradients per step and one learning rate
per step, it returns the parameters after every step.

Per variable `i`, `decay[i]` and `adapt[i]` say whether it gets weight decay
and the trust ratio (the resolved exclusion table).

Also the random problem every comparison uses (`make_problem`) and the
golden-trajectory writer (`python tests/optimizers/reference.py`).
"""

import json
import os

import numpy as np

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")

# name -> (shape, initial value kind, gradient scale); kinds: "normal", "zeros", "ones".
# Paths follow Keras layer naming, so the path-regex exclusions can be tested.
PROBLEM_VARIABLES = [
    ("dense/kernel", (4, 3), "normal", 1.0),
    ("dense/bias", (3,), "zeros", 0.1),
    ("conv/kernel", (2, 3, 3), "normal", 10.0),
    ("norm/gamma", (3,), "ones", 1e-3),
    ("head/kernel", (3, 2), "zeros", 0.5),
    ("late/kernel", (2, 2), "normal", 1.0),  # zero gradient for the first 5 steps
]
STEPS = 20


def make_problem(seed=0, steps=STEPS):
    """(paths, initial float32 arrays, per-step float32 gradients, per-step learning rates)."""
    rng = np.random.default_rng(seed)
    paths, params, scales = [], [], []
    for path, shape, kind, scale in PROBLEM_VARIABLES:
        if kind == "normal":
            value = rng.normal(size=shape)
        elif kind == "zeros":
            value = np.zeros(shape)
        else:
            value = np.ones(shape)
        paths.append(path)
        params.append(value.astype("float32"))
        scales.append(scale)
    grads = []
    for step in range(steps):
        step_grads = []
        for (path, shape, _, _), scale in zip(PROBLEM_VARIABLES, scales):
            g = scale * rng.normal(size=shape)
            if path == "late/kernel" and step < 5:
                g = np.zeros(shape)
            step_grads.append(g.astype("float32"))
        grads.append(step_grads)
    learning_rates = [float(np.float32(0.05 * (1.0 + 0.5 * np.sin(step)))) for step in range(steps)]
    return paths, params, grads, learning_rates


def _norm(x):
    return float(np.sqrt(np.sum(np.square(x))))


def _ratio(weight_norm, update_norm, numerator, denominator):
    if weight_norm > 0 and update_norm > 0:
        return numerator / denominator
    return 1.0


def lamb_trajectory(
    params, grads, learning_rates, decay, adapt, beta_1=0.9, beta_2=0.999, epsilon=1e-6,
    weight_decay=0.0, bias_correction=True, normalize_by_global_gradient_norm=False,
    trust_ratio_bounds=None,
):
    """LAMB (You et al. 2019, Algorithm 2, phi(z) = z); returns params after each step."""
    w = [np.asarray(p, np.float64).copy() for p in params]
    m = [np.zeros_like(x) for x in w]
    v = [np.zeros_like(x) for x in w]
    history = []
    for t, (step_grads, lr) in enumerate(zip(grads, learning_rates), start=1):
        g_all = [np.asarray(g, np.float64) for g in step_grads]
        if normalize_by_global_gradient_norm:
            total = np.sqrt(sum(np.sum(g * g) for g in g_all))
            g_all = [g / max(1.0, total) for g in g_all]
        for i, g in enumerate(g_all):
            m[i] = beta_1 * m[i] + (1 - beta_1) * g
            v[i] = beta_2 * v[i] + (1 - beta_2) * g * g
            if bias_correction:
                m_hat = m[i] / (1 - beta_1**t)
                v_hat = v[i] / (1 - beta_2**t)
            else:
                m_hat, v_hat = m[i], v[i]
            r = m_hat / (np.sqrt(v_hat) + epsilon)
            u = r + weight_decay * w[i] if decay[i] else r
            phi = 1.0
            if adapt[i]:
                wn, un = _norm(w[i]), _norm(u)
                phi = _ratio(wn, un, wn, un)
                if trust_ratio_bounds is not None and wn > 0 and un > 0:
                    phi = min(max(phi, trust_ratio_bounds[0]), trust_ratio_bounds[1])
            w[i] = w[i] - lr * phi * u
        history.append([x.copy() for x in w])
    return history


def lars_trajectory(
    params, grads, learning_rates, decay, adapt, momentum=0.9, nesterov=False, weight_decay=0.0,
    trust_coefficient=0.001, epsilon=0.0, trust_ratio_denominator="sum_of_norms",
    learning_rate_inside_momentum=True,
):
    """LARS (You, Gitman, Ginsburg 2017, Algorithm 1); returns params after each step.

    `momentum` is a number or one number per step (a scheduled momentum).
    """
    w = [np.asarray(p, np.float64).copy() for p in params]
    vel = [np.zeros_like(x) for x in w]
    history = []
    momenta = list(momentum) if isinstance(momentum, (list, tuple)) else [momentum] * len(grads)
    for step_grads, lr, momentum in zip(grads, learning_rates, momenta):
        for i, g in enumerate(step_grads):
            g = np.asarray(g, np.float64)
            lam = weight_decay if decay[i] else 0.0
            d = g + lam * w[i]
            local_lr = lr
            if adapt[i]:
                wn, gn = _norm(w[i]), _norm(g)
                if trust_ratio_denominator == "sum_of_norms":
                    local_lr = lr * _ratio(wn, gn, trust_coefficient * wn, gn + lam * wn + epsilon)
                else:
                    dn = _norm(d)
                    local_lr = lr * _ratio(wn, dn, trust_coefficient * wn, dn + epsilon)
            if learning_rate_inside_momentum:
                vel[i] = momentum * vel[i] + local_lr * d
                step = momentum * vel[i] + local_lr * d if nesterov else vel[i]
            else:
                vel[i] = momentum * vel[i] + d
                step = local_lr * (momentum * vel[i] + d if nesterov else vel[i])
            w[i] = w[i] - step
        history.append([x.copy() for x in w])
    return history


# Variants compared step by step (tests) and pinned as golden trajectories.
# "decay"/"adapt" rules: "rank" = excluded when rank <= 1; "none" = nothing excluded;
# a list = regexes on the path.
LAMB_VARIANTS = {
    "default": {},
    "weight_decay": {"weight_decay": 0.01},
    "weight_decay_all_adapted": {"weight_decay": 0.01, "exclude_from_layer_adaptation": []},
    "weight_decay_regex": {
        "weight_decay": 0.1,
        "exclude_from_weight_decay": ["bias", "norm/"],
        "exclude_from_layer_adaptation": ["^conv/"],
    },
    "no_bias_correction": {"bias_correction": False, "weight_decay": 0.01},
    "trust_ratio_bounds": {"trust_ratio_bounds": (0.5, 2.0), "exclude_from_layer_adaptation": []},
    "global_norm": {"normalize_by_global_gradient_norm": True, "weight_decay": 0.01},
    "betas_epsilon": {"beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3},
}
LARS_VARIANTS = {
    "default": {},
    "weight_decay": {"weight_decay": 5e-3},
    "norm_of_sum": {"weight_decay": 5e-3, "trust_ratio_denominator": "norm_of_sum"},
    "nesterov": {"nesterov": True, "weight_decay": 5e-3},
    "lr_outside_momentum": {"learning_rate_inside_momentum": False, "weight_decay": 5e-3},
    "lr_outside_nesterov": {"learning_rate_inside_momentum": False, "nesterov": True},
    "no_momentum": {"momentum": 0.0, "weight_decay": 5e-3},
    "epsilon_eta_regex": {
        "epsilon": 1e-2, "trust_coefficient": 0.02, "weight_decay": 1e-2,
        "exclude_from_weight_decay": [], "exclude_from_layer_adaptation": ["^dense/"],
    },
}


def resolve(paths, shapes, rule):
    """Exclusion rule -> per-variable "included" flags (True = gets decay/adaptation)."""
    import re

    if rule is None:
        return [len(s) > 1 for s in shapes]
    return [not any(re.search(p, path) for p in rule) for path in paths]


def reference_trajectory(algorithm, options, seed=0):
    """Runs the reference for one variant on `make_problem(seed)`."""
    paths, params, grads, lrs = make_problem(seed)
    shapes = [p.shape for p in params]
    options = dict(options)
    decay = resolve(paths, shapes, options.pop("exclude_from_weight_decay", None))
    adapt = resolve(paths, shapes, options.pop("exclude_from_layer_adaptation", None))
    run = lamb_trajectory if algorithm == "lamb" else lars_trajectory
    return run(params, grads, lrs, decay, adapt, **options)


def write_golden():
    """Writes golden/{lamb,lars}.json: per variant, each variable's norm after each step."""
    os.makedirs(GOLDEN_DIR, exist_ok=True)
    for algorithm, variants in (("lamb", LAMB_VARIANTS), ("lars", LARS_VARIANTS)):
        table = {}
        for name, options in variants.items():
            history = reference_trajectory(algorithm, options)
            table[name] = {
                "norms": [[float("%.12g" % _norm(x)) for x in step] for step in history],
                "final_head_kernel": [float("%.12g" % x) for x in history[-1][4].ravel()],
            }
        with open(os.path.join(GOLDEN_DIR, f"{algorithm}.json"), "w") as f:
            json.dump(table, f, indent=1)


if __name__ == "__main__":
    write_golden()
