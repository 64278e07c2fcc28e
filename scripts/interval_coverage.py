#!/usr/bin/env python
"""Measure the coverage of the analysis's 90% intervals on simulated studies with known truth.

    python scripts/interval_coverage.py                       # the table of docs/analysis.md
    python scripts/interval_coverage.py --studies 100 --models halfnormal --trials 8

For each luck model of tests/analysis/synthetic_searches.py and each number of trials per batch
size, simulates `--studies` studies over batch sizes 16..1024 (S_min = 1000, B_crit = 128),
runs `tfbsz.analysis.scaling_intervals` on each and counts how often each interval holds the
truth: B_crit, S_min of the search curve, each batch size's search steps, and the two regime
boundaries (the estimands of tests/analysis/synthetic_searches.py; `--truth workload` checks
B_crit = 128 and S_min = 1000 themselves instead). Also the profile-likelihood interval of `fit_critical_batch` for comparison.
Prints a Markdown table: coverages, the median widths (log(high / low)) of the bootstrap and the
profile-likelihood B_crit intervals, and the median fitted B_crit (truth: 128). `--overhead`
adds a fixed number of steps to every trial (a warmup fixed in steps); `--eval-every` puts every
batch size on one evaluation grid (an integer, or auto).
"""

import argparse
import math
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from analysis.synthetic_searches import LUCK_MODELS, first_steps, search_curve  # noqa: E402
from tfbsz.analysis import classify_regimes, fit_critical_batch, scaling_intervals  # noqa: E402
from tfbsz.core.errors import ConfigError  # noqa: E402

BATCH_SIZES = [16, 32, 64, 128, 256, 512, 1024]
S_MIN, B_CRIT = 1000.0, 128.0


def _inside(interval, value):
    return interval is not None and interval[0] <= value <= interval[1]


def measure(model, trials, studies, resamples, seed=0, overhead=0.0, eval_every=None, budget=None,
            truth="search"):
    """{quantity: coverage}, median log-widths of the two B_crit intervals, studies, median B_crit.

    truth="search": the estimands of the search curve (tests/analysis/synthetic_searches.py);
    "workload": the workload's own B_crit = 128 (to show biases such as a fixed overhead).
    """
    rng = np.random.default_rng(seed)
    grid = {"overhead": overhead, "eval_every": eval_every, "budget": budget}
    truth_steps = list(search_curve(BATCH_SIZES, S_MIN, B_CRIT, trials, model, **grid))
    curve = fit_critical_batch(BATCH_SIZES, truth_steps)
    true_b_crit, true_s_min = (curve.b_crit, curve.s_min) if truth == "search" else (B_CRIT, S_MIN)
    truth = classify_regimes(BATCH_SIZES, truth_steps)
    hits = {k: [] for k in ("B_crit", "S_min", "steps", "last perfect", "max useful", "B_crit (profile)")}
    widths, profile_widths, estimates = [], [], []
    for study in range(studies):
        firsts = first_steps(rng, BATCH_SIZES, S_MIN, B_CRIT, trials, model, **grid)
        minima = firsts.min(axis=1)
        if np.isfinite(minima).sum() < 3:
            continue
        iv = scaling_intervals(BATCH_SIZES, list(firsts), n_resamples=resamples, seed=study)
        hits["B_crit"].append(_inside(iv.b_crit, true_b_crit))
        hits["S_min"].append(_inside(iv.s_min, true_s_min))
        hits["steps"].extend(_inside(iv.steps[b], s) for b, s in zip(BATCH_SIZES, truth_steps))
        hits["last perfect"].append(_inside(iv.last_perfect, truth.last_perfect_batch_size or 0))
        hits["max useful"].append(_inside(iv.max_useful, truth.max_useful_batch_size or math.inf))
        if iv.b_crit:
            widths.append(math.log(iv.b_crit[1] / iv.b_crit[0]) if iv.b_crit[0] > 0 else math.inf)
        try:
            fit = fit_critical_batch(BATCH_SIZES, [s if math.isfinite(s) else None for s in minima])
            estimates.append(fit.b_crit)
            hits["B_crit (profile)"].append(_inside(fit.b_crit_interval, true_b_crit))
            low, high = fit.b_crit_interval
            profile_widths.append(math.log(high / low) if low > 0 else math.inf)
        except ConfigError:
            hits["B_crit (profile)"].append(False)
    return ({k: float(np.mean(v)) for k, v in hits.items()}, float(np.median(widths)),
            float(np.median(profile_widths)), len(hits["B_crit"]), float(np.median(estimates)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(LUCK_MODELS))
    parser.add_argument("--trials", default="8,16")
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)))
    parser.add_argument("--overhead", type=float, default=0.0, help="fixed extra steps per trial (a warmup)")
    parser.add_argument("--eval-every", help="an integer or 'auto' (default: every S(B) / 40 steps)")
    parser.add_argument("--budget", type=int, default=40_000, help="steps budget, for --eval-every auto")
    parser.add_argument("--truth", choices=["search", "workload"], default="search",
                        help="cover the search curve's estimands, or the workload's B_crit = 128 and S_min = 1000")
    args = parser.parse_args(argv)
    eval_every = None if args.eval_every is None else args.eval_every if args.eval_every == "auto" else int(args.eval_every)
    BATCH_SIZES[:] = [int(b) for b in args.batch_sizes.split(",")]
    print("| luck model | trials | studies | B_crit | S_min | steps per batch size | last perfect | "
          "max useful | B_crit profile | B_crit width (log) | profile width (log) | median B_crit |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for model in args.models.split(","):
        for trials in map(int, args.trials.split(",")):
            started = time.perf_counter()
            cov, width, profile_width, n, median = measure(model, trials, args.studies, args.resamples,
                                                           overhead=args.overhead, eval_every=eval_every,
                                                           budget=args.budget, truth=args.truth)
            print(f"| {model} | {trials} | {n} | {cov['B_crit']:.2f} | {cov['S_min']:.2f} | {cov['steps']:.2f} | "
                  f"{cov['last perfect']:.2f} | {cov['max useful']:.2f} | {cov['B_crit (profile)']:.2f} | "
                  f"{width:.2f} | {profile_width:.2f} | {median:.0f} |", flush=True)
            print(f"<!-- {time.perf_counter() - started:.0f} s -->", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
