"""Cohorts against one trial at a time: trial-steps per second, and a whole study's wall time.

Part `throughput`: for each workload (the default study's Transformer on stdlib text, Shallue et
al.'s simple CNN on MNIST-5k), batch size and cohort size N, side by side:

* `plain fit`: one Keras model, `model.fit` on in-memory batches, no evaluation (steps/s after a
  warm-up fit: tracing excluded);
* `tfbsz trial`: `tfbsz.study.trainer.run_trial`, today's one-at-a-time trial (evaluation every
  `--eval-every` updates); `steady` is its rate between evaluations once compiled, `whole` counts
  its set-up, tracing and compiling too (what every trial alone pays);
* `cohort N`: `tfbsz.study.cohorts.run_cohort` with N members (learning rates spread over 4x,
  seeds 0..N-1), one run (`N@d`: the same with its trials sharded over d devices, `--devices`);
  `steady` is N trial-steps per cohort update between evaluations once compiled, `whole` counts
  the members' set-up and the program's compilation too (which a study pays once per batch size
  and cohort size, not once per cohort).

Part `study`: the default study (`configs/transformer.yaml`) with `search.trials` T and
`search.parallel_trials` P for each `T:P` of `--study-runs`, each a fresh `python -m tfbsz.run`,
timed from start to exit.

    python bench/cohorts.py --mode cpu                       # tiny settings, a few minutes on a CPU
    KERAS_BACKEND=jax python bench/cohorts.py --mode gpu --part throughput --workload transformer
    KERAS_BACKEND=jax python bench/cohorts.py --mode gpu --part throughput --workload mnist_cnn
    KERAS_BACKEND=jax python bench/cohorts.py --mode gpu --part study

Cohorts need the JAX backend (`--mode cpu` sets it when KERAS_BACKEND is unset). A size that runs
out of device memory is reported as `oom` and the grid goes on. `--json` writes every number.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

MODES = {
    # batch sizes, cohort sizes, updates per timed run, evaluation cadence, held-out examples,
    # study runs (trials:parallel_trials), and the study's size
    "cpu": {"batch_sizes": [32, 64], "cohorts": [1, 2], "steps": 30, "eval_every": 10, "eval_examples": 64,
            "study_runs": "2:1,2:auto", "study_args": ["--batch-sizes", "8,16", "--set", "budget.max_steps=40"],
            "transformer": {"num_layers": 1, "d_model": 16, "num_heads": 2, "mlp_dim": 32},
            "cnn": {"filters": [4, 8], "dense_units": 32}},
    "gpu": {"batch_sizes": [32, 64, 128, 256, 512, 1024], "cohorts": [1, 8, 32, 128], "steps": 200,
            "eval_every": 10, "eval_examples": 256, "study_runs": "16:auto,4:1,4:auto", "study_args": [],
            "transformer": {}, "cnn": {}},
}


def workload(name, mode, batch_size):
    """A checked config for one workload at `batch_size`, never reaching its target."""
    from tfbsz.core.config import from_dict, load_config

    settings = MODES[mode]
    if name == "transformer":
        cfg = load_config(os.path.join(ROOT, "configs", "transformer.yaml"))
        cfg.model.update(settings["transformer"])
    else:
        cfg = from_dict({"data": {"name": "mnist5k"}, "model": {"name": "simple_cnn", **settings["cnn"]},
                         "optimizer": {"name": "momentum", "learning_rate": 0.05, "momentum": 0.9},
                         "target": {"metric": "val/classification_error", "threshold": 0.05},
                         "budget": {"max_steps": 100}, "batch_sizes": [batch_size]})
    cfg.budget.update(max_steps=settings["steps"], epochs=None, examples=None)
    cfg.eval_every = settings["eval_every"]
    cfg.eval_examples = settings["eval_examples"]
    cfg.target.threshold = -1.0  # below any error: every run trains its whole budget
    cfg.batch_sizes = [batch_size]
    cfg.logging.update(tensorboard=False, progress="none")
    return cfg


def members(cfg, count):
    from tfbsz.study.cohorts import CohortMember

    base = cfg.optimizer.learning_rate
    spread = [0.5 * 4 ** (k / max(1, count - 1)) for k in range(count)]
    return [CohortMember({"optimizer.learning_rate": base * s}, seed=k, trial_id=str(k)) for k, s in enumerate(spread)]


def steady_rate(results, count):
    """Trial-steps per second from the second to the last evaluation of the longest member (the
    first interval holds the first evaluation's tracing and compiling, for a trial alone)."""
    rows = max((r.measurements for r in results), key=len)
    if len(rows) < 3 or rows[-1]["wall_time_s"] <= rows[1]["wall_time_s"]:
        return None
    return count * (rows[-1]["step"] - rows[1]["step"]) / (rows[-1]["wall_time_s"] - rows[1]["wall_time_s"])


def time_plain_fit(cfg, dataset, batch_size, steps):
    import keras
    import numpy as np

    from tfbsz.study import trainer

    plan = trainer.plan_trial(cfg, batch_size, len(dataset.x_train))
    keras.utils.set_random_seed(0)
    model = trainer.build_compiled_model(cfg, plan, dataset)
    need = batch_size * steps
    repeats = -(-need // len(dataset.x_train))
    x = np.concatenate([dataset.x_train] * repeats)[:need]
    y = np.concatenate([dataset.y_train] * repeats)[:need]
    model.fit(x[: batch_size * 2], y[: batch_size * 2], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    started = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    return steps / (time.perf_counter() - started)


def time_trial(cfg, dataset, batch_size):
    from tfbsz.study import trainer

    member = members(cfg, 1)[0]
    started = time.perf_counter()
    result = trainer.run_trial(cfg, member.parameters, batch_size, member.seed, dataset)
    whole = time.perf_counter() - started
    return {"steady": steady_rate([result], 1), "whole": result.steps / whole}


def time_cohort(cfg, dataset, batch_size, count, devices=1):
    from tfbsz.study import cohort_runs
    from tfbsz.study.cohorts import run_cohort

    group = members(cfg, count)
    try:
        started = time.perf_counter()
        results = run_cohort(cfg, group, batch_size, dataset, devices=devices if devices > 1 else None)
        whole = time.perf_counter() - started
    except Exception as error:  # noqa: BLE001  (a size that does not fit is a result, not a crash)
        if cohort_runs.out_of_memory(error):
            return {"steady": "oom", "whole": "oom"}
        raise
    # A cohort whose arrays would pass 2^31 elements trains as consecutive groups (run_cohort):
    # between evaluations the device then trains one group, the longest member's.
    longest = max(results, key=lambda r: len(r.measurements))
    at_once = longest.extra["cohort"]["members"]
    timing = {"steady": steady_rate(results, at_once), "whole": count * max(r.steps for r in results) / whole}
    if at_once < count:
        timing["groups"] = -(-count // at_once)
    return timing


def throughput(mode, names):
    from tfbsz import data

    settings = MODES[mode]
    rows = []
    for name in names:
        for batch_size in settings["batch_sizes"]:
            cfg = workload(name, mode, batch_size)
            dataset = data.load(cfg.data, seed=0)
            alone = settings.get("alone", True)
            row = {"workload": name, "batch_size": batch_size,
                   "plain_fit": time_plain_fit(cfg, dataset, batch_size, settings["steps"]) if alone else None,
                   "trial": time_trial(cfg, dataset, batch_size) if alone else {"steady": None, "whole": None},
                   "cohorts": {}}
            for count in settings["cohorts"]:
                for devices in settings.get("devices", [1]):  # N over d devices: key "N@d"
                    key = count if devices == 1 else f"{count}@{devices}"
                    row["cohorts"][key] = time_cohort(cfg, dataset, batch_size, count, devices)
            rows.append(row)
            print(format_row(row), flush=True)
    return rows


def _fmt(value):
    return value if isinstance(value, str) else ("-" if value is None else f"{value:.0f}")


def format_row(row):
    """One line: trial-steps/s of each variant, steady / whole."""
    cells = [f"{row['workload']:11s} bs {row['batch_size']:5d}", f"plain fit {_fmt(row['plain_fit'])}",
             f"trial {_fmt(row['trial']['steady'])}/{_fmt(row['trial']['whole'])}"]
    for n, v in row["cohorts"].items():
        split = f" in {v['groups']} groups" if v.get("groups") else ""
        cells.append(f"N={n}{split} {_fmt(v['steady'])}/{_fmt(v['whole'])}")
    return "  ".join(cells)


def study(mode, runs):
    settings = MODES[mode]
    results = []
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for run in runs.split(","):
        trials, parallel = run.split(":")
        out = f"/tmp/tfbsz_bench_cohorts/study_{trials}_{parallel}_{os.getpid()}"
        command = [sys.executable, "-m", "tfbsz.run", "--config", "configs/transformer.yaml", "--output", out,
                   "--trials", trials, "--parallel-trials", parallel, "--progress", "plain", *settings["study_args"]]
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"study {run} failed:\n{proc.stderr[-3000:]}")
        summary = json.load(open(os.path.join(out, "summary.json")))
        chosen = [line for line in proc.stdout.splitlines() if line.startswith("bs ")]
        result = {"trials": int(trials), "parallel_trials": parallel, "wall_s": round(wall, 1),
                  "steps_to_result": {r["batch_size"]: r["steps_to_result"] for r in summary["batch_sizes"]},
                  "auto": chosen}
        results.append(result)
        print(f"study trials={trials} parallel_trials={parallel}: {wall:.1f} s  steps to result "
              f"{result['steps_to_result']}", flush=True)
        for line in chosen:
            print(f"  {line}", flush=True)
        result["wall_time"] = wall_time_lines(out)
        for line in result["wall_time"]:
            print(f"  {line}", flush=True)
    return results


def wall_time_lines(study_root):
    """Per batch size, where the study's time went (`wall_time.json`, `tfbsz.study.wall_time`)."""
    try:
        entries = json.load(open(os.path.join(study_root, "wall_time.json")))["batch_sizes"]
    except (OSError, ValueError, KeyError):
        return []
    lines = []
    for bs, e in sorted(entries.items(), key=lambda item: int(item[0])):
        lines.append(f"time bs {bs}: search {e['search_s']:.1f} s = runs {e['runs_s']:.1f} s (compile "
                     f"{e['compile_s']:.1f}, member set-up {e['member_setup_s']:.2f}) + outside runs "
                     f"{e['outside_runs_s']:.2f} s; host work per trial {e['host_fraction']:.1%} of the search")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=sorted(MODES), default="cpu")
    parser.add_argument("--part", choices=("throughput", "study", "all"), default="all")
    parser.add_argument("--workload", choices=("transformer", "mnist_cnn", "both"), default="both")
    parser.add_argument("--study-runs", help="comma-separated TRIALS:PARALLEL_TRIALS (default: the mode's)")
    parser.add_argument("--batch-sizes", help="comma-separated batch sizes (default: the mode's)")
    parser.add_argument("--cohorts", help="comma-separated cohort sizes N (default: the mode's)")
    parser.add_argument("--steps", type=int, help="updates per timed run (default: the mode's)")
    parser.add_argument("--devices", help="comma-separated device counts to shard each cohort's trials over "
                        "(default 1; N over d devices is reported as N=N@d)")
    parser.add_argument("--no-alone", action="store_true", help="skip plain fit and the trial alone")
    parser.add_argument("--json", help="write every number here")
    args = parser.parse_args()
    if args.steps:
        MODES[args.mode]["steps"] = args.steps
    if args.no_alone:
        MODES[args.mode]["alone"] = False
    for key in ("batch_sizes", "cohorts", "devices"):
        if getattr(args, key):
            MODES[args.mode][key] = [int(v) for v in getattr(args, key).split(",")]
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit("bench/cohorts.py: cohorts need the JAX backend (KERAS_BACKEND=jax)")
    import jax

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"devices {[str(d) for d in jax.devices()]}, Keras {keras.__version__}, JAX {jax.__version__}")
    print("trial-steps per second, steady (between evaluations, compiled) / whole (set-up included)")
    report = {"mode": args.mode, "settings": MODES[args.mode], "devices": [str(d) for d in jax.devices()]}
    if args.part in ("throughput", "all"):
        names = ["transformer", "mnist_cnn"] if args.workload == "both" else [args.workload]
        report["throughput"] = throughput(args.mode, names)
        for row in report["throughput"]:
            counts = [n for n, v in row["cohorts"].items() if isinstance(v["steady"], float)]
            if counts and row["trial"]["whole"] and row["plain_fit"]:
                best = max(counts, key=lambda n: row["cohorts"][n]["steady"])
                print(f"{row['workload']} bs {row['batch_size']}: best N={best}, "
                      f"{row['cohorts'][best]['steady'] / row['trial']['whole']:.1f}x a whole trial alone, "
                      f"{row['cohorts'][best]['steady'] / row['plain_fit']:.1f}x plain fit")
    if args.part in ("study", "all"):
        report["study"] = study(args.mode, args.study_runs or MODES[args.mode]["study_runs"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2, default=str)


if __name__ == "__main__":
    main()
