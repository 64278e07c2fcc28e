"""`python -m tfbsz.report`: plots and tables of steps-to-result against batch size.

Usage::

    python -m tfbsz.report RUN_DIR [RUN_DIR ...] [--output DIR] [--target VALUE]
                           [--metric NAME] [--direction min|max] [--confidence 0.9] [--seed 0]
                           [--goals 0.1,0.07,0.05]

Each RUN_DIR is a tfbsz study root or any tree in Shallue et al.'s layout (their released data
included); every (dataset, model, optimizer) found is one curve. The target comes from a tfbsz
study's `tfbsz_study.json`; for a bare Shallue tree give `--target` (and `--metric`, which
defaults to val/classification_error). `--target` with a tfbsz study overrides its threshold.

Writes to `--output` (default: RUN_DIR/report for the first RUN_DIR):

* `steps_to_result.png`: steps vs batch size (log-log) with search-luck intervals, the fitted
  small-batch limit E_min / B (perfect scaling), the fitted S_min (1 + B_crit / B) curve and
  B_crit, regimes shaded, best trials at a search edge circled in red;
* `metaparameters.png`: best learning rate and effective learning rate lr / (1 - momentum) vs
  batch size with the linear and square-root heuristics from the smallest batch size;
* `summary.csv` (one row per workload and batch size) and `summary.md` (every interval named for
  what it is, warnings: search edges, hits at the first evaluation, unsaturated searches);
* `search_saturation.png` and `.json`: best steps so far against the number of trials, per
  batch size (has the search saturated?);
* `goal_sensitivity.png` and `.csv`, and a table in summary.md: steps to result, B_crit and the
  regime boundaries for several goals (`--goals`, default: the target and two easier and two
  harder goals, `tfbsz.analysis.default_goals`);
* when the trials logged `train/gradient_noise_scale` (`noise_scale.enabled: true`), the measured
  B_simple at the goal next to B_crit.

Bad input prints one line ``tfbsz.report: error: ...`` and exits with code 2.

Example::

    python -m tfbsz.report runs/mnist --output /tmp/report
    python -m tfbsz.report batch_science_data/mnist --target 0.01 --metric val/classification_error
"""

import argparse
import csv
import json
import math
import os
import sys
from statistics import NormalDist

from tfbsz.analysis import (
    Target,
    analyze_workload,
    default_direction,
    default_goals,
    load_workloads,
    scaling_heuristics,
)
from tfbsz.analysis.scaling_intervals import CURVE_INTERVAL, STEPS_INTERVAL
from tfbsz.core.errors import TfbszError

__all__ = ["main", "write_report"]

PROG = "tfbsz.report"
DEFAULT_METRIC = "val/classification_error"
CSV_COLUMNS = [
    "run_dir", "workload", "metric", "threshold", "direction", "batch_size", "trials", "reached",
    "diverged", "steps", "steps_low", "steps_high", "regime", "best_trial", "learning_rate",
    "momentum", "effective_learning_rate", "at_search_edge", "first_evaluation_hit", "saturated",
    "noise_scale", "b_crit", "b_crit_low", "b_crit_high", "s_min", "s_min_low", "s_min_high", "b_simple",
    "b_simple_low", "b_simple_high",
]
ROW_COLUMNS = ("batch_size", "trials", "reached", "diverged", "steps", "steps_low", "steps_high", "regime",
               "best_trial", "learning_rate", "momentum", "effective_learning_rate", "first_evaluation_hit",
               "saturated", "noise_scale")
GOAL_RESAMPLES = 500   # bootstrap resamples per extra goal of the goal-sensitivity table
REGIME_COLORS = {"perfect": "#2ca02c", "diminishing": "#ffbf00", "beyond_max_useful": "#d62728"}
REGIME_LABELS = {
    "perfect": "perfect scaling",
    "diminishing": "diminishing returns",
    "beyond_max_useful": "beyond max. useful batch",
}


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        raise TfbszError(message)


def _parse_args(argv):
    parser = _ArgumentParser(prog=PROG, description="Plots and tables of steps to result vs batch size.")
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="study roots or Shallue-layout trees")
    parser.add_argument("--output", help="output folder (default: RUN_DIR/report of the first RUN_DIR)")
    parser.add_argument("--target", help="goal threshold (a number); needed for bare Shallue trees")
    parser.add_argument("--metric", help=f"measurement column of the goal (default: the study's, else {DEFAULT_METRIC})")
    parser.add_argument("--direction", choices=["min", "max"], help="min: beat by going below; max: above")
    parser.add_argument("--confidence", default="0.9", help="interval coverage in (0, 1) (default 0.9)")
    parser.add_argument("--seed", default="0", help="bootstrap seed (default 0)")
    parser.add_argument("--goals", help="comma-separated thresholds for the goal sensitivity (default: the target, "
                        "two easier and two harder goals), e.g. 0.1,0.07,0.05")
    return parser.parse_args(argv)


def _number(text, name):
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise TfbszError(f"{name}: expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise TfbszError(f"{name}: expected a finite number, got {text!r}")
    return value


def _resolve_target(workload, args):
    """The Target for `workload` from the flags and the study's own target."""
    own = workload.target
    metric = args.metric or (own.metric if own else DEFAULT_METRIC)
    if args.target is None:
        if own is None or (args.metric and args.metric != own.metric):
            raise TfbszError(
                f"--target: {workload.name} in {workload.root} has no stored target for {metric}; "
                f"pass --target VALUE"
            )
        threshold = own.threshold
    else:
        threshold = _number(args.target, "--target")
    direction = args.direction or (own.direction if own and own.metric == metric
                                   else default_direction(metric, key="--direction"))
    columns = {c for s in workload.studies for t in s.trials for c in t.column_names}
    if metric not in columns:
        raise TfbszError(
            f"--metric: column {metric!r} not found in the measurements of {workload.name} "
            f"(columns: {', '.join(sorted(columns)) or 'none'})"
        )
    return Target(metric, threshold, direction)


def _fmt(value, digits=4):
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isinf(value):
            return "inf"
        return f"{value:.{digits}g}"
    return str(value)


def _write_csv(path, analyses):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for a in analyses:
            iv, noise = a.intervals, a.noise_scale
            b_crit_iv = iv.b_crit if iv and iv.b_crit else ("", "")
            s_min_iv = iv.s_min if iv and iv.s_min else ("", "")
            noise_iv = noise.interval if noise else ("", "")
            for row in a.rows:
                writer.writerow({
                    "run_dir": a.workload.root, "workload": a.workload.name, "metric": a.target.metric,
                    "threshold": a.target.threshold, "direction": a.target.direction,
                    **{k: _fmt(row.get(k), 6) for k in ROW_COLUMNS},
                    "at_search_edge": ";".join(row["at_search_edge"]),
                    "b_crit": _fmt(a.fit.b_crit, 6) if a.fit else "",
                    "b_crit_low": _fmt(b_crit_iv[0], 6), "b_crit_high": _fmt(b_crit_iv[1], 6),
                    "s_min": _fmt(a.fit.s_min, 6) if a.fit else "",
                    "s_min_low": _fmt(s_min_iv[0], 6), "s_min_high": _fmt(s_min_iv[1], 6),
                    "b_simple": _fmt(noise.b_simple, 6) if noise else "",
                    "b_simple_low": _fmt(noise_iv[0], 6), "b_simple_high": _fmt(noise_iv[1], 6),
                })


def _interval(low_high, digits=3):
    low, high = low_high
    return f"[{_fmt(float(low), digits)}, {_fmt(float(high), digits)}]"


def _boundary(low_high, largest):
    """A regime boundary's interval in words: 0 is "none", inf "beyond <largest>"."""
    words = ["none" if v == 0 else f"beyond {largest}" if math.isinf(v) else _fmt(v) for v in low_high]
    return f"{words[0]} to {words[1]}"


def _residual_verdict(a):
    """The fit's residuals against the points' own search-luck spread: the median half-width of
    their intervals in log steps, read as a normal standard deviation. Far above it (twice or
    more), the curve is not of McCandlish et al.'s shape; otherwise search luck explains them."""
    confidence = a.intervals.confidence if a.intervals else 0.9
    halves = [math.log(r["steps_high"] / r["steps_low"]) / 2 for r in a.reached
              if 0 < (r.get("steps_low") or 0) < (r.get("steps_high") or 0) < math.inf]
    if not halves:
        return ""
    spread = sorted(halves)[len(halves) // 2] / NormalDist().inv_cdf(0.5 + confidence / 2)
    if a.fit.residual_std >= 2 * spread:
        return (f"; far above the points' search-luck spread (about {_fmt(100 * spread, 2)}% per point): "
                "the curve is not of McCandlish et al.'s shape")
    return (f"; within the points' search-luck spread (about {_fmt(100 * spread, 2)}% per point): "
            "consistent with McCandlish et al.'s shape")


def _scaling_lines(a):
    lines, pct = [], round(100 * (a.intervals.confidence if a.intervals else 0.9))
    iv = a.intervals
    if a.fit:
        boot = (f"{pct}% {CURVE_INTERVAL} {_interval(iv.b_crit)}; " if iv and iv.b_crit else "")
        lines.append(
            f"* Critical batch size B_crit = {_fmt(a.fit.b_crit, 3)}: {boot}"
            f"{pct}% profile-likelihood interval given the measured points {_interval(a.fit.b_crit_interval)} "
            f"(fit of S = S_min (1 + B_crit / B))."
        )
        boot = (f"{pct}% {CURVE_INTERVAL} {_interval(iv.s_min)}; " if iv and iv.s_min else "")
        lines.append(f"* S_min = {_fmt(a.fit.s_min, 3)} steps: {boot}profile-likelihood {_interval(a.fit.s_min_interval)}.")
        lines.append(f"* Fit residuals: standard deviation {_fmt(a.fit.residual_std, 2)} in log steps (about "
                     f"{_fmt(100 * a.fit.residual_std, 2)}% per point) over {len(a.fit.batch_sizes)} batch sizes"
                     f"{_residual_verdict(a)}.")
    noise = a.noise_scale
    if noise:
        ratio = (f"; B_simple / B_crit = {_fmt(noise.b_simple / a.fit.b_crit, 3)}" if a.fit
                 else "; no B_crit was fitted to compare with")
        lines.append(
            f"* Measured gradient noise scale at the goal B_simple = {_fmt(noise.b_simple, 3)}: median over "
            f"{noise.trials} batch sizes' best trials of `{noise.column}` where they reached the goal"
            f" ({noise.infinite} infinite); {round(100 * noise.interval_coverage)}% {noise.interval_name} "
            f"{_interval(noise.interval)} (McCandlish et al. predict B_simple ≈ B_crit{ratio})."
        )
    if a.regimes:
        r = a.regimes
        largest = max(row["batch_size"] for row in a.rows)
        reference = (f"the fitted small-batch limit E_min / B, E_min = {_fmt(r.small_batch_limit, 3)} examples"
                     if r.reference == "fit" else "the line through the smallest batch size that reached the goal")
        upto = ("no batch size" if r.last_perfect_batch_size is None
                else f"up to batch size {r.last_perfect_batch_size}")
        boot = f"; {pct}% bootstrap interval over trials: {_boundary(iv.last_perfect, largest)}" if iv and iv.last_perfect else ""
        lines.append(f"* Perfect scaling (steps within {100 * r.tolerance:g}% of {reference}): {upto}{boot}.")
        value = ("beyond the largest batch size measured" if r.max_useful_batch_size is None
                 else str(r.max_useful_batch_size))
        boot = f"; {pct}% bootstrap interval over trials: {_boundary(iv.max_useful, largest)}" if iv and iv.max_useful else ""
        lines.append(
            f"* Maximal useful batch size (no larger batch size cuts steps by {100 * r.min_reduction:g}% or more; "
            f"larger ones that missed the goal count as not faster): {value}{boot}."
        )
    return lines


def _row_line(row, noise):
    interval = _interval((row["steps_low"], row["steps_high"]), 4) if row["steps"] is not None else ""
    edge = "⚠ " + ", ".join(f"{n} ({side})" for n, side in row["search_edges"].items()) if row["at_search_edge"] else ""
    flags = [edge] if edge else []
    if row["first_evaluation_hit"]:
        flags.append("⚠ first evaluation")
    saturated = {True: "yes", False: "⚠ no", None: "?"}[row["saturated"]]
    return (f"| {row['batch_size']} | {row['trials']} | {row['reached']} | {_fmt(row['steps']) or 'missed'} | "
            f"{interval} | {REGIME_LABELS.get(row['regime'], '')} | {_fmt(row['learning_rate'], 3)} | "
            f"{_fmt(row['momentum'], 4)} | {_fmt(row['effective_learning_rate'], 3)} | {'; '.join(flags)} | {saturated} |"
            + (f" {_fmt(row.get('noise_scale'), 3)} |" if noise else ""))


def _goal_lines(a, goals):
    """The goal-sensitivity table of one workload: one row per goal."""
    sizes = [r["batch_size"] for r in a.rows]
    sign = "<" if a.target.direction == "min" else ">"
    pct = round(100 * (a.intervals.confidence if a.intervals else 0.9))
    lines = ["", f"Goal sensitivity (steps to result per batch size; B_crit with its {pct}% {CURVE_INTERVAL}):", "",
             "| goal | reached | B_crit | interval | perfect up to | max. useful | " + " | ".join(map(str, sizes)) + " |",
             "|---|---:|---:|---|---:|---:|" + "---:|" * len(sizes)]
    for goal, g in goals:
        fit = f"{_fmt(g.fit.b_crit, 3)}" if g.fit else "–"
        interval = _interval(g.intervals.b_crit) if g.intervals and g.intervals.b_crit else ""
        perfect = useful = "–"
        if g.regimes:
            perfect = _fmt(g.regimes.last_perfect_batch_size) or "none"
            useful = _fmt(g.regimes.max_useful_batch_size) or "beyond"
        mark = " (target)" if goal == a.target.threshold else ""
        steps = " | ".join(_fmt(r["steps"]) or "missed" for r in g.rows)
        lines.append(f"| {sign} {goal:.4g}{mark} | {len(g.reached)} of {len(g.rows)} | {fit} | {interval} | "
                     f"{perfect} | {useful} | {steps} |")
    return lines


def _write_markdown(path, analyses, by_goal):
    lines = ["# Steps to result vs batch size", ""]
    for a, goals in zip(analyses, by_goal):
        t = a.target
        sign = "<" if t.direction == "min" else ">"
        lines += [f"## {a.workload.name}", "", f"Run: `{a.workload.root}`. Goal: `{t.metric}` {sign} {t.threshold}.", ""]
        lines += [f"* ⚠ {w}." for w in a.warnings]
        lines += _scaling_lines(a)
        lines += [f"* Note: {n}." for n in a.notes]
        pct = round(100 * (a.intervals.confidence if a.intervals else 0.9))
        noise = a.noise_scale
        header = (f"| batch size | trials | reached | steps | {pct}% {STEPS_INTERVAL} | regime | best lr | momentum | "
                  f"effective lr | warnings | search saturated |")
        rule = "|---:|---:|---:|---:|---|---|---:|---:|---:|---|---|"
        if noise:
            header, rule = header + " noise scale at goal |", rule + "---:|"
        lines += ["", header, rule] + [_row_line(row, noise) for row in a.rows]
        lines += _goal_lines(a, goals)
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def _labels(analyses):
    names = [a.workload.name for a in analyses]
    return [
        a.workload.name if names.count(a.workload.name) == 1
        else f"{a.workload.name} ({os.path.basename(os.path.normpath(a.workload.root))})"
        for a in analyses
    ]


def _panels(count):
    """A figure with `count` panels, up to 3 per row: (fig, axes array)."""
    import matplotlib.pyplot as plt

    ncols = min(count, 3)
    nrows = math.ceil(count / ncols)
    return plt.subplots(nrows, ncols, figsize=(6.4 * ncols, 4.8 * nrows), squeeze=False)


def _save(fig, axes, used, path):
    """Hides the panels after the first `used`, saves `fig` to `path` and closes it."""
    import matplotlib.pyplot as plt

    for ax in list(axes.flat)[used:]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _log2_axes(ax):
    from matplotlib import ticker

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.grid(True, which="major", alpha=0.3)


def _draw_steps(ax, a, color, label, shade):
    """One workload's curve; `shade` (single-workload panels) adds regimes and B_crit text."""
    import numpy as np

    reached = a.reached
    if not reached:
        return
    b = np.array([r["batch_size"] for r in reached], float)
    s = np.array([r["steps"] for r in reached], float)
    high = np.array([r["steps_high"] for r in reached], float)
    finite = np.isfinite(high)
    yerr = np.vstack([s - np.array([r["steps_low"] for r in reached], float), np.where(finite, high - s, 0.0)])
    yerr = np.maximum(yerr, 0.0)  # a one-trial interval can sit a rounding error off its point; errorbar refuses < 0
    ax.errorbar(b, s, yerr=yerr, fmt="o-", color=color, ms=5, lw=1.6, capsize=3, label=label, zorder=3)
    if (~finite).any():
        ax.plot(b[~finite], s[~finite], "^", color=color, ms=7, zorder=4)
    edges = np.array([bool(r["at_search_edge"]) for r in reached])
    if edges.any():
        ax.plot(b[edges], s[edges], "o", mfc="none", mec="#d62728", mew=1.6, ms=12, zorder=5)
    line_b = np.geomspace(b.min(), b.max(), 50)
    limit = a.regimes.small_batch_limit if a.regimes else s[0] * b[0]
    perfect = limit / line_b
    visible = perfect >= s.min() / 8  # keep the data readable when scaling stops early
    ax.plot(line_b[visible], perfect[visible], "--", color=color, lw=1, alpha=0.8)
    if a.fit:
        f = a.fit
        ax.plot(line_b, f.predict(line_b), ":", color=color, lw=1.6)
        if b.min() / 4 <= f.b_crit <= b.max() * 4:
            ax.plot([f.b_crit], f.predict([f.b_crit]), "D", color=color, mec="black", ms=7, zorder=5)
        if shade and b.min() / 4 <= f.b_crit <= b.max() * 4:
            low, high = a.intervals.b_crit if a.intervals and a.intervals.b_crit else f.b_crit_interval
            ax.annotate(f"B_crit≈{f.b_crit:.3g} [{low:.3g}, {high:.3g}]",
                        (f.b_crit, float(f.predict([f.b_crit])[0])),
                        textcoords="offset points", xytext=(6, 6), fontsize=8, color=color)
    noise = getattr(a, "noise_scale", None)
    if noise and b.min() / 8 <= noise.b_simple <= b.max() * 8:  # far outside: summary.md only
        ax.axvline(noise.b_simple, color=color, ls="-.", lw=1.3, alpha=0.9, zorder=2)
        if shade:
            ax.annotate(f"B_simple≈{noise.b_simple:.3g}", (noise.b_simple, 0.04), xycoords=("data", "axes fraction"),
                        textcoords="offset points", xytext=(4, 0), fontsize=8, color=color)
    if shade and a.regimes:
        edges = np.sqrt(b[:-1] * b[1:])
        lefts = np.concatenate([[b[0] / 1.4], edges])
        rights = np.concatenate([edges, [b[-1] * 1.4]])
        seen = set()
        for regime, lo, hi in zip(a.regimes.regimes, lefts, rights):
            ax.axvspan(lo, hi, color=REGIME_COLORS[regime], alpha=0.12, lw=0,
                       label=None if regime in seen else REGIME_LABELS[regime])
            seen.add(regime)


def _plot_steps(path, analyses):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    labels = _labels(analyses)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    panels = [None] + (list(range(len(analyses))) if len(analyses) > 1 else [])
    fig, axes = _panels(len(panels))
    for k, panel in enumerate(panels):
        ax = axes.flat[k]
        chosen = range(len(analyses)) if panel is None else [panel]
        for i in chosen:
            _draw_steps(ax, analyses[i], colors[i % len(colors)], labels[i], shade=len(chosen) == 1)
        ax.set_yscale("log", base=2)
        _log2_axes(ax)
        low, high = ax.get_ylim()
        if high < 4 * low:  # too narrow for two power-of-2 ticks: widen around the data
            middle = math.sqrt(low * high)
            ax.set_ylim(middle / 2.5, middle * 2.5)
        ax.set_xlabel("batch size")
        ax.set_ylabel("steps to result")
        target = analyses[chosen[0]].target if len(chosen) == 1 else None
        title = "all workloads" if len(chosen) > 1 else labels[chosen[0]]
        if target:
            title += f"\n{target.metric} {'<' if target.direction == 'min' else '>'} {target.threshold:g}"
        ax.set_title(title, fontsize=10)
        handles, names = ax.get_legend_handles_labels()
        handles += [Line2D([], [], ls="--", color="gray"), Line2D([], [], ls=":", color="gray", lw=1.6),
                    Line2D([], [], ls="", marker="D", color="gray", mec="black")]
        names += ["perfect scaling (fitted small-batch limit)", "fit S_min(1+B_crit/B)", "B_crit"]
        if any(r["at_search_edge"] for i in chosen for r in analyses[i].reached):
            handles.append(Line2D([], [], ls="", marker="o", mfc="none", mec="#d62728", mew=1.6, ms=9))
            names.append("best trial at a search edge")
        if any(getattr(analyses[i], "noise_scale", None) for i in chosen):
            handles.append(Line2D([], [], ls="-.", color="gray", lw=1.3))
            names.append("B_simple (measured noise scale)")
        ax.legend(handles, names, fontsize=7, loc="upper right", framealpha=0.85)
    _save(fig, axes, len(panels), path)


def _plot_metaparameters(path, analyses):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    keys = [("learning_rate", "best learning rate"), ("effective_learning_rate", "best effective lr  lr/(1-momentum)")]
    keys = [(k, title) for k, title in keys if any(r[k] is not None for a in analyses for r in a.rows)]
    if not keys:
        return False
    if any(r["momentum"] is None for a in analyses for r in a.rows if r["learning_rate"] is not None):
        keys = keys[:1]  # effective lr equals lr without momentum
    labels = _labels(analyses)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(1, len(keys), figsize=(6.4 * len(keys), 4.8), squeeze=False)
    for ax, (key, title) in zip(axes.flat, keys):
        for i, a in enumerate(analyses):
            points = [(r["batch_size"], r[key]) for r in a.rows if r[key] is not None and r[key] > 0]
            if not points:
                continue
            color = colors[i % len(colors)]
            b, v = zip(*points)
            ax.plot(b, v, "o-", color=color, label=labels[i], zorder=3)
            heuristics = scaling_heuristics(b, v[0])
            ax.plot(b, heuristics["linear"], "--", color=color, lw=1, alpha=0.8)
            ax.plot(b, heuristics["sqrt"], ":", color=color, lw=1.4, alpha=0.8)
        ax.set_yscale("log")
        _log2_axes(ax)
        ax.set_xlabel("batch size")
        ax.set_title(title, fontsize=10)
        handles, names = ax.get_legend_handles_labels()
        handles += [Line2D([], [], ls="--", color="gray"), Line2D([], [], ls=":", color="gray", lw=1.4)]
        names += ["linear heuristic (from smallest batch)", "square-root heuristic"]
        ax.legend(handles, names, fontsize=7, loc="upper left", framealpha=0.85)
    _save(fig, axes, len(keys), path)
    return True


def _plot_goal_sensitivity(path, analyses, by_goal, labels):
    import matplotlib.pyplot as plt

    fig, axes = _panels(len(analyses))
    cmap = plt.get_cmap("viridis")
    for ax, a, goals, label in zip(axes.flat, analyses, by_goal, labels):
        sign = "<" if a.target.direction == "min" else ">"
        for k, (goal, g) in enumerate(goals):
            points = [(r["batch_size"], r["steps"]) for r in g.rows if r["steps"] is not None]
            if points:
                b, st = zip(*points)
                ax.plot(b, st, "o-", color=cmap(k / max(len(goals) - 1, 1)), ms=4, label=f"{sign} {goal:.4g}",
                        lw=2.4 if goal == a.target.threshold else 1.4)
        ax.set_yscale("log", base=2)
        _log2_axes(ax)
        ax.set_xlabel("batch size")
        ax.set_ylabel("steps to result")
        ax.set_title(f"{label}\ngoal sensitivity: {a.target.metric}", fontsize=10)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper right", framealpha=0.85)
    _save(fig, axes, len(analyses), path)


def _write_goal_csv(path, analyses, by_goal):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run_dir", "workload", "metric", "direction", "threshold", "batch_size", "steps",
                         "steps_low", "steps_high", "b_crit", "b_crit_low", "b_crit_high"])
        for a, goals in zip(analyses, by_goal):
            for goal, g in goals:
                b_crit = [_fmt(g.fit.b_crit, 6) if g.fit else ""]
                b_crit += [_fmt(v, 6) for v in g.intervals.b_crit] if g.intervals and g.intervals.b_crit else ["", ""]
                for r in g.rows:
                    writer.writerow([a.workload.root, a.workload.name, a.target.metric, a.target.direction, goal,
                                     r["batch_size"], _fmt(r["steps"]), _fmt(r["steps_low"], 6),
                                     _fmt(r["steps_high"], 6), *b_crit])


def _plot_saturation(path, analyses, labels):
    """Per workload: typical steps of a k-trial search (solid) and best so far in search order (dotted)."""
    import matplotlib.pyplot as plt

    fig, axes = _panels(len(analyses))
    cmap = plt.get_cmap("plasma")
    for ax, a, label in zip(axes.flat, analyses, labels):
        for k, sat in enumerate(a.saturation):
            color = cmap(0.85 * k / max(len(a.saturation) - 1, 1))
            trials = range(1, sat.trials + 1)
            typical = [(n, v) for n, v in zip(trials, sat.typical_best_of) if v is not None]
            so_far = [(n, v) for n, v in zip(trials, sat.best_so_far) if v is not None]
            if typical:
                ax.plot(*zip(*typical), "-", color=color, lw=1.6, label=f"B={sat.batch_size}"
                        + ("" if sat.saturated is not False else " (not saturated)"))
            if so_far:
                ax.plot(*zip(*so_far), ":", color=color, lw=1.2)
        ax.set_yscale("log")
        ax.set_xlabel("trials in the search")
        ax.set_ylabel("steps to result")
        ax.set_title(f"{label}\nsolid: typical k-trial search (all orders); dotted: best so far", fontsize=10)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper right", framealpha=0.85)
    _save(fig, axes, len(analyses), path)


def _write_saturation_json(path, analyses):
    data = [{"run_dir": a.workload.root, "workload": a.workload.name, "metric": a.target.metric,
             "threshold": a.target.threshold, "direction": a.target.direction,
             "batch_sizes": [s.as_dict() for s in a.saturation]} for a in analyses]
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")


def goal_analyses(analyses, goals=None, seed=0):
    """[(goal, WorkloadAnalysis), ...] per analysis: `goals`, or `default_goals` around each target."""
    out = []
    for a in analyses:
        thresholds = goals if goals else default_goals(a.workload, a.target)
        confidence = a.intervals.confidence if a.intervals else 0.9
        out.append([(goal, a if goal == a.target.threshold else
                     analyze_workload(a.workload, Target(a.target.metric, goal, a.target.direction),
                                      confidence=confidence, n_resamples=GOAL_RESAMPLES, seed=seed))
                    for goal in thresholds])
    return out


def write_report(analyses, output, goals=None, seed=0):
    """Writes the PNGs, tables and JSON for `analyses` into `output`; returns the paths.

    `goals` (thresholds on each workload's metric) defaults to `default_goals` around each target.
    """
    import matplotlib

    matplotlib.use("Agg")
    os.makedirs(output, exist_ok=True)
    names = ("steps_to_result.png", "metaparameters.png", "summary.csv", "summary.md", "search_saturation.png",
             "search_saturation.json", "goal_sensitivity.png", "goal_sensitivity.csv")
    paths = {name: os.path.join(output, name) for name in names}
    by_goal = goal_analyses(analyses, goals, seed)
    labels = _labels(analyses)
    _plot_steps(paths["steps_to_result.png"], analyses)
    if not _plot_metaparameters(paths["metaparameters.png"], analyses):
        del paths["metaparameters.png"]
    _write_csv(paths["summary.csv"], analyses)
    _write_markdown(paths["summary.md"], analyses, by_goal)
    _plot_saturation(paths["search_saturation.png"], analyses, labels)
    _write_saturation_json(paths["search_saturation.json"], analyses)
    _plot_goal_sensitivity(paths["goal_sensitivity.png"], analyses, by_goal, labels)
    _write_goal_csv(paths["goal_sensitivity.csv"], analyses, by_goal)
    return list(paths.values())


def _run(argv):
    args = _parse_args(argv)
    confidence = _number(args.confidence, "--confidence")
    if not 0 < confidence < 1:
        raise TfbszError(f"--confidence: expected a number in (0, 1), got {args.confidence!r}")
    seed = args.seed
    if not str(seed).isdigit():
        raise TfbszError(f"--seed: expected a non-negative integer, got {seed!r}")
    if args.target is not None:
        _number(args.target, "--target")
    goals = None
    if args.goals is not None:
        goals = [_number(g.strip(), "--goals") for g in args.goals.split(",")]
    analyses = []
    for run_dir in args.run_dirs:
        for workload in load_workloads(run_dir):
            target = _resolve_target(workload, args)
            analyses.append(analyze_workload(workload, target, confidence=confidence, seed=int(seed)))
    if not any(a.reached for a in analyses):
        raise TfbszError("no batch size of any workload reached the target; try a less demanding --target")
    output = args.output or os.path.join(args.run_dirs[0], "report")
    for path in write_report(analyses, output, goals, int(seed)):
        print(path)
    return 0


def main(argv=None):
    """Command-line entry point; returns the exit code (0, or 2 on bad input)."""
    try:
        return _run(sys.argv[1:] if argv is None else argv)
    except TfbszError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
