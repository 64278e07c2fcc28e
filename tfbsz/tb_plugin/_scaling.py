"""Steps to result, best metaparameters and the scaling fit for one study, as JSON-ready data.

Steps to result follows Shallue et al. (`compute_steps_to_result`): among all measurements of
all trials of a batch size, the smallest `step` whose metric strictly beats the threshold. The fit
S(B) = S_min (1 + B_crit / B) comes from `tfbsz.analysis.fit_critical_batch` when that module is
importable; without it the dashboard shows the measurements and the perfect-scaling line only.

Regimes come from `tfbsz.analysis.classify_regimes` (perfect scaling, diminishing returns,
beyond the maximal useful batch size; rules in docs/analysis.md).

>>> trials = [
...     {"batch_size": 32, "trial_id": "0", "status": "COMPLETE", "steps": 90, "parameters":
...      {"learning_rate": 0.1}, "tfbsz": {}, "measurements": [
...         {"step": 50, "val/classification_error": 0.3}, {"step": 90, "val/classification_error": 0.1}]}]
>>> target = {"metric": "val/classification_error", "threshold": 0.2, "direction": "min"}
>>> first_step_beating(trials[0]["measurements"], target)
90
>>> summarize({"trials": trials, "target": target, "summary_rows": []})["batch_sizes"][0]["steps_to_result"]
90
"""

import math

from tfbsz.records import summary

# `tfbsz.analysis.classify_regimes` names -> labels shown on the dashboard.
REGIME_LABELS = {
    "perfect": "perfect scaling",
    "diminishing": "diminishing returns",
    "beyond_max_useful": "beyond maximal useful batch size",
}

LEARNING_RATE_KEYS = ("learning_rate", "lr", "base_learning_rate")

# Written by the GradientNoiseScale callback when a study runs with `noise_scale.enabled: true`.
NOISE_SCALE_COLUMN = "train/gradient_noise_scale"


def first_step_beating(measurements, target):
    """The first `step` whose target metric strictly beats the threshold, or None."""
    return summary.first_step_beating(measurements, target["metric"], float(target["threshold"]),
                                      target["direction"])


def summarize(run):
    """Per-trial rows, per-batch-size rows and the analysis for a study read by `_files.read_run`."""
    target = run.get("target")
    trials = [_trial_row(t, target) for t in run["trials"]]
    summary_by_bs = {}
    for row in run.get("summary_rows", []):
        if _is_number(row.get("batch_size")):
            summary_by_bs[int(row["batch_size"])] = row
    lr_key = learning_rate_key(trials)
    batch_sizes = []
    for bs in sorted({t["batch_size"] for t in trials} | set(summary_by_bs)):
        batch_sizes.append(_batch_size_row(bs, [t for t in trials if t["batch_size"] == bs],
                                           summary_by_bs.get(bs, {}), target, lr_key))
    analysis = analyze(batch_sizes)
    for row in batch_sizes:
        row["regime"] = regime_of(row["batch_size"], analysis["regimes"])
    noise = noise_scale(run["trials"])
    for row in batch_sizes:
        row["noise_scale"] = noise["by_batch_size"].get(str(row["batch_size"])) if noise else None
    return {
        "trials": trials,
        "batch_sizes": batch_sizes,
        "analysis": analysis,
        "noise_scale": noise,
        "learning_rate_key": lr_key,
        "parameter_names": sorted({k for t in trials for k in t["parameters"]}),
        "metrics": sorted({k for t in run["trials"] for m in t["measurements"] for k in m} - {"step"}),
    }


def noise_scale(trials, column=NOISE_SCALE_COLUMN):
    """The measured B_simple: median over trials of each trial's last finite `column` value.

    Same rule as `tfbsz.analysis.measured_noise_scale` (docs/analysis.md): returns
    `{"column", "b_simple", "trials", "by_batch_size": {str(batch size): median}}`, or None when
    no trial logged a finite value.

    >>> noise_scale([{"batch_size": 16, "measurements": [{"step": 1, NOISE_SCALE_COLUMN: 8.0}]},
    ...              {"batch_size": 64, "measurements": [{"step": 1, NOISE_SCALE_COLUMN: 20.0},
    ...                                                  {"step": 2, NOISE_SCALE_COLUMN: None}]}])["b_simple"]
    14.0
    """
    per_batch = {}
    for trial in trials:
        last = None
        for row in trial["measurements"]:
            value = row.get(column)
            if _is_number(value):
                last = float(value)
        if last is not None:
            per_batch.setdefault(int(trial["batch_size"]), []).append(last)
    if not per_batch:
        return None
    everything = [v for values in per_batch.values() for v in values]
    return {
        "column": column,
        "b_simple": _median(everything),
        "trials": len(everything),
        "by_batch_size": {str(b): _median(v) for b, v in sorted(per_batch.items())},
    }


def _median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])


def learning_rate_key(trials):
    """The parameter holding the learning rate (`learning_rate` in Shallue's files), or None."""
    names = {k for t in trials for k in t["parameters"]}
    for key in LEARNING_RATE_KEYS:
        if key in names:
            return key
    return next((k for k in sorted(names) if "learning_rate" in k), None)


def analyze(batch_sizes):
    """Perfect-scaling line, fit, fitted curve and regimes over the batch sizes that reached the target."""
    points = [(r["batch_size"], r["steps_to_result"]) for r in batch_sizes
              if r["steps_to_result"] is not None and r["batch_size"] > 0 and r["steps_to_result"] > 0]
    out = {"fit": None, "fit_error": None, "perfect_scaling": None, "fitted_curve": [],
           "regimes": {}, "regime_bands": [], "regime_error": None}
    if not points:
        out["fit_error"] = out["regime_error"] = "no batch size reached the target"
        return out
    b0, s0 = points[0]
    b_max = max(r["batch_size"] for r in batch_sizes)
    out["perfect_scaling"] = {
        "reference_batch_size": b0,
        "reference_steps": s0,
        "points": [[b, s0 * b0 / b] for b in (b0, b_max)],
    }
    analysis = _import_analysis()
    if analysis is None:
        out["fit_error"] = out["regime_error"] = "tfbsz.analysis is not available"
        return out
    out["fit"], out["fit_error"] = fit_points(analysis, points)
    if out["fit"]:
        lo, hi = min(b for b, _ in points) / 1.5, b_max * 1.5
        grid = [lo * (hi / lo) ** (i / 48.0) for i in range(49)]
        out["fitted_curve"] = [[b, out["fit"]["s_min"] * (1.0 + out["fit"]["b_crit"] / b)] for b in grid]
    out["regimes"], out["regime_bands"], out["regime_error"] = classify(analysis, points)
    return out


def fit_points(analysis, points):
    """(fit dict, None) from `tfbsz.analysis.fit_critical_batch`, or (None, reason)."""
    if len(points) < 3:
        return None, "a fit needs at least 3 batch sizes that reached the target"
    try:
        result = analysis.fit_critical_batch([b for b, _ in points], [s for _, s in points])
    except Exception as err:  # noqa: BLE001  a failed fit must not break the dashboard
        return None, f"fit failed: {err}"
    fit = {
        "b_crit": _number(getattr(result, "b_crit", None)),
        "s_min": _number(getattr(result, "s_min", None)),
        "b_crit_interval": _interval(getattr(result, "b_crit_interval", None)),
        "s_min_interval": _interval(getattr(result, "s_min_interval", None)),
        "confidence": _number(getattr(result, "confidence", None)),
        "notes": [str(n) for n in getattr(result, "notes", []) or []],
    }
    if fit["b_crit"] is None or fit["s_min"] is None or fit["b_crit"] <= 0 or fit["s_min"] <= 0:
        return None, "the fit gave no positive B_crit and S_min"
    return fit, None


def classify(analysis, points):
    """({batch size: regime label}, bands, None) from `tfbsz.analysis.classify_regimes`, or a reason.

    Bands cover the chart's x axis; a boundary lies halfway (geometrically) between the last batch
    size of one regime and the first of the next.
    """
    if len(points) < 2:
        return {}, [], "regimes need at least 2 batch sizes that reached the target"
    try:
        result = analysis.classify_regimes([b for b, _ in points], [s for _, s in points])
    except Exception as err:  # noqa: BLE001
        return {}, [], f"regimes failed: {err}"
    labels = [REGIME_LABELS.get(r, str(r)) for r in result.regimes]
    by_batch_size = {str(int(b)): label for b, label in zip(result.batch_sizes, labels)}
    bands = []
    for i, (b, label) in enumerate(zip(result.batch_sizes, labels)):
        if bands and bands[-1]["name"] == label:
            continue
        start = None if i == 0 else math.sqrt(result.batch_sizes[i - 1] * b)
        if bands:
            bands[-1]["to"] = start
        bands.append({"name": label, "from": start, "to": None})
    return by_batch_size, bands, None


def regime_of(batch_size, regimes):
    """The regime label of one batch size, or None (missed the target, or no classification)."""
    return regimes.get(str(int(batch_size)))


def _import_analysis():
    try:
        from tfbsz import analysis  # noqa: PLC0415  (optional at import time of the plugin)
    except ImportError:
        return None
    return analysis


def _trial_row(trial, target):
    extra = trial.get("tfbsz") or {}
    if target is not None:
        steps_to_target = first_step_beating(trial["measurements"], target)
    else:
        steps_to_target = extra.get("steps_to_target") if _is_number(extra.get("steps_to_target")) else None
    outcome = extra.get("outcome")
    if outcome not in ("reached", "missed", "diverged", "beaten") or target is not None:
        if trial["status"] == "INFEASIBLE" or outcome == "diverged":
            outcome = "diverged"
        elif steps_to_target is not None:
            outcome = "reached"
        elif target is not None or outcome == "missed":
            outcome = "missed"
        else:
            outcome = None
    return {
        "batch_size": trial["batch_size"],
        "trial_id": trial["trial_id"],
        "status": trial["status"],
        "outcome": outcome,
        "steps": trial["steps"],
        "steps_to_target": steps_to_target,
        "evaluations": len(trial["measurements"]),
        "wall_time_s": _number(extra.get("wall_time_s")),
        "parameters": trial["parameters"],
    }


def _batch_size_row(batch_size, trials, summary_row, target, lr_key):
    reached = [t for t in trials if t["steps_to_target"] is not None]
    best = min(reached, key=lambda t: (t["steps_to_target"], t["trial_id"]), default=None)
    if best is not None:
        steps_to_result, best_trial, best_parameters = best["steps_to_target"], best["trial_id"], best["parameters"]
    elif target is None and summary_row:
        steps_to_result = summary_row.get("steps_to_result") if _is_number(summary_row.get("steps_to_result")) else None
        best_trial = summary_row.get("best_trial")
        best_parameters = summary_row.get("best_parameters") or {}
    else:
        steps_to_result, best_trial, best_parameters = None, None, {}
    best_lr = best_parameters.get(lr_key) if lr_key and isinstance(best_parameters, dict) else None
    return {
        "batch_size": batch_size,
        "steps_to_result": None if steps_to_result is None else int(steps_to_result),
        "best_trial": None if best_trial is None else str(best_trial),
        "best_learning_rate": best_lr if _is_number(best_lr) else None,
        "best_parameters": best_parameters if isinstance(best_parameters, dict) else {},
        "trials": len(trials) or summary_row.get("trials", 0),
        "reached": sum(t["outcome"] == "reached" for t in trials),
        "missed": sum(t["outcome"] == "missed" for t in trials),
        "diverged": sum(t["outcome"] == "diverged" for t in trials),
    }


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _interval(value):
    """[low, high] with None for an open end (0 or infinity in the fit's interval)."""
    try:
        lo, hi = value
    except (TypeError, ValueError):
        return None
    lo, hi = _number(lo), _number(hi)
    return [lo if lo else None, hi]
