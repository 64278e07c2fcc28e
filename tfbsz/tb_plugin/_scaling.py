"""Steps to result, best metaparameters and the scaling fit for one study, as JSON-ready data.

Everything is computed by the modules the report uses: steps to result, the best trial and the
outcome counts by `tfbsz.records.summary` (Shallue et al.'s rule over COMPLETE trials), the
measured noise scale by `tfbsz.analysis.measured_noise_scale`, the fit S(B) = S_min (1 + B_crit /
B) by `tfbsz.analysis.fit_critical_batch` and the regimes (perfect scaling, diminishing returns,
beyond the maximal useful batch size) by `tfbsz.analysis.classify_regimes`.

>>> from tfbsz.core.targets import Target
>>> from tfbsz.records.results import BatchSizeStudy, Study, Trial
>>> trial = Trial(0, {"learning_rate": 0.1}, "COMPLETE",
...               [{"step": 50, "val/classification_error": 0.3}, {"step": 90, "val/classification_error": 0.1}])
>>> study = Study(root=None, meta={}, summary={}, batch_sizes={32: BatchSizeStudy(32, [trial])})
>>> summarize(study, Target("val/classification_error", 0.2))["batch_sizes"][0]["steps_to_result"]
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


def summarize(study, target):
    """Per-trial rows, per-batch-size rows and the analysis of a loaded `results.Study`.

    Args:
        study: the study (`tfbsz.records.results.Study`).
        target: a `tfbsz.core.targets.Target`, or None (then the rows come from the trials'
            recorded outcomes and the study's summary.json).
    """
    analysis = _import_analysis()
    trials = [_trial_row(bs, t, target) for bs, b in study.batch_sizes.items() for t in b.trials]
    summary_by_bs = {}
    rows = study.summary.get("batch_sizes") if isinstance(study.summary.get("batch_sizes"), list) else []
    for row in rows:
        if isinstance(row, dict) and _is_number(row.get("batch_size")):
            summary_by_bs[int(row["batch_size"])] = row
    lr_key = learning_rate_key(trials)
    batch_sizes = []
    for bs in sorted(set(study.batch_sizes) | set(summary_by_bs)):
        bs_study = study.batch_sizes.get(bs)
        batch_sizes.append(_batch_size_row(bs, bs_study, [t for t in trials if t["batch_size"] == bs],
                                           summary_by_bs.get(bs, {}), target, lr_key))
    scaling = analyze(batch_sizes, analysis)
    for row in batch_sizes:
        row["regime"] = regime_of(row["batch_size"], scaling["regimes"])
    noise = noise_scale(study, analysis, target)
    for row in batch_sizes:
        row["noise_scale"] = noise["by_batch_size"].get(str(row["batch_size"])) if noise else None
    columns = {c for b in study.batch_sizes.values() for t in b.trials for c in t.column_names}
    return {
        "trials": trials,
        "batch_sizes": batch_sizes,
        "analysis": scaling,
        "noise_scale": noise,
        "learning_rate_key": lr_key,
        "parameter_names": sorted({k for t in trials for k in t["parameters"]}),
        "metrics": sorted(str(c) for c in columns - {"step"}),
    }


def noise_scale(study, analysis, target=None):
    """The measured B_simple at the goal (`tfbsz.analysis.measured_noise_scale`) as JSON-ready data:
    `{"column", "b_simple", "trials", "infinite", "interval", "interval_coverage",
    "by_batch_size": {str(batch size): value}}` with None for infinite values (JSON has no
    infinity), or None when no best trial logged the column (or the analysis is not importable)."""
    if analysis is None:
        return None
    from tfbsz.analysis.study_files import workload_of  # noqa: PLC0415  (with the analysis, optional)

    workload = workload_of(study)
    found = analysis.measured_noise_scale(workload, target) if workload is not None else None
    if found is None:
        return None
    return {
        "column": found.column,
        "b_simple": _number(found.b_simple),
        "trials": found.trials,
        "infinite": found.infinite,
        "interval": [_number(v) for v in found.interval],
        "interval_coverage": _number(found.interval_coverage),
        "by_batch_size": {str(b): _number(v) for b, v in sorted(found.by_batch_size.items())},
    }


def learning_rate_key(trials):
    """The parameter holding the learning rate (`learning_rate` in Shallue's files), or None."""
    names = {k for t in trials for k in t["parameters"]}
    for key in LEARNING_RATE_KEYS:
        if key in names:
            return key
    return next((k for k in sorted(names) if "learning_rate" in k), None)


def analyze(batch_sizes, analysis):
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
        "reference": "smallest",
        "reference_batch_size": b0,
        "reference_steps": s0,
        "points": [[b, s0 * b0 / b] for b in (b0, b_max)],
    }
    if analysis is None:
        out["fit_error"] = out["regime_error"] = "tfbsz.analysis is not available"
        return out
    out["fit"], out["fit_error"] = fit_points(analysis, points)
    if out["fit"]:  # perfect scaling is judged against the fitted small-batch limit E_min / B
        e_min = out["fit"]["s_min"] * out["fit"]["b_crit"]
        out["perfect_scaling"].update(reference="fit", points=[[b, e_min / b] for b in (b0, b_max)])
        lo, hi = min(b for b, _ in points) / 1.5, b_max * 1.5
        grid = [lo * (hi / lo) ** (i / 48.0) for i in range(49)]
        out["fitted_curve"] = [[b, out["fit"]["s_min"] * (1.0 + out["fit"]["b_crit"] / b)] for b in grid]
    missed = [r["batch_size"] for r in batch_sizes if r["steps_to_result"] is None and r["batch_size"] > 0]
    out["regimes"], out["regime_bands"], out["regime_error"] = classify(analysis, points, missed)
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


def classify(analysis, points, missed=()):
    """({batch size: regime label}, bands, None) from `tfbsz.analysis.classify_regimes`, or a reason.

    `missed` batch sizes (target not reached) bound the maximal useful batch size. Bands cover the
    chart's x axis; a boundary lies halfway (geometrically) between the last batch size of one
    regime and the first of the next.
    """
    if len(points) < 2:
        return {}, [], "regimes need at least 2 batch sizes that reached the target"
    try:
        result = analysis.classify_regimes([b for b, _ in points] + list(missed),
                                           [s for _, s in points] + [None] * len(missed))
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


def _trial_row(batch_size, trial, target):
    extra = trial.extra
    if target is not None:
        steps_to_target = summary.first_step_reaching(trial, target)
        outcome = summary.outcome_from_first_step(trial, steps_to_target)
    else:
        steps_to_target = extra.get("steps_to_target") if _is_number(extra.get("steps_to_target")) else None
        outcome = trial.outcome
    return {
        "batch_size": int(batch_size),
        "trial_id": _json_safe(trial.trial_id),
        "status": str(trial.status)[:40],
        "outcome": outcome,
        "steps": trial.steps,
        "steps_to_target": steps_to_target,
        "evaluations": len(trial.measurements),
        "wall_time_s": _number(extra.get("wall_time_s")),
        "parameters": _json_safe(dict(trial.parameters)),
    }


def _batch_size_row(batch_size, bs_study, trials, summary_row, target, lr_key):
    edges = []  # searched parameters whose best value sits in the outer eighth of the range
    if target is not None and bs_study is not None:
        row = summary.summarize_batch_size(bs_study, target)
        steps_to_result, best_trial, best_parameters = row["steps_to_result"], row["best_trial"], row["best_parameters"]
        edges = row["at_search_edge"]
    elif target is None and summary_row:
        steps_to_result = summary_row.get("steps_to_result") if _is_number(summary_row.get("steps_to_result")) else None
        best_trial = summary_row.get("best_trial")
        best_parameters = summary_row.get("best_parameters") or {}
        edges = summary_row.get("at_search_edge") if isinstance(summary_row.get("at_search_edge"), list) else []
    else:
        steps_to_result, best_trial, best_parameters = None, None, {}
    best_parameters = _json_safe(best_parameters) if isinstance(best_parameters, dict) else {}
    best_lr = best_parameters.get(lr_key) if lr_key else None
    counted = summary_row.get("trials") if _is_number(summary_row.get("trials")) else 0
    return {
        "batch_size": batch_size,
        "steps_to_result": None if steps_to_result is None else int(steps_to_result),
        "best_trial": _json_safe(best_trial) if isinstance(best_trial, (int, str)) else None,
        "best_learning_rate": best_lr if _is_number(best_lr) else None,
        "best_parameters": best_parameters,
        "trials": len(trials) or int(counted),
        **{outcome: sum(t["outcome"] == outcome for t in trials) for outcome in summary.OUTCOMES},
        "at_search_edge": [str(n)[:200] for n in edges],
    }


def _json_safe(value):
    """Values fit for JSON: non-finite floats become None, unknown objects become strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return str(value)


def _is_number(value):
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float range
        return False


def _number(value):
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
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
