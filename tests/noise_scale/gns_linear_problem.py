"""Linear regression with Gaussian noise: a problem whose gradient noise scale is known exactly.

Per-example loss (x.w - y)^2 with x ~ N(0, I_d), y = x.w_star + eps, eps ~ N(0, sigma^2).
At w = w_star + delta the per-example gradient is g = 2 (x.delta - eps) x, so (Isserlis)
G = 2 delta, |G|^2 = 4 |delta|^2 and Sigma = 4 ((|delta|^2 + sigma^2) I + delta delta^T), hence
tr(Sigma) = 4 ((|delta|^2 + sigma^2) d + |delta|^2).
"""

import numpy as np

DIM = 64
SIGMA = 1.0
DELTA = np.eye(DIM)[0]  # |delta| = 1


def exact_grad_sq(delta=DELTA):
    return 4.0 * float(delta @ delta)


def exact_trace_sigma(delta=DELTA, sigma=SIGMA):
    d2 = float(delta @ delta)
    return 4.0 * ((d2 + sigma**2) * len(delta) + d2)


def exact_noise_scale(delta=DELTA, sigma=SIGMA):
    return exact_trace_sigma(delta, sigma) / exact_grad_sq(delta)   # 129 with the defaults


def per_example_gradients(rng, n, delta=DELTA, sigma=SIGMA):
    """n fresh per-example gradients at w_star + delta, shape [n, d]."""
    x = rng.normal(size=(n, len(delta)))
    residual = x @ delta - rng.normal(scale=sigma, size=n)
    return 2.0 * residual[:, None] * x


def dataset(rng, n, w_star, sigma=SIGMA):
    """(x, y) float32 arrays, y of shape [n, 1]."""
    x = rng.normal(size=(n, len(w_star))).astype("float32")
    y = (x @ w_star + rng.normal(scale=sigma, size=n)).astype("float32")[:, None]
    return x, y
