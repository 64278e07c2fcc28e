"""Simulated metaparameter searches with known truth, for the coverage of the analysis's intervals.

A trial at batch size B reaches the goal after ``S(B) * luck`` steps, S(B) = s_min (1 + b_crit / B)
the best any metaparameters can do, rounded up to the trial's evaluation grid (every S(B) / 40
steps). `luck` (>= 1, or inf: the trial missed) is drawn per trial from one of LUCK_MODELS:

* `halfnormal`: exp(|N(0, 0.3)|), the model of `synthetic_studies.py`;
* `exponential`: exp(Exp(mean 0.3));
* `bowl_1d`, `bowl_2d`: a quasi-real search: 1 or 2 parameters drawn uniformly over their log range
  (2 decades), the best point at a random place in the middle 60% of it; steps grow as
  1 + 4 d^2 with the distance d (range = 2), and a trial more than 5x slower than the best misses;
* `lognormal_misses`: exp(N(0, 0.25)) (a luck that can be below 1), and 20% of trials miss.

The truths the intervals are meant to cover (estimands, docs/analysis.md section 3) are those of
the *search curve*: at each batch size the steps to result that a search of this many trials
measures, median over repeated searches (`search_curve`, by simulation: it includes the rounding
to the evaluation grid); the B_crit and S_min of the McCandlish fit to that curve, and its regime
boundaries under the rules of `classify_regimes`. Without rounding the search curve is
S(B) * m, m = `search_factor` (the median of the smallest of `trials` lucks), so its B_crit is
b_crit and its S_min is s_min * m.
"""

import numpy as np

LUCK_MODELS = ("halfnormal", "exponential", "bowl_1d", "bowl_2d", "lognormal_misses")


def luck(rng, shape, model):
    """Multiplicative luck factors of shape `shape` (inf: missed)."""
    if model == "halfnormal":
        return np.exp(np.abs(rng.normal(0.0, 0.3, shape)))
    if model == "exponential":
        return np.exp(rng.exponential(0.3, shape))
    if model == "lognormal_misses":
        values = np.exp(rng.normal(0.0, 0.25, shape))
        values[rng.random(shape) < 0.2] = np.inf
        return values
    if model in ("bowl_1d", "bowl_2d"):
        dims = 1 if model == "bowl_1d" else 2
        best = rng.uniform(-0.6, 0.6, shape[:-1] + (1, dims))
        points = rng.uniform(-1.0, 1.0, shape + (dims,))
        values = 1.0 + 4.0 * ((points - best) ** 2).sum(axis=-1)
        values[values > 5.0] = np.inf
        return values
    raise ValueError(f"model: expected one of {LUCK_MODELS}, got {model!r}")


def search_factor(model, trials, draws=200_000, seed=12345):
    """m: the median over searches of the smallest of `trials` lucks (Monte Carlo)."""
    return float(np.median(luck(np.random.default_rng(seed), (draws, trials), model).min(axis=1)))


def first_steps(rng, batch_sizes, s_min, b_crit, trials, model, evals_to_target=40, overhead=0.0,
                eval_every=None, budget=None):
    """(K, trials) first goal-reaching steps of one simulated study (inf: missed).

    By default each batch size evaluates every S(B) / `evals_to_target` steps; `eval_every` (an
    int, or "auto" with `budget`) puts every batch size on that grid instead. `overhead` adds a
    fixed number of steps to every trial (e.g. a warmup fixed in steps).
    """
    batch_sizes = np.asarray(batch_sizes, float)
    best = s_min * (1.0 + b_crit / batch_sizes)
    steps = best[:, None] * luck(rng, (len(batch_sizes), trials), model) + overhead
    if eval_every is None:
        every = np.maximum(1.0, np.round(best / evals_to_target))[:, None]
        return np.ceil(steps / every) * every
    from tfbsz.study.eval_schedule import evaluation_steps

    grid = np.array(evaluation_steps(eval_every, budget) + [np.inf], float)
    return grid[np.searchsorted(grid, np.where(np.isfinite(steps), steps, np.inf))]


def search_curve(batch_sizes, s_min, b_crit, trials, model, searches=2000, seed=99, **grid):
    """Per batch size, the median over `searches` simulated searches of the measured steps to result."""
    rng = np.random.default_rng(seed)
    minima = np.array([first_steps(rng, batch_sizes, s_min, b_crit, trials, model, **grid).min(axis=1)
                       for _ in range(searches)])
    return np.median(minima, axis=0)
