"""Issue 12: reproduce Shallue et al. / Lee et al. / McCandlish et al. / You et al. on one GPU.

Runs the reproduction *parts* (one workload x optimizer each, configs under
`configs/reproduction/`) as tfbsz studies, one study per batch size so that every batch size gets
its own step budget (about 3x the steps it is expected to need; `budget.max_steps` is one number
per study). Each (part, batch size) is a *cell*: its study folder is
`<out>/<part>/b<batch size>/`, and after every cell the part's merged `summary.json` and
`<out>/timings.json` are rewritten, so a run killed by a time limit keeps everything that finished
(and the trial files of the cell that was cut short).

    KERAS_BACKEND=jax python bench/reproduce.py --scale gpu10 --out OUT      # ~8 min on one H200
    KERAS_BACKEND=jax python bench/reproduce.py --scale full  --out OUT      # issue 12 as specified
    KERAS_BACKEND=jax python bench/reproduce.py --scale tiny  --out /tmp/r   # CPU smoke, minutes
    python bench/reproduction_claims.py OUT                                 # verdicts + plots

Options: `--parts a,b` runs only those parts (in the scale's order), `--batch-sizes 8,32` only
those of their batch sizes, `--deadline-s S` starts no
cell once S seconds have passed since the start (default: 470 for gpu10, none otherwise),
`--trials N` overrides the trials per batch size, `--workers N` runs up to N parts at once in
their own processes (one compiles while another trains; same numbers as one process, tested). A
rerun with the same `--out` resumes: finished cells are kept (their trials are not run again).
`--redo part/bN,...` runs those cells again from scratch with the current configs (after a search
range was widened, say), `--redo edges` every cell whose best trial sits at a search edge that the
config now widens (so repeating it does not rerun a cell already rerun); a redone tuned cell takes
its noise cell along, and earlier runs move to `<out>/superseded/`.

Parts (`PARTS`): `lm_adam`, `lm_nesterov`, `lm_lamb` (Transformer LM on stdlib_text);
`cnn_nesterov`, `cnn_adam`, `cnn_lars`, `cnn_sgd` (simple CNN on MNIST-5k); `cnn_nesterov_snip50`,
`cnn_nesterov_snip90` (SNIP at initialisation, Lee et al.); `noise_cnn_nesterov`, `noise_lm_adam`:
one trial per batch size with the best metaparameters the named part found there, measuring the
gradient noise scale B_simple (`noise_scale.enabled`; such trials run one at a time, not in
cohorts). Every tuned cell trains all its trials as one cohort (`search.parallel_trials` = trials).

Example (the plan, without running anything):

>>> plan = plan_cells("tiny")
>>> plan[0][:2]
('cnn_nesterov', 8)
>>> sorted({part for part, _, _ in plan}) == sorted(SCALES["tiny"]["parts"])
True
"""

import argparse
import json
import math
import os
import pathlib
import sys
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs" / "reproduction"

# name -> config file, overrides (`key.path=value`, YAML values), and for a noise part the tuned
# part whose best metaparameters it trains again with the noise-scale callback on.
PARTS = {
    "lm_adam": {"config": "lm_adam.yaml"},
    "lm_nesterov": {"config": "lm_nesterov.yaml"},
    "lm_lamb": {"config": "lm_lamb.yaml"},
    "cnn_nesterov": {"config": "cnn_nesterov.yaml"},
    "cnn_adam": {"config": "cnn_adam.yaml"},
    "cnn_lars": {"config": "cnn_lars.yaml"},
    "cnn_sgd": {"config": "cnn_sgd.yaml"},
    "cnn_nesterov_snip50": {"config": "cnn_nesterov.yaml",
                            "overrides": ["sparsity.method=snip", "sparsity.level=0.5"]},
    "cnn_nesterov_snip90": {"config": "cnn_nesterov.yaml",
                            "overrides": ["sparsity.method=snip", "sparsity.level=0.9"]},
    "noise_cnn_nesterov": {"config": "cnn_nesterov.yaml", "noise_of": "cnn_nesterov"},
    "noise_lm_adam": {"config": "lm_adam.yaml", "noise_of": "lm_adam"},
}

# Guessed S(B) = S_min (1 + B_crit / B) per workload (from CPU pilots, docs/reproduction.md), and a
# factor for plain SGD, which needs more steps. The budget is BUDGET_FACTOR x the guess.
# The LM guess was raised after the first GPU run (gpu10, 2026-11-29: 2100 steps at batch 8, 591 at
# 32, the goal missed within 450 steps at 128 and 338 at 512 by all 16 trials).
GUESSES = {"lm": {"s_min": 300, "b_crit": 48}, "cnn": {"s_min": 40, "b_crit": 200}}
SGD_FACTOR = 2.0
BUDGET_FACTOR = 3.0
MIN_BUDGET = 200
NOISE_ESTIMATES = 30  # noise-scale estimates per budget (its moving average needs several by the goal)

LM_FULL = [2 ** k for k in range(3, 13)]     # 8 .. 4096
CNN_FULL = [2 ** k for k in range(3, 12)]    # 8 .. 2048 (4000 training images)
X4_LM = [8, 32, 128, 512]
X4_CNN = [8, 32, 128, 512, 2048]

# Tiny models and easy targets for the CPU smoke scale (every key is a real config key).
TINY_OVERRIDES = {
    "lm": ["precision=float32", "data.seq_len=16", "model.num_layers=1", "model.d_model=16", "model.num_heads=2",
           "model.mlp_dim=32", "eval_examples=64", "target.threshold=4.5"],
    "cnn": ["precision=float32", "model.filters=[4, 8]", "model.dense_units=16", "target.threshold=0.6",
            "sparsity.batches=2"],
}

SCALES = {
    "full": {
        "trials": 32, "stop_when_beaten": False, "deadline_s": None,
        "parts": {
            "lm_adam": LM_FULL, "lm_nesterov": LM_FULL, "cnn_nesterov": CNN_FULL, "cnn_adam": CNN_FULL,
            "cnn_sgd": CNN_FULL, "cnn_nesterov_snip50": CNN_FULL, "cnn_nesterov_snip90": CNN_FULL,
            "noise_cnn_nesterov": CNN_FULL, "noise_lm_adam": LM_FULL, "lm_lamb": LM_FULL, "cnn_lars": CNN_FULL,
        },
    },
    # One H200 in ~8 minutes: 16 trials, batch sizes x4 apart, trials stopped once beaten (the steps
    # to result and the best trial are exact; upper interval ends are conservative). Each cell pays
    # ~15-20 s of set-up and compilation, so the deadline, not the plan, ends the run: the first 18
    # cells (LM Adam and Nesterov, CNN Nesterov and Adam) come first, then one cell or a few per
    # remaining claim (SNIP 90%, B_simple, LAMB, LARS, plain SGD), then the rest.
    "gpu10": {
        "trials": 16, "stop_when_beaten": True, "deadline_s": 470,
        "parts": {
            "lm_adam": X4_LM, "lm_nesterov": X4_LM, "cnn_nesterov": X4_CNN, "cnn_adam": X4_CNN,
            "cnn_nesterov_snip90": [8, 128, 2048], "noise_cnn_nesterov": [32, 512],
            "lm_lamb": [512], "cnn_lars": [2048], "cnn_sgd": [8, 128, 2048],
            "cnn_nesterov_snip50": [8, 128, 2048], "noise_lm_adam": [32, 128],
        },
    },
    # Several ~9-minute GPU calls: 32 trials, nothing stopped early (so every search-luck interval
    # is bounded where two or more trials reach the goal), the CNN at every batch size 2x apart for
    # Nesterov, Adam and plain SGD (regimes, momentum vs SGD, learning-rate rules), B_simple and
    # SNIP 90% at batch sizes 4x apart, LARS at the three largest; then the LM with Adam at every
    # batch size 2x apart up to 4096 (2^12, issue 12), Nesterov 4x apart, SNIP 50%, the LM's
    # B_simple, and LAMB at 256, 512 and 4096. Run it with `--deadline-s` per call and the same
    # `--out`: it resumes.
    "gpu20": {
        "trials": 32, "stop_when_beaten": False, "deadline_s": None,
        "parts": {
            "cnn_nesterov": CNN_FULL, "cnn_adam": CNN_FULL, "cnn_sgd": CNN_FULL,
            "noise_cnn_nesterov": X4_CNN, "cnn_nesterov_snip90": X4_CNN, "cnn_lars": [512, 1024, 2048],
            "lm_adam": LM_FULL, "lm_nesterov": [8, 32, 128, 512], "cnn_nesterov_snip50": X4_CNN,
            "noise_lm_adam": [8, 32, 128], "lm_lamb": [256, 512, 4096],
        },
    },
    "tiny": {
        "trials": 2, "stop_when_beaten": True, "deadline_s": None, "max_budget": 60,
        "parts": {
            "cnn_nesterov": [8, 16, 32], "noise_cnn_nesterov": [8, 32], "cnn_sgd": [8, 32],
            "cnn_nesterov_snip90": [8, 32], "lm_adam": [8, 16, 32], "lm_nesterov": [32], "cnn_adam": [32],
            "lm_lamb": [32], "cnn_lars": [32], "cnn_nesterov_snip50": [32], "noise_lm_adam": [16],
        },
    },
}


def workload_of_part(part):
    """`lm` or `cnn`."""
    return "lm" if PARTS[part]["config"].startswith("lm_") else "cnn"


def expected_steps(part, batch_size):
    """The guessed steps to result of `part` at `batch_size`."""
    guess = GUESSES[workload_of_part(part)]
    steps = guess["s_min"] * (1 + guess["b_crit"] / batch_size)
    return steps * (SGD_FACTOR if PARTS[part]["config"] == "cnn_sgd.yaml" else 1.0)


def step_budget(part, batch_size, scale):
    """`budget.max_steps` of one cell: BUDGET_FACTOR x the guess, at least MIN_BUDGET."""
    budget = max(MIN_BUDGET, int(math.ceil(BUDGET_FACTOR * expected_steps(part, batch_size))))
    return min(budget, SCALES[scale].get("max_budget", budget))


def plan_cells(scale, parts=None, batch_sizes=None):
    """[(part, batch size, max_steps)] in running order (the scale's part order, then batch size).

    `parts` keeps only those parts; `batch_sizes` keeps only those of each part's batch sizes.
    """
    chosen = SCALES[scale]["parts"]
    unknown = sorted(set(parts or ()) - set(chosen))
    if unknown:
        raise SystemExit(f"reproduce.py: error: --parts: {unknown} not in scale {scale}; "
                         f"valid: {', '.join(chosen)}")
    return [(part, b, step_budget(part, b, scale))
            for part, sizes in chosen.items() if parts is None or part in parts
            for b in sizes if batch_sizes is None or b in batch_sizes]


def cell_budget(out, part, batch_size, max_steps, previous=None):
    """The step budget of a cell about to run: an earlier run's budget for a cell that ran before
    (resumed or kept), else `max_steps` lowered to BUDGET_FACTOR x the fewest steps to result the
    part measured at a smaller batch size (at least MIN_BUDGET). With the metaparameters tuned,
    steps to result do not rise with the batch size, so 3x the best smaller batch size's is as
    safe a margin as 3x the guess, and it keeps the largest batch sizes' cells (whose steps cost
    the most) from running budgets sized by a guess made before any measurement. A noise part's
    cell gets the budget its tuned part had at that batch size."""
    ran = previous and not str(previous.get("status", "")).startswith(("not started", "skipped"))
    if ran and previous.get("max_steps"):
        return previous["max_steps"]
    if "noise_of" in PARTS[part]:  # the budget its tuned part had at this batch size
        return summary_row(out / PARTS[part]["noise_of"], batch_size).get("max_steps") or max_steps
    rows = (read_json(out / part / "summary.json") or {}).get("batch_sizes", [])
    measured = [r["steps_to_result"] for r in rows if r["batch_size"] < batch_size and r.get("steps_to_result")]
    if not measured:
        return max_steps
    return min(max_steps, max(MIN_BUDGET, int(math.ceil(BUDGET_FACTOR * min(measured)))))


def edge_cells(out, plan):
    """The tuned cells of `plan` (`part/bN`) whose best trial sits at a search edge that can be
    widened (`tfbsz.analysis.search_edges` on the space that cell searched, its study.json) and
    that the part's config now widens past that edge: rerunning a cell with the same space would
    give the same trials, so a cell already rerun with the current ranges is not picked again."""
    from tfbsz.analysis.search_edges import search_edges
    from tfbsz.core.config import load_config

    cells, spaces = [], {}
    for part, batch_size, _ in plan:
        root = out / part / f"b{batch_size}"
        rows = (read_json(root / "summary.json") or {}).get("batch_sizes") or []
        studies = sorted(root.glob("**/study.json"))
        if "noise_of" in PARTS[part] or not rows or not rows[0].get("best_parameters") or not studies:
            continue
        searched = (read_json(studies[0]) or {}).get("parameter_configs") or {}
        if part not in spaces:
            spaces[part] = load_config(str(CONFIGS / PARTS[part]["config"]),
                                       list(PARTS[part].get("overrides", ())))["search"]["space"]
        for name, side in search_edges(rows[0]["best_parameters"], searched).items():
            end, now = ("min_value", "min") if side == "low" else ("max_value", "max")
            current = (spaces[part].get(name) or {}).get(now)
            if current is not None and current != (searched.get(name) or {}).get(end):
                cells.append(f"{part}/b{batch_size}")
                break
    return cells


def redo_cells(out, plan, asked):
    """The cells to run again: `asked` (`part/bN`, or `edges` for `edge_cells`) plus, for each,
    the noise cell that retrains its best trial; an error message (str) for a cell not in `plan`."""
    planned = {f"{part}/b{batch_size}" for part, batch_size, _ in plan}
    cells = [c for c in asked if c != "edges"] + (edge_cells(out, plan) if "edges" in asked else [])
    unknown = sorted(set(cells) - planned)
    if unknown:
        return f"--redo: {', '.join(unknown)} not among the cells to run (part/bN of the scale, --parts, --batch-sizes)"
    noise = [f"{name}/b{c.split('/b')[1]}" for c in cells for name, spec in PARTS.items()
             if spec.get("noise_of") == c.split("/")[0]]
    for cell in noise:
        if cell not in planned and (out / cell).exists():
            print(f"reproduce: warning: {cell} retrained the best trial of a cell run again here; "
                  f"add it (--parts, --batch-sizes) or --redo it later", flush=True)
    return list(dict.fromkeys(cells + [c for c in noise if c in planned]))


def supersede(out, key):
    """Moves cell `key`'s folder to `<out>/superseded/<part>/b<N>.<k>` (kept, not reused) and marks
    its timings entry for a new run (the budget it had is kept: `cell_budget`)."""
    part, cell = key.split("/")
    source = out / part / cell
    if source.exists():
        k = 1
        while (out / "superseded" / part / f"{cell}.{k}").exists():
            k += 1
        target = out / "superseded" / part / f"{cell}.{k}"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
    summary = read_json(out / part / "summary.json")
    if summary:  # the part's merged summary no longer reports the moved run
        summary["batch_sizes"] = [r for r in summary.get("batch_sizes", []) if f"b{r['batch_size']}" != cell]
        write_json(out / part / "summary.json", summary)
    for name in [TIMINGS] + [f"timings_{p}.json" for p in PARTS]:
        timings = read_json(out / name)
        if timings and key in timings.get("cells", {}):
            timings["cells"][key]["status"] = "to run again (--redo)"
            write_json(out / name, timings)


def cell_overrides(part, batch_size, max_steps, scale, trials, out):
    """The `--set` overrides of one cell (on top of the part's own)."""
    spec = PARTS[part]
    sets = list(spec.get("overrides", ()))
    if scale == "tiny":
        sets += TINY_OVERRIDES[workload_of_part(part)]
    sets += [f"batch_sizes=[{batch_size}]", f"budget.max_steps={max_steps}", "eval_every=auto",
             f"search.trials={trials}", f"search.parallel_trials={trials}",
             f"budget.stop_when_beaten={str(SCALES[scale]['stop_when_beaten']).lower()}",
             f"output={out / part / f'b{batch_size}'}", f"name=repro_{part}_b{batch_size}",
             "logging.tensorboard=false", "logging.progress=none"]
    if "noise_of" in spec:
        best = best_parameters(out / spec["noise_of"], batch_size)
        if best is None:
            return None
        sets += ["search.space={}", "search.trials=1", "search.parallel_trials=1", "noise_scale.enabled=true",
                 f"noise_scale.every={max(1, max_steps // NOISE_ESTIMATES)}", "budget.stop_when_beaten=false"]
        sets += [f"{key}={json.dumps(value)}" for key, value in best.items()]
    return sets


def summary_row(part_dir, batch_size):
    """The row of `batch_size` in the part's merged `summary.json` ({} when there is none)."""
    rows = (read_json(part_dir / "summary.json") or {}).get("batch_sizes", [])
    return next((row for row in rows if row["batch_size"] == batch_size), {})


def best_parameters(part_dir, batch_size):
    """The best trial's searched parameters of `part_dir` at `batch_size` (None: none reached)."""
    row = summary_row(part_dir, batch_size)
    return row["best_parameters"] if row.get("steps_to_result") is not None else None


def read_json(path):
    try:
        return json.loads(pathlib.Path(path).read_text())
    except (OSError, ValueError):
        return None


def write_json(path, data):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def merge_part_summary(part_dir, part, scale, budgets, wall):
    """`<part>/summary.json`: every cell's summary row, with budgets and wall times."""
    rows, study = [], None
    for cell in sorted(part_dir.glob("b*/summary.json"), key=lambda p: int(p.parent.name[1:])):
        cell_summary = read_json(cell) or {}
        study = study or cell_summary.get("study")
        for row in cell_summary.get("batch_sizes", []):
            rows.append({**row, "max_steps": budgets.get(row["batch_size"]),
                         "cell_wall_s": wall.get(row["batch_size"])})
    summary = {"part": part, "scale": scale, "config": PARTS[part]["config"],
               "overrides": PARTS[part].get("overrides", []), "noise_of": PARTS[part].get("noise_of"),
               "study": study, "batch_sizes": sorted(rows, key=lambda r: r["batch_size"])}
    write_json(part_dir / "summary.json", summary)
    return summary


def run_cell(part, batch_size, max_steps, scale, trials, out):
    """Runs (or resumes) one cell's study; returns 'done', 'skipped: ...' or 'failed: ...'."""
    from tfbsz.core.config import load_config
    from tfbsz.records import results
    from tfbsz.study.study import Study

    sets = cell_overrides(part, batch_size, max_steps, scale, trials, out)
    if sets is None:
        return f"skipped: {PARTS[part]['noise_of']} has no best trial at batch size {batch_size}"
    cfg = load_config(str(CONFIGS / PARTS[part]["config"]), sets)
    root = pathlib.Path(cfg["output"])
    if (root / "summary.json").exists() and len((read_json(root / "summary.json") or {}).get("batch_sizes", [])):
        row = read_json(root / "summary.json")["batch_sizes"][0]
        if row.get("trials", 0) >= cfg["search"]["trials"] or "noise_of" in PARTS[part]:
            return "done (kept from an earlier run)"
    Study(cfg, resume=(root / results.STUDY_MARKER).exists()).run()
    return "done"


TIMINGS = "timings.json"


def run_workers(args, scale, plan, trials, deadline, out):
    """Runs the plan's parts in up to `args.workers` processes at once (this script with `--parts P`).

    While one process compiles a cell's programs (on the host's CPU), the others train theirs on
    the device; a noise part starts once the part it retrains has finished. Each worker writes
    `timings_<part>.json`; they are merged into `timings.json`, whose `elapsed_s` is the wall time
    of the whole run (`total_s` adds up the cells, which now overlap). On a GPU each process may
    use `0.9 / workers` of its memory (`XLA_PYTHON_CLIENT_MEM_FRACTION`, unless set).
    """
    import signal
    import subprocess

    order = list(dict.fromkeys(part for part, _, _ in plan))
    sizes = {part: [b for p, b, _ in plan if p == part] for part in order}
    env = dict(os.environ)
    env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{0.9 / args.workers:.3f}")
    start = time.monotonic()
    print(f"reproduce: scale {scale}, {len(plan)} cells in {len(order)} parts, {args.workers} workers, out {out}",
          flush=True)
    waiting, running, finished = list(order), {}, set()

    def ready(part):
        source = PARTS[part].get("noise_of")
        return source is None or source not in order or source in finished

    def launch(part):
        remaining = 0 if deadline is None else max(deadline - (time.monotonic() - start), 1e-3)
        command = [sys.executable, str(pathlib.Path(__file__).resolve()), "--scale", scale, "--out", str(out),
                   "--parts", part, "--batch-sizes", ",".join(str(b) for b in sizes[part]),
                   "--trials", str(trials), "--deadline-s", str(remaining), "--timings-name", f"timings_{part}.json"]
        return subprocess.Popen(command, env=env)

    interrupted = False
    try:
        while waiting or running:
            for part in [p for p in waiting if ready(p)]:
                if len(running) >= args.workers:
                    break
                waiting.remove(part)
                if deadline is not None and time.monotonic() - start >= deadline:
                    finished.add(part)  # its cells read "not started (deadline)" below
                    continue
                running[part] = launch(part)
            for part, process in list(running.items()):
                if process.poll() is not None:
                    finished.add(part)
                    del running[part]
            time.sleep(0.2)
    except KeyboardInterrupt:  # timeout -s INT: every worker stops its cell and keeps what it wrote
        interrupted = True
        for process in running.values():
            process.send_signal(signal.SIGINT)
        for process in running.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
    timings = merge_worker_timings(out, sizes)
    timings.update({"scale": scale, "trials": trials, "deadline_s": deadline, "workers": args.workers})
    timings["elapsed_s"] = round(time.monotonic() - start, 2)
    write_json(out / TIMINGS, timings)
    print(json.dumps(timings["parts"], indent=1), flush=True)
    print(f"reproduce: {timings['elapsed_s']:.0f} s elapsed for {timings['total_s']:.0f} s of cells", flush=True)
    return 130 if interrupted else 0


def merge_worker_timings(out, sizes):
    """`<out>/timings.json` updated from each part's worker file `timings_<part>.json`.

    A worker's file starts as a copy of the whole run's timings, so only its own part's cells and
    part entry are taken from it (another part's cells there are stale copies); a cell of `sizes`
    ({part: [batch sizes]}) that no worker ran reads "not started (deadline)".
    """
    timings = read_json(out / TIMINGS) or {}
    timings.update({"cells": timings.get("cells", {}), "parts": timings.get("parts", {})})
    for part, batch_sizes in sizes.items():
        worker = read_json(out / f"timings_{part}.json") or {}
        timings["backend"] = worker.get("backend", timings.get("backend"))
        timings["cells"].update({key: cell for key, cell in worker.get("cells", {}).items()
                                 if key.split("/")[0] == part})
        if part in worker.get("parts", {}):
            timings["parts"][part] = worker["parts"][part]
        for batch_size in batch_sizes:
            timings["cells"].setdefault(f"{part}/b{batch_size}", {"status": "not started (deadline)"})
    timings["total_s"] = _total_wall(timings)
    return timings


def _total_wall(timings):
    """Seconds of every cell run so far, also by earlier runs that this one resumed."""
    return round(sum(c.get("wall_s") or 0 for c in timings["cells"].values()), 2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SCALES), default="gpu10")
    parser.add_argument("--out", required=True, help="output folder (one subfolder per part)")
    parser.add_argument("--parts", help="comma-separated parts to run (default: all of the scale's, in order)")
    parser.add_argument("--batch-sizes", help="comma-separated: run only these of each part's batch sizes")
    parser.add_argument("--trials", type=int, help="trials per batch size (default: the scale's)")
    parser.add_argument("--deadline-s", type=float,
                        help="start no cell after this many seconds (default: the scale's; 0: none)")
    parser.add_argument("--workers", type=int, default=1,
                        help="run up to this many parts at once, each in its own process (default 1)")
    parser.add_argument("--redo", help="comma-separated cells (part/bN) to run again from scratch with the "
                        "current configs, or 'edges': every cell whose best trial sits at a search edge "
                        "that the config now widens; earlier runs move to <out>/superseded/ (give it to "
                        "the first of several calls only: an explicit cell given again starts over)")
    parser.add_argument("--timings-name", default=TIMINGS, help=argparse.SUPPRESS)  # a worker's own file
    args = parser.parse_args(argv)
    scale = args.scale
    parts = [p.strip() for p in args.parts.split(",")] if args.parts else None
    trials = args.trials or SCALES[scale]["trials"]
    deadline = SCALES[scale]["deadline_s"] if args.deadline_s is None else (args.deadline_s or None)
    out = pathlib.Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    try:
        sizes = [int(b) for b in args.batch_sizes.split(",")] if args.batch_sizes else None
    except ValueError:
        parser.error(f"--batch-sizes: expected comma-separated integers, got {args.batch_sizes!r}")
    if args.trials is not None and args.trials < 1:
        parser.error(f"--trials: expected an integer >= 1, got {args.trials}")
    if args.workers < 1:
        parser.error(f"--workers: expected an integer >= 1, got {args.workers}")
    plan = plan_cells(scale, parts, sizes)
    if not plan:
        parser.error("nothing to run: no batch size of the chosen parts is in --batch-sizes")
    if args.redo:
        redo = redo_cells(out, plan, [c.strip() for c in args.redo.split(",") if c.strip()])
        if isinstance(redo, str):
            parser.error(redo)
        for key in redo:
            supersede(out, key)
        print(f"reproduce: running {len(redo)} cells again: {', '.join(redo) or 'none'}", flush=True)
    if args.workers > 1:
        return run_workers(args, scale, plan, trials, deadline, out)

    import keras  # after argument errors, before the clock starts on the first cell

    start = time.monotonic()
    timings_path = out / args.timings_name
    timings = read_json(timings_path) or read_json(out / TIMINGS) or {}
    timings.update({"scale": scale, "backend": keras.backend.backend(), "trials": trials, "deadline_s": deadline,
                    "cells": timings.get("cells", {}), "parts": timings.get("parts", {})})
    previous_cells = dict(timings["cells"])
    write_json(timings_path, timings)
    print(f"reproduce: scale {scale}, {len(plan)} cells, {trials} trials per batch size, backend "
          f"{keras.backend.backend()}, out {out}", flush=True)
    for part, batch_size, max_steps in plan:
        elapsed = time.monotonic() - start
        key = f"{part}/b{batch_size}"
        if deadline is not None and elapsed >= deadline:
            print(f"[{elapsed:6.0f}s] {key}: not started (deadline {deadline:.0f} s)", flush=True)
            timings["cells"].setdefault(key, {"status": "not started (deadline)", "max_steps": max_steps})
            continue
        max_steps = cell_budget(out, part, batch_size, max_steps, previous_cells.get(key))
        cell_start = time.monotonic()
        # written first: a run killed during this cell still says which cell it was in
        timings["cells"][key] = {"status": "running (cut short: the run ended during this cell)",
                                 "started_s": round(elapsed, 2), "max_steps": max_steps}
        write_json(timings_path, timings)
        interrupted = False
        try:
            status = run_cell(part, batch_size, max_steps, scale, trials, out)
        except KeyboardInterrupt:  # timeout -s INT, Ctrl-C: keep what is written, say where it stopped
            status, interrupted = "interrupted (its finished trials are on disk; rerun to resume)", True
        except Exception as error:  # one failed cell must not lose the others
            traceback.print_exc()
            status = f"failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        wall = round(time.monotonic() - cell_start, 2)
        if status.startswith("done (kept"):  # its wall time is the earlier run's
            wall = (previous_cells.get(key) or {}).get("wall_s", wall)
        timings["cells"][key] = {"status": status, "wall_s": wall, "max_steps": max_steps}
        spent = ((read_json(out / part / f"b{batch_size}" / "wall_time.json") or {}).get("batch_sizes") or {})
        if str(batch_size) in spent:  # where the cell's time went (tfbsz.study.wall_time)
            timings["cells"][key]["wall_time"] = spent[str(batch_size)]
        cells = {b: c for b in SCALES[scale]["parts"][part]
                 for c in [timings["cells"].get(f"{part}/b{b}")] if c}
        merge_part_summary(out / part, part, scale, {b: c.get("max_steps") for b, c in cells.items()},
                           {b: c.get("wall_s") for b, c in cells.items()})
        timings["parts"][part] = {"wall_s": round(sum(c.get("wall_s") or 0 for c in cells.values()), 2),
                                  "cells": len(cells)}
        timings["total_s"] = _total_wall(timings)
        write_json(timings_path, timings)
        spent = timings["cells"][key].get("wall_time")
        detail = (f"; compile {spent['compile_s']:.1f} s, host work {spent['host_fraction']:.1%}"
                  if spent and spent.get("host_fraction") is not None else "")
        print(f"[{time.monotonic() - start:6.0f}s] {key}: {status} in {wall:.1f} s "
              f"(budget {max_steps} steps{detail})", flush=True)
        if interrupted:
            return 130
    timings["total_s"] = _total_wall(timings)
    write_json(timings_path, timings)
    print(json.dumps(timings["parts"], indent=1), flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
