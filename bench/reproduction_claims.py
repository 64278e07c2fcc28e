"""Issue 12: a verdict for every claim of the reproduction, from the output of bench/reproduce.py.

    python bench/reproduction_claims.py OUT                    # OUT/claims.md, OUT/claims.json, OUT/report_*/
    python bench/reproduction_claims.py OUT --docs docs/reproduction.md --publish docs/results/reproduction

Reads every part folder of OUT (`<part>/b<batch size>/` tfbsz studies, `<part>/summary.json`,
`timings.json`), analyses each tuned part with `tfbsz.analysis.analyze_workload` (steps to result
with search-luck intervals, regimes, B_crit and S_min with bootstrap intervals, best
metaparameters, search edges) and the noise parts with `measured_noise_scale`, and writes for
each claim `holds`, `does not hold` or `undecided` with the numbers it rests on (and, when
undecided, what it would take). `--docs` replaces the text between the markers
`<!-- reproduction-results:begin -->` and `<!-- reproduction-results:end -->` of that file with
the verdicts, the timings table and links to the plots; `--publish DIR` copies every part's
summary.json, timings.json, claims.json and the plots to DIR. The plots come from
`tfbsz.report.write_report` (one report per group of parts).

Keras-free: NumPy/SciPy through tfbsz.analysis, matplotlib through tfbsz.report.

Decision rules (also in docs/reproduction.md), all at the analysis's 90% intervals:

* intervals that do not overlap decide a comparison; overlapping intervals leave it undecided;
* a learning-rate rule "fits" a workload when, anchored at its best constant (log scale), it
  stays within a factor LR_RULE_FACTOR of every batch size's best learning rate;
* B_simple is "within 2x" of B_crit when the whole ratio interval (B_simple's interval over
  B_crit's bootstrap interval) lies in [1/2, 2], "not within" when it lies wholly outside.

Example (claims on an empty folder are all undecided):

>>> import tempfile
>>> claims = evaluate_claims(tempfile.mkdtemp())
>>> sorted({c["verdict"] for c in claims}), len(claims) == len(CLAIMS)
(['undecided'], True)
"""

import argparse
import importlib.util
import json
import math
import pathlib
import shutil
import sys



def _sibling(name):
    """bench/<name>.py as a module. bench/ is not a package and is not put on sys.path, where its
    file names (optimizers, scaling, ...) would shadow other modules of the importing process."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, pathlib.Path(__file__).resolve().parent / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


read_json = _sibling("reproduce").read_json

HOLDS, FAILS, UNDECIDED = "holds", "does not hold", "undecided"
LR_RULE_FACTOR = 3.0
DENSE_TUNED = ("lm_adam", "lm_nesterov", "cnn_nesterov", "cnn_adam")
TUNED = DENSE_TUNED + ("lm_lamb", "cnn_lars", "cnn_sgd", "cnn_nesterov_snip50", "cnn_nesterov_snip90")
NOISE = {"noise_cnn_nesterov": "cnn_nesterov", "noise_lm_adam": "lm_adam"}
REPORT_GROUPS = {
    "lm": ("lm_adam", "lm_nesterov", "lm_lamb"),
    "cnn": ("cnn_nesterov", "cnn_adam", "cnn_lars", "cnn_sgd"),
    "sparsity": ("cnn_nesterov", "cnn_nesterov_snip50", "cnn_nesterov_snip90"),
    "noise": ("noise_cnn_nesterov", "noise_lm_adam"),
}
CLAIMS = ("three_regimes", "max_useful_batch_size", "momentum_beyond_sgd", "learning_rate_rule",
          "noise_scale_predicts_b_crit", "sparsity", "lamb_lars_at_large_batch")
BEGIN, END = "<!-- reproduction-results:begin -->", "<!-- reproduction-results:end -->"


# ----------------------------------------------------------------------------- loading


def analyse_parts(out, n_resamples=2000):
    """{part: WorkloadAnalysis or a one-line reason it has none} for every part folder in `out`."""
    from tfbsz.analysis import analyze_workload, load_workloads
    from tfbsz.core.errors import ConfigError

    found = {}
    for part in list(TUNED) + list(NOISE):
        folder = pathlib.Path(out) / part
        if not folder.is_dir():
            found[part] = "not run"
            continue
        try:
            workloads = load_workloads(str(folder))
        except ConfigError as e:
            found[part] = f"no results ({e})"
            continue
        workload = workloads[0]
        if workload.target is None:
            found[part] = "no declared target"
            continue
        try:
            found[part] = analyze_workload(workload, workload.target, n_resamples=n_resamples)
        except ConfigError as e:
            found[part] = f"analysis failed ({e})"
    return found


def _ok(value):
    return value is not None and not isinstance(value, str)


def _num(x, digits=3):
    if x is None:
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    if isinstance(x, float) and math.isnan(x):
        return "n/a"
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def _iv(pair):
    return "n/a" if pair is None else f"[{_num(pair[0])}, {_num(pair[1])}]"


def _finite(x):
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def _missing(parts, analyses):
    return [p for p in parts if not _ok(analyses.get(p))]


def _why_missing(parts, analyses):
    """Why each of `parts` gives no number: its reason, or 'too few batch sizes reached the goal'."""
    return "; ".join(f"{p}: {analyses.get(p, 'not run') if not _ok(analyses.get(p)) else 'too few batch sizes reached the goal'}"
                     for p in parts)


# ----------------------------------------------------------------------------- claims


def claim_three_regimes(a):
    """Perfect scaling, diminishing returns and a maximal useful batch size inside the range."""
    seen, numbers, reasons = [], {}, []
    for part in DENSE_TUNED:
        w = a.get(part)
        if not _ok(w):
            continue
        if w.regimes is None:
            reasons.append(f"{part}: fewer than 2 batch sizes reached the goal")
            continue
        r = w.regimes
        largest = max(row["batch_size"] for row in w.rows)
        perfect = r.last_perfect_batch_size is not None
        diminishing = "diminishing" in r.regimes
        limit = r.max_useful_batch_size is not None and r.max_useful_batch_size < largest
        numbers[part] = {"regimes": dict(zip(r.batch_sizes, r.regimes)), "missed": r.dropped,
                         "last_perfect": r.last_perfect_batch_size, "max_useful": r.max_useful_batch_size,
                         "largest_measured": largest, "reached": len(r.batch_sizes)}
        if perfect and diminishing and limit:
            seen.append(part)
        else:
            absent = [name for name, there in (("perfect scaling", perfect), ("diminishing returns", diminishing),
                                               ("maximal useful batch size below the largest measured", limit))
                      if not there]
            reasons.append(f"{part}: no {', no '.join(absent)}")
    if seen:
        return HOLDS, f"all three regimes on {', '.join(seen)}" + (f"; not on: {'; '.join(reasons)}" if reasons else ""), numbers, None
    if not numbers:
        return UNDECIDED, "no dense tuned part has 2 batch sizes reaching the goal", numbers, \
            "run the dense parts (lm_adam, lm_nesterov, cnn_nesterov, cnn_adam) with budgets that reach the goal"
    adequate = [p for p, n in numbers.items() if n["reached"] >= 4 and n["last_perfect"] is None]
    if len(adequate) == len(numbers):
        return FAILS, "no perfect-scaling region on any dense part with >= 4 batch sizes reaching the goal: " \
            + "; ".join(reasons), numbers, None
    return UNDECIDED, "; ".join(reasons), numbers, \
        "more batch sizes (x2 apart) reaching the goal, and larger ones where the limit lies beyond the range"


def claim_max_useful(a):
    """The maximal useful batch size per workload/optimizer with its bootstrap interval."""
    numbers, inside, beyond, none = {}, [], [], []
    for part in TUNED:
        w = a.get(part)
        if not _ok(w) or w.regimes is None:
            continue
        iv = w.intervals
        numbers[part] = {"max_useful": w.regimes.max_useful_batch_size,
                         "max_useful_interval": iv.max_useful if iv else None,
                         "b_crit": w.fit.b_crit if w.fit else None,
                         "b_crit_interval": iv.b_crit if iv else None,
                         "s_min": w.fit.s_min if w.fit else None}
        (inside if w.regimes.max_useful_batch_size is not None else beyond).append(part)
    if not numbers:
        return UNDECIDED, "no tuned part has 2 batch sizes reaching the goal", numbers, "run the tuned parts"
    text = "; ".join(f"{p}: {_num(n['max_useful'])} {_iv(n['max_useful_interval'])}, B_crit {_num(n['b_crit'])} "
                     f"{_iv(n['b_crit_interval'])}" for p, n in numbers.items())
    if beyond:
        return (HOLDS if inside else UNDECIDED), \
            f"measured inside the range on {len(inside)} parts, beyond it on {', '.join(beyond)}. {text}", numbers, \
            f"batch sizes beyond the largest measured on {', '.join(beyond)} (MNIST-5k stops at 2048)"
    return HOLDS, f"measured on every part with a curve. {text}", numbers, None


def _compare(low_a, high_a, low_b, high_b):
    """'above' when interval a lies wholly above b, 'below' when wholly below, else 'overlap'."""
    if None in (low_a, high_a, low_b, high_b):
        return "overlap"
    if low_a > high_b:
        return "above"
    if high_a < low_b:
        return "below"
    return "overlap"


def claim_momentum_beyond_sgd(a):
    """Nesterov and Adam scale perfectly to larger batch sizes than plain SGD (CNN)."""
    need = ("cnn_sgd", "cnn_nesterov", "cnn_adam")
    sgd = a.get("cnn_sgd")
    if not _ok(sgd) or sgd.intervals is None or sgd.intervals.b_crit is None:
        return UNDECIDED, f"no B_crit for plain SGD ({_why_missing(['cnn_sgd'], a) or 'too few batch sizes reached'})", \
            {}, "run cnn_sgd at >= 3 batch sizes reaching the goal (the gpu10 scale runs it last)"
    numbers, results = {"cnn_sgd": _momentum_numbers(sgd)}, {}
    for part in need[1:]:
        w = a.get(part)
        if not _ok(w) or w.intervals is None or w.intervals.b_crit is None:
            continue
        numbers[part] = _momentum_numbers(w)
        results[part] = _compare(*w.intervals.b_crit, *sgd.intervals.b_crit)
    if not results:
        return UNDECIDED, "no B_crit for cnn_nesterov or cnn_adam", numbers, "run them at >= 3 batch sizes"
    text = "; ".join(f"{p}: B_crit {_num(n['b_crit'])} {_iv(n['b_crit_interval'])}, last perfect "
                     f"{_num(n['last_perfect'])} {_iv(n['last_perfect_interval'])}" for p, n in numbers.items())
    above = [p for p, r in results.items() if r == "above"]
    if above and len(above) == len(results):  # the claim is about momentum *and* Adam: every one measured
        return HOLDS, f"B_crit interval above plain SGD's for {above}. {text}", numbers, None
    if above and "below" not in results.values():
        others = [p for p in results if p not in above]
        return UNDECIDED, (f"B_crit interval above plain SGD's for {above} only; overlapping for {others}. "
                           f"{text}"), numbers, f"narrower B_crit intervals for {others} (more trials per batch size)"
    if "below" in results.values() and "above" not in results.values():
        return FAILS, f"B_crit interval below plain SGD's for {[p for p, r in results.items() if r == 'below']}. {text}", numbers, None
    return UNDECIDED, f"B_crit intervals overlap ({results}). {text}", numbers, \
        "narrower B_crit intervals: more trials per batch size (>= 32) and batch sizes x2 apart around B_crit"


def _momentum_numbers(w):
    return {"b_crit": w.fit.b_crit if w.fit else None, "b_crit_interval": w.intervals.b_crit,
            "last_perfect": w.regimes.last_perfect_batch_size if w.regimes else None,
            "last_perfect_interval": w.intervals.last_perfect}


def _rule_deviation(batch_sizes, rates, exponent):
    """Largest factor by which the best rates deviate from c * B^exponent, c chosen to minimise it."""
    logs = [math.log(r) - exponent * math.log(b) for b, r in zip(batch_sizes, rates)]
    return math.exp((max(logs) - min(logs)) / 2)


def claim_learning_rate_rule(a):
    """The best learning rate follows neither the linear nor the square-root rule across all batch sizes."""
    numbers, neither, some_rule, censored = {}, [], [], []
    for part in TUNED:
        w = a.get(part)
        if not _ok(w):
            continue
        rows = [r for r in w.reached if r["learning_rate"] is not None]
        if len(rows) < 3:
            continue
        bs = [r["batch_size"] for r in rows]
        lr = [r["learning_rate"] for r in rows]
        edges = [r["batch_size"] for r in rows if any("learning_rate" in k for k in r["at_search_edge"])]
        dev = {"linear": _rule_deviation(bs, lr, 1.0), "sqrt": _rule_deviation(bs, lr, 0.5)}
        slope = _slope(bs, lr)
        numbers[part] = {"batch_sizes": bs, "best_learning_rate": lr, "log_log_slope": slope,
                         "deviation_factor": dev, "learning_rate_at_search_edge": edges}
        fits = [rule for rule, d in dev.items() if d <= LR_RULE_FACTOR]
        if fits and not edges:
            some_rule.append(f"{part} ({', '.join(fits)})")
        elif not fits:
            (neither if not edges else censored).append(part)
        else:
            censored.append(part)
    if not numbers:
        return UNDECIDED, "no tuned part has 3 batch sizes reaching the goal", numbers, \
            "run the tuned parts at >= 3 batch sizes"
    text = "; ".join(f"{p}: slope {_num(n['log_log_slope'])}, off linear x{_num(n['deviation_factor']['linear'])}, "
                     f"off sqrt x{_num(n['deviation_factor']['sqrt'])}"
                     + (f", lr at a search edge at {n['learning_rate_at_search_edge']}" if n['learning_rate_at_search_edge'] else "")
                     for p, n in numbers.items())
    if neither and not some_rule:
        return HOLDS, f"neither rule within x{LR_RULE_FACTOR:g} on {', '.join(neither)}. {text}", numbers, None
    if some_rule and not neither:
        return FAILS, f"a rule fits every batch size within x{LR_RULE_FACTOR:g} on {', '.join(some_rule)}. {text}", numbers, None
    if neither and some_rule:
        return HOLDS, (f"neither rule fits on {', '.join(neither)} (a rule fits on {', '.join(some_rule)}: "
                       f"Shallue et al. say the rules fail on some workloads, not all). {text}"), numbers, None
    return UNDECIDED, f"best learning rates at a search edge on {', '.join(censored)}. {text}", numbers, \
        "widen the learning-rate range where the best trial sits at its edge and rerun those batch sizes"


def _slope(bs, lr):
    import numpy as np

    return float(np.polyfit(np.log(bs), np.log(lr), 1)[0])


def claim_noise_scale(a):
    """B_simple (measured, near the goal) within 2x of the fitted B_crit (McCandlish et al.)."""
    numbers, verdicts = {}, {}
    for noise_part, tuned in NOISE.items():
        n, w = a.get(noise_part), a.get(tuned)
        if not (_ok(n) and _ok(w)) or n.noise_scale is None or w.fit is None or w.intervals is None \
                or w.intervals.b_crit is None:
            continue
        ns = n.noise_scale
        bc_low, bc_high = w.intervals.b_crit
        low = ns.interval[0] / bc_high if bc_high and math.isfinite(bc_high) else 0.0
        high = ns.interval[1] / bc_low if bc_low else math.inf
        ratio = ns.b_simple / w.fit.b_crit
        numbers[tuned] = {"b_simple": ns.b_simple, "b_simple_interval": list(ns.interval),
                          "b_simple_by_batch_size": ns.by_batch_size, "b_crit": w.fit.b_crit,
                          "b_crit_interval": [bc_low, bc_high], "ratio": ratio, "ratio_interval": [low, high]}
        verdicts[tuned] = HOLDS if 0.5 <= low and high <= 2 else FAILS if high < 0.5 or low > 2 else UNDECIDED
    if not numbers:
        missing = _missing(list(NOISE) + list(NOISE.values()), a)
        return UNDECIDED, f"no B_simple next to a fitted B_crit ({_why_missing(missing, a) or 'too few batch sizes reached'})", \
            numbers, "run a noise part after its tuned part (>= 3 batch sizes reaching the goal)"
    text = "; ".join(f"{p}: B_simple {_num(n['b_simple'])} {_iv(n['b_simple_interval'])} vs B_crit {_num(n['b_crit'])} "
                     f"{_iv(n['b_crit_interval'])}: ratio {_num(n['ratio'])} {_iv(n['ratio_interval'])}"
                     for p, n in numbers.items())
    values = set(verdicts.values())
    if values == {HOLDS}:
        return HOLDS, text, numbers, None
    if values == {FAILS}:
        return FAILS, text, numbers, None
    return UNDECIDED, f"{verdicts}. {text}", numbers, \
        "narrower intervals: B_simple at more batch sizes (>= 5), more trials per batch size for B_crit"


def claim_sparsity(a):
    """SNIP sparsity raises the steps to result and moves the maximal useful batch size (Lee et al.)."""
    dense = a.get("cnn_nesterov")
    if not _ok(dense):
        return UNDECIDED, f"no dense run ({_why_missing(['cnn_nesterov'], a)})", {}, "run cnn_nesterov"
    numbers, steps_cmp, moves = {}, {}, {}
    dense_rows = {r["batch_size"]: r for r in dense.reached}
    for part in ("cnn_nesterov_snip50", "cnn_nesterov_snip90"):
        w = a.get(part)
        if not _ok(w):
            continue
        per_b = {}
        for r in w.rows:
            d = dense_rows.get(r["batch_size"])
            if d is None:
                continue
            if r["steps"] is None:
                per_b[r["batch_size"]] = ("above (sparse missed the goal)" if _finite(d["steps_high"])
                                          else "overlap (sparse missed the goal; the dense interval is unbounded)")
                continue
            per_b[r["batch_size"]] = _compare(r["steps_low"], r["steps_high"], d["steps_low"], d["steps_high"])
        mu, mu_dense = (w.intervals.max_useful if w.intervals else None), (dense.intervals.max_useful if dense.intervals else None)
        moved = _compare(*mu, *mu_dense) if mu and mu_dense else "overlap"
        numbers[part] = {"steps_vs_dense": per_b,
                         "steps": {r["batch_size"]: [r["steps"], r["steps_low"], r["steps_high"]] for r in w.rows},
                         "max_useful": w.regimes.max_useful_batch_size if w.regimes else None,
                         "max_useful_interval": mu, "dense_max_useful_interval": mu_dense}
        steps_cmp[part] = [v.split(" ")[0] for v in per_b.values()]
        moves[part] = moved
    if not numbers:
        return UNDECIDED, f"no sparse run ({_why_missing(['cnn_nesterov_snip50', 'cnn_nesterov_snip90'], a)})", {}, \
            "run cnn_nesterov_snip90 (and snip50)"
    numbers["cnn_nesterov"] = {"steps": {r["batch_size"]: [r["steps"], r["steps_low"], r["steps_high"]] for r in dense.rows},
                               "max_useful": dense.regimes.max_useful_batch_size if dense.regimes else None}
    all_cmp = [c for v in steps_cmp.values() for c in v]
    raises = HOLDS if "above" in all_cmp and "below" not in all_cmp else \
        FAILS if "below" in all_cmp and "above" not in all_cmp else UNDECIDED
    moved = any(m != "overlap" for m in moves.values())
    text = (f"steps vs dense per batch size (search-luck intervals): {numbers and {p: n['steps_vs_dense'] for p, n in numbers.items() if 'steps_vs_dense' in n}}; "
            f"max useful batch size: dense {_num(numbers['cnn_nesterov']['max_useful'])} {_iv(dense.intervals.max_useful if dense.intervals else None)}, "
            + ", ".join(f"{p} {_num(n['max_useful'])} {_iv(n['max_useful_interval'])}" for p, n in numbers.items() if p != "cnn_nesterov"))
    if raises == HOLDS and moved:
        return HOLDS, f"sparsity raises the steps and moves the maximal useful batch size ({moves}). {text}", numbers, None
    if raises == FAILS:
        return FAILS, f"sparse networks needed fewer steps. {text}", numbers, None
    return UNDECIDED, f"steps: {raises}; maximal useful batch size moved: {moved} ({moves}). {text}", numbers, \
        "more trials per batch size (intervals overlap) and the same batch sizes for dense and sparse runs"


def claim_lamb_lars(a):
    """LAMB/LARS against tuned Nesterov/Adam at the largest batch sizes (You et al. vs Nado et al.)."""
    numbers, outcome = {}, {}
    for layerwise, baselines in (("lm_lamb", ("lm_adam", "lm_nesterov")), ("cnn_lars", ("cnn_nesterov", "cnn_adam"))):
        w = a.get(layerwise)
        if not _ok(w):
            continue
        for row in w.rows:
            b = row["batch_size"]
            best = None
            for base in baselines:
                bw = a.get(base)
                if not _ok(bw):
                    continue
                brow = next((r for r in bw.rows if r["batch_size"] == b), None)
                if brow is not None and brow["steps"] is not None and (best is None or brow["steps"] < best[1]["steps"]):
                    best = (base, brow)
            if best is None:
                continue
            base, brow = best
            if row["steps"] is None:  # missed within the budget the baseline reached in: slower only when
                # the baseline's search-luck interval ends below it (another search could have missed too)
                cmp = ("slower (missed the goal)" if _finite(brow["steps_high"])
                       else "no difference (missed the goal; the baseline's interval is unbounded)")
            else:
                cmp = {"below": "faster", "above": "slower", "overlap": "no difference"}[
                    _compare(row["steps_low"], row["steps_high"], brow["steps_low"], brow["steps_high"])]
            numbers[f"{layerwise}/b{b}"] = {"steps": [row["steps"], row["steps_low"], row["steps_high"]],
                                            "best_baseline": base,
                                            "baseline_steps": [brow["steps"], brow["steps_low"], brow["steps_high"]],
                                            "comparison": cmp}
            outcome[f"{layerwise}/b{b}"] = cmp.split(" ")[0]
    if not numbers:
        return UNDECIDED, f"no LAMB/LARS run next to a baseline at the same batch size ({_why_missing(['lm_lamb', 'cnn_lars'], a)})", \
            numbers, "run lm_lamb and cnn_lars at the baselines' largest batch sizes"
    text = "; ".join(f"{k}: {_num(n['steps'][0])} [{_num(n['steps'][1])}, {_num(n['steps'][2])}] vs {n['best_baseline']} "
                     f"{_num(n['baseline_steps'][0])} [{_num(n['baseline_steps'][1])}, {_num(n['baseline_steps'][2])}]: {n['comparison']}"
                     for k, n in numbers.items())
    values = set(outcome.values())
    if values == {"faster"}:
        return HOLDS, f"You et al.'s gain holds here: LAMB/LARS need fewer steps than the best tuned baseline. {text}", numbers, None
    if "faster" not in values and "slower" in values:
        return FAILS, f"You et al.'s gain does not hold: tuned baselines need as few or fewer steps (Nado et al.). {text}", numbers, None
    if values == {"no"}:
        return UNDECIDED, f"no difference beyond search luck (consistent with Nado et al.). {text}", numbers, \
            "more trials per batch size to narrow the intervals, and the largest batch sizes the data allows"
    return UNDECIDED, f"mixed: {outcome}. {text}", numbers, "more trials per batch size, more large batch sizes"


CLAIM_FUNCTIONS = {
    "three_regimes": ("The three regimes (perfect scaling, diminishing returns, maximal useful batch size) appear (Shallue et al.)", claim_three_regimes),
    "max_useful_batch_size": ("Maximal useful batch size per workload and optimizer, with intervals", claim_max_useful),
    "momentum_beyond_sgd": ("Momentum and Adam extend perfect scaling beyond plain SGD (Shallue et al.)", claim_momentum_beyond_sgd),
    "learning_rate_rule": ("The best learning rate follows neither the linear nor the square-root rule across all batch sizes (Shallue et al.)", claim_learning_rate_rule),
    "noise_scale_predicts_b_crit": ("B_simple predicts B_crit within 2x (McCandlish et al.)", claim_noise_scale),
    "sparsity": ("Sparsity raises the steps needed and moves the maximal useful batch size (Lee et al.)", claim_sparsity),
    "lamb_lars_at_large_batch": ("LAMB/LARS need fewer steps than tuned Nesterov/Adam at the largest batch sizes (You et al.; Nado et al. 2021 report that well-tuned Nesterov and Adam match them)", claim_lamb_lars),
}


def evaluate_claims(out, analyses=None, n_resamples=2000):
    """One dict per claim: id, claim, verdict, evidence, numbers, to_decide (None unless undecided)."""
    analyses = analyse_parts(out, n_resamples) if analyses is None else analyses
    claims = []
    for claim_id in CLAIMS:
        title, function = CLAIM_FUNCTIONS[claim_id]
        try:
            verdict, evidence, numbers, to_decide = function(analyses)
        except Exception as e:  # a claim that cannot be computed is undecided, never dropped
            verdict, evidence, numbers, to_decide = UNDECIDED, f"could not be computed: {type(e).__name__}: {e}", {}, \
                "fix the error above"
        claims.append({"id": claim_id, "claim": title, "verdict": verdict, "evidence": evidence,
                       "numbers": _plain(numbers), "to_decide": to_decide if verdict == UNDECIDED else None})
    return claims


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


# ----------------------------------------------------------------------------- writing


def parts_table(out, analyses):
    """Markdown table: part, batch sizes, trials, wall time, B_crit, maximal useful batch size."""
    timings = read_json(pathlib.Path(out) / "timings.json") or {}
    lines = [f"Scale `{timings.get('scale', '?')}`, backend `{timings.get('backend', '?')}`, "
             f"{timings.get('trials', '?')} trials per batch size; the cells' wall times add up to "
             f"{_num(timings.get('total_s'))} s (cells run side by side with `--workers` overlap, so a run "
             "takes less).", "",
             "| part | batch sizes (reached / run) | wall time (s) | steps to result per batch size | B_crit [90%] | max useful batch size [90%] | warnings |",
             "| --- | --- | ---: | --- | --- | --- | --- |"]
    for part, result in analyses.items():
        wall = (timings.get("parts", {}).get(part) or {}).get("wall_s")
        if not _ok(result):
            lines.append(f"| {part} | {result} | {_num(wall)} | | | | |")
            continue
        steps = ", ".join(f"{r['batch_size']}: {_num(r['steps'])}" for r in result.rows)
        b_crit = f"{_num(result.fit.b_crit)} {_iv(result.intervals.b_crit if result.intervals else None)}" if result.fit else "n/a"
        mu_iv = _iv(result.intervals.max_useful if result.intervals else None)
        if result.regimes is None:
            mu_text = "n/a (fewer than 2 batch sizes reached the goal)"
        else:
            mu = result.regimes.max_useful_batch_size
            mu_text = f"{_num(mu) if mu is not None else 'beyond range'} {mu_iv}"
        lines.append(f"| {part} | {len(result.reached)} / {len(result.rows)} | {_num(wall)} | {steps} | {b_crit} | "
                     f"{mu_text} | {len(result.warnings)} |")
    not_started = [k for k, c in timings.get("cells", {}).items() if str(c.get("status", "")).startswith("not started")]
    failed = [f"{k} ({c['status']})" for k, c in timings.get("cells", {}).items() if str(c.get("status", "")).startswith("failed")]
    if not_started:
        lines += ["", f"Cells not started (deadline): {', '.join(not_started)}."]
    if failed:
        lines += ["", f"Cells that failed: {'; '.join(failed)}."]
    return "\n".join(lines)


def claims_markdown(claims, out, analyses, plots):
    lines = ["### Verdicts", "", "| claim | verdict | evidence |", "| --- | --- | --- |"]
    for c in claims:
        extra = f" **To decide:** {c['to_decide']}" if c["to_decide"] else ""
        lines.append(f"| {c['claim']} | **{c['verdict']}** | {c['evidence'].replace('|', '/')}{extra} |")
    lines += ["", "### Parts", "", parts_table(out, analyses), ""]
    warned = [(p, w) for p, r in analyses.items() if _ok(r) for w in r.warnings]
    if warned:
        lines += ["### Analysis warnings", ""] + [f"* {p}: {w}" for p, w in warned] + [""]
    if plots:
        lines += ["### Plots", ""] + [f"![{name}]({path})" for name, path in plots] + [""]
    return "\n".join(lines)


def write_plots(out, analyses, plot_dir):
    """Runs `tfbsz.report.write_report` per group of parts; [(name, relative png path)]."""
    from tfbsz.report import write_report

    made = []
    for group, parts in REPORT_GROUPS.items():
        chosen = [analyses[p] for p in parts if _ok(analyses.get(p)) and analyses[p].reached]
        if not chosen or (group == "sparsity" and len(chosen) < 2):
            continue
        folder = pathlib.Path(plot_dir) / f"report_{group}"
        try:
            write_report(chosen, str(folder))
        except Exception as e:  # plots are a by-product: say so and go on
            print(f"reproduction_claims: report {group} failed: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        for name in ("steps_to_result.png", "metaparameters.png"):
            if (folder / name).exists():
                made.append((f"{group}: {name}", folder / name))
    return made


def fill_docs(doc_path, markdown):
    """Replaces the text between BEGIN and END in `doc_path` with `markdown`."""
    text = pathlib.Path(doc_path).read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"reproduction_claims.py: error: --docs {doc_path}: markers {BEGIN} / {END} not found")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    pathlib.Path(doc_path).write_text(f"{head}{BEGIN}\n{markdown}\n{END}{tail}")


def publish(out, written, target, plots):
    """Copies summaries and timings (from `out`), claims.json (from `written`) and plots to
    `target`; returns {old png path: new path}."""
    out, written, target = pathlib.Path(out), pathlib.Path(written), pathlib.Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for folder, name in ((out, "timings.json"), (written, "claims.json")):
        if (folder / name).exists():
            shutil.copy(folder / name, target / name)
    for summary in out.glob("*/summary.json"):
        (target / summary.parent.name).mkdir(exist_ok=True)
        shutil.copy(summary, target / summary.parent.name / "summary.json")
    moved = {}
    for _, png in plots:
        new = target / png.parent.name / png.name
        new.parent.mkdir(exist_ok=True)
        shutil.copy(png, new)
        moved[png] = new
    return moved


def main(argv=None):
    parser = argparse.ArgumentParser(description="Verdicts for issue 12's claims from bench/reproduce.py output.")
    parser.add_argument("out", help="the --out folder of bench/reproduce.py")
    parser.add_argument("--docs", help="markdown file whose results block (between the markers) is replaced")
    parser.add_argument("--publish", help="folder to copy summaries, timings, claims and plots into")
    parser.add_argument("--output", help="where claims.md, claims.json and report_*/ go (default: OUT; "
                                         "give one when OUT is read-only)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--no-plots", action="store_true", help="skip the report plots")
    args = parser.parse_args(argv)
    import warnings

    warnings.filterwarnings("ignore", category=RuntimeWarning, module="tfbsz.analysis")  # inf - inf of missed goals
    out = pathlib.Path(args.out)
    if not out.is_dir():
        parser.error(f"{out}: not a folder")
    written = pathlib.Path(args.output) if args.output else out
    written.mkdir(parents=True, exist_ok=True)
    analyses = analyse_parts(out, args.resamples)
    claims = evaluate_claims(out, analyses)
    plots = [] if args.no_plots else write_plots(out, analyses, written)
    (written / "claims.json").write_text(json.dumps(claims, indent=1))
    link_base = pathlib.Path(args.docs).resolve().parent if args.docs else written.resolve()
    if args.publish:
        moved = publish(out, written, args.publish, plots)
        plots = [(name, moved.get(path, path)) for name, path in plots]
    relative = [(name, _relative(path, link_base)) for name, path in plots]
    markdown = claims_markdown(claims, out, analyses, relative)
    (written / "claims.md").write_text(markdown)
    if args.publish:
        shutil.copy(written / "claims.md", pathlib.Path(args.publish) / "claims.md")
    if args.docs:
        fill_docs(args.docs, markdown)
    for c in claims:
        print(f"{c['verdict']:>13}  {c['id']}: {c['evidence'][:200]}")
    return 0


def _relative(path, base):
    import os

    return os.path.relpath(pathlib.Path(path).resolve(), base)


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
    sys.exit(main())
