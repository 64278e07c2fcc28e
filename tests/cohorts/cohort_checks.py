"""Runs under KERAS_BACKEND=jax: trains cohorts and the same trials alone, prints one JSON line.

Usage: python cohort_checks.py CHECK [ARG]
  exactness OPTIMIZER[,OPTIMIZER...]  cohorts of 4 vs run_trial per member, per optimizer
  workloads                           transformer LM, pruning and mixup cohorts vs run_trial
  compile_once                        trace counts over repeated cohorts and cohorts of one
  sharded                             a cohort sharded over the host devices vs one device
  split                               a cohort past the array-size limit, run in groups, vs whole

The report holds, per compared member, the measurements of both runs (tests compare them),
so every assertion lives in the test file.
"""

import json
import math
import os
import sys

sys.modules["tensorflow"] = None  # as on the GPU machines: JAX without TensorFlow

STEPS = 50
EVAL_EVERY = 10
BATCH = 32

# Per optimizer: a healthy learning rate, and whether it keeps momentum in a variable (one-cycle).
OPTIMIZERS = {
    "momentum": (0.1, True),
    "nesterov": (0.1, True),
    "lars": (3.0, True),
    "adam": (0.01, False),
    "adamw": (0.01, False),
    "lamb": (0.03, False),
}
DIVERGING_LR = 1e30

# Per optimizer: a per-trial setting searched alongside the learning rate, with a value per
# member (float32-exact values: a traced float32 value then equals the Python float alone).
SEARCHED = {
    "momentum": ("momentum", [0.875, 0.75, 0.875, 0.5]),
    "nesterov": ("momentum", [0.875, 0.75, 0.875, 0.5]),
    "lars": ("trust_coefficient", [2.0**-10, 2.0**-9, 2.0**-10, 2.0**-11]),
    "adam": ("beta_2", [0.9375, 0.984375, 0.9375, 0.96875]),
    "adamw": ("weight_decay", [2.0**-8, 2.0**-6, 2.0**-8, 0.0]),
    "lamb": ("weight_decay", [2.0**-8, 2.0**-6, 2.0**-8, 2.0**-10]),
}


def digits_cfg(optimizer_name, lr, **extra):
    from tfbsz.core.config import from_dict

    raw = {"data": {"name": "digits"}, "model": {"name": "mlp", "hidden_units": [32]},
           "optimizer": {"name": optimizer_name, "learning_rate": lr},
           "schedule": {"name": "linear_decay", "warmup_steps": 5},
           "target": {"metric": "val/classification_error", "threshold": 0.2},
           "budget": {"max_steps": STEPS}, "eval_every": EVAL_EVERY, "eval_examples": 256,
           "batch_sizes": [BATCH]}
    raw.update(extra)
    return from_dict(raw)


# Columns measured with a clock: they differ between any two runs.
TIMINGS = ("wall_time_s", "train/tokens_per_s", "train/mfu")


def plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def summary(result):
    return {
        "outcome": result.outcome,
        "steps_to_target": result.steps_to_target,
        "steps": result.steps,
        "best_value": plain(result.best_value),
        "measurements": [{k: plain(v) for k, v in row.items() if k not in TIMINGS}
                         for row in result.measurements],
    }


class Recorder:
    """A listener that keeps what it is told."""

    def __init__(self):
        self.rows, self.ended = {}, []

    def measurement(self, trial_id, row):
        self.rows.setdefault(trial_id, []).append(row["step"])

    def trial_end(self, trial_id, result):
        self.ended.append((trial_id, result.outcome))


def cohort_vs_alone(cfg, parameters, batch_size, dataset, compare, seeds=None):
    """Runs `parameters` as a cohort and members `compare` alone; returns both summaries."""
    from tfbsz.study.cohorts import CohortMember, run_cohort
    from tfbsz.study.trainer import run_trial

    seeds = seeds or list(range(len(parameters)))
    members = [CohortMember(p, seed=s, trial_id=f"t{i}") for i, (p, s) in enumerate(zip(parameters, seeds))]
    listener = Recorder()
    cohort = run_cohort(cfg, members, batch_size, dataset, listener=listener)
    out = {"cohort": [summary(r) for r in cohort], "alone": {}, "listener_rows": listener.rows,
           "listener_ended": listener.ended, "extra": cohort[0].extra}
    for i in compare:
        out["alone"][str(i)] = summary(run_trial(cfg, parameters[i], batch_size, seeds[i], dataset))
    return out


def exactness(names):
    from tfbsz import data

    dataset = data.load({"name": "digits"}, seed=0)
    report = {}
    for name in names.split(","):
        lr, variable_momentum = OPTIMIZERS[name]
        cfg = digits_cfg(name, lr, optimizer={"name": name, "learning_rate": lr, "weight_decay": 0.001})
        second = {"schedule.name": "one_cycle", "schedule.warmup_steps": 0} if variable_momentum else {
            "schedule.name": "cosine", "schedule.warmup_steps": 8}
        parameters = [
            {"optimizer.learning_rate": lr * 0.2},  # warmup + linear decay; slow: trains all 50 updates
            {"optimizer.learning_rate": lr * 1.5, "regularization.label_smoothing": 0.1, **second},
            {"optimizer.learning_rate": DIVERGING_LR},
            {"optimizer.learning_rate": lr * 0.5, "regularization.label_smoothing": 0.01},
        ]
        setting, values = SEARCHED[name]
        for p, value in zip(parameters, values):
            p[f"optimizer.{setting}"] = value
        result = cohort_vs_alone(cfg, parameters, BATCH, dataset, compare=(0, 1, 2))
        # The same cohort with the diverging member replaced by a healthy one: the others'
        # numbers must not change at all.
        healthy = parameters[:2] + [{"optimizer.learning_rate": lr * 0.7}] + parameters[3:]
        from tfbsz.study.cohorts import CohortMember, run_cohort

        members = [CohortMember(p, seed=i, trial_id=f"h{i}") for i, p in enumerate(healthy)]
        result["healthy_cohort"] = [summary(r) for r in run_cohort(cfg, members, BATCH, dataset)]
        report[name] = result
    return report


def workloads():
    from tfbsz import data
    from tfbsz.core.config import from_dict

    report = {}
    cfg = from_dict({
        "data": {"name": "stdlib_text", "seq_len": 16, "max_bytes": 100000},
        "model": {"name": "transformer", "num_layers": 1, "d_model": 32, "num_heads": 2, "mlp_dim": 64,
                  "dropout": 0.1},  # each member's own dropout stream (seed-generator state)
        "optimizer": {"name": "adam", "learning_rate": 0.003},
        "schedule": {"name": "constant", "warmup_steps": 4},
        "target": {"metric": "val/cross_entropy_error", "threshold": 4.0},
        "budget": {"max_steps": 20}, "eval_every": 10, "eval_examples": 128, "batch_sizes": [16]})
    text = data.load(cfg["data"], seed=0)
    parameters = [{"optimizer.learning_rate": 0.003}, {"optimizer.learning_rate": 0.01,
                                                        "regularization.label_smoothing": 0.1}]
    report["transformer"] = cohort_vs_alone(cfg, parameters, 16, text, compare=(0, 1))

    digits = data.load({"name": "digits"}, seed=0)
    # the whole held-out split (360 examples): evaluate's full batch of 256, then a remainder of 104
    cfg = digits_cfg("momentum", 0.1, sparsity={"method": "random", "level": 0.5}, eval_examples=None)
    parameters = [{"optimizer.learning_rate": 0.1}, {"optimizer.learning_rate": 0.2, "sparsity.level": 0.8},
                  {"optimizer.learning_rate": 0.05}]
    report["pruned"] = cohort_vs_alone(cfg, parameters, BATCH, digits, compare=(0, 1))

    cfg = digits_cfg("momentum", 0.1, regularization={"mixup_alpha": 0.4})
    parameters = [{"optimizer.learning_rate": 0.1}, {"optimizer.learning_rate": 0.2,
                                                      "regularization.mixup_alpha": 1.0,
                                                      "regularization.label_smoothing": 0.1}]
    report["mixup"] = cohort_vs_alone(cfg, parameters, BATCH, digits, compare=(0, 1))

    # eval_every: auto (evaluations at uneven steps, see tfbsz.study.eval_schedule)
    cfg = digits_cfg("adam", 0.003, eval_every="auto")
    parameters = [{"optimizer.learning_rate": 0.003}, {"optimizer.learning_rate": 0.01}]
    report["eval_every_auto"] = cohort_vs_alone(cfg, parameters, BATCH, digits, compare=(0, 1))

    # mixed_float16: Keras's LossScaleOptimizer around the members' optimizer, float16 compute
    cfg = digits_cfg("nesterov", 0.1, precision="mixed_float16")
    parameters = [{"optimizer.learning_rate": 0.1}, {"optimizer.learning_rate": 0.05}]
    report["mixed_float16"] = cohort_vs_alone(cfg, parameters, BATCH, digits, compare=(0, 1))
    return report


def compile_once():
    from tfbsz import data
    from tfbsz.study.cohorts import CohortMember, cohort_key, programs, run_cohort

    dataset = data.load({"name": "digits"}, seed=0)
    cfg = digits_cfg("momentum", 0.1)
    counts = {"start": programs.trace_counts()}

    def cohort(lrs, seed0):
        members = [CohortMember({"optimizer.learning_rate": lr, "schedule.warmup_steps": 2 + i},
                                seed=seed0 + i, trial_id=str(i)) for i, lr in enumerate(lrs)]
        return run_cohort(cfg, members, BATCH, dataset)

    cohort([0.1, 0.2, 0.3, 0.4], 0)
    counts["first_cohort"] = programs.trace_counts()
    cohort([0.05, 0.15, 0.25, 0.35], 10)
    cohort([0.06, 0.16, 0.26, 0.36], 20)
    counts["three_cohorts"] = programs.trace_counts()
    cohort([0.1], 30)
    counts["one_at_a_time_first"] = programs.trace_counts()
    for seed in (31, 32, 33):
        cohort([0.1 + seed / 1000], seed)
    counts["one_at_a_time_four"] = programs.trace_counts()
    counts["keys_equal"] = cohort_key(cfg, {"optimizer.learning_rate": 0.1}) == cohort_key(
        cfg, {"optimizer.learning_rate": 0.5, "schedule.name": "cosine", "optimizer.momentum": 0.8})

    # budget.stop_when_beaten through the listener: a best trial reached at 20 updates, so a member
    # not there by 20 is asked about its next evaluation (30) and ends as beaten.
    class BeatenAfter20(Recorder):
        def __init__(self):
            super().__init__()
            self.asked = []

        def is_beaten(self, trial_id, next_step):
            self.asked.append((trial_id, next_step))
            return next_step > 20

    listener = BeatenAfter20()
    members = [CohortMember({"optimizer.learning_rate": lr}, seed=40 + i, trial_id=str(i))
               for i, lr in enumerate([0.001, 0.002, 0.003, 0.004])]
    beaten = run_cohort(cfg, members, BATCH, dataset, listener=listener)
    counts["beaten"] = {"outcomes": [r.outcome for r in beaten], "steps": [r.steps for r in beaten],
                        "asked": listener.asked, "ended": listener.ended,
                        "traces": programs.trace_counts()}

    # another batch size: its own training program, the evaluation program of batch 32 (shared),
    # and the same numbers as with an evaluation program of its own
    def at_half_batch():
        members = [CohortMember({"optimizer.learning_rate": lr}, seed=50 + i, trial_id=str(i))
                   for i, lr in enumerate([0.05, 0.1, 0.2, 0.4])]
        return [summary(r) for r in run_cohort(cfg, members, BATCH // 2, dataset)]

    shared = at_half_batch()
    counts["other_batch_size"] = programs.trace_counts()
    programs.clear_programs()
    alone = at_half_batch()
    counts["after_clear"] = programs.trace_counts()
    counts["shared_eval_same_numbers"] = shared == alone and len(shared[0]["measurements"]) > 1
    return counts


def sharded():
    import jax

    from tfbsz import data
    from tfbsz.study.cohorts import CohortMember, run_cohort

    dataset = data.load({"name": "digits"}, seed=0)
    cfg = digits_cfg("lamb", 0.01)
    parameters = [{"optimizer.learning_rate": lr} for lr in (0.01, 0.02, DIVERGING_LR)]
    members = [CohortMember(p, seed=i, trial_id=str(i)) for i, p in enumerate(parameters)]
    one = run_cohort(cfg, members, BATCH, dataset)
    split = run_cohort(cfg, members, BATCH, dataset, devices="all")
    return {"devices": len(jax.local_devices()), "one": [summary(r) for r in one],
            "sharded": [summary(r) for r in split], "sharded_extra": split[0].extra["cohort"]}


def split():
    """Five members under a limit that lets two share a device: groups of 2, 2 and 1, each member's
    numbers as in the whole cohort; the limit from the traced step is exact at the edge."""
    from tfbsz import data
    from tfbsz.study.cohorts import CohortMember, engine, programs, run_cohort

    dataset = data.load({"name": "digits"}, seed=0)
    cfg = digits_cfg("momentum", 0.1)
    parameters = [{"optimizer.learning_rate": lr} for lr in (0.02, 0.05, DIVERGING_LR, 0.1, 0.2)]
    members = [CohortMember(p, seed=i, trial_id=str(i)) for i, p in enumerate(parameters)]
    whole = run_cohort(cfg, members, BATCH, dataset)
    program = next(iter(programs._PROGRAMS.values()))
    largest = program.largest_member_array

    class Notes(Recorder):
        def __init__(self):
            super().__init__()
            self.notes = []

        def note(self, line):
            self.notes.append(line)

    engine.MAX_ARRAY_ELEMENTS = 2 * largest  # exactly two members' arrays fit
    listener = Notes()
    traces = programs.trace_counts()
    parts = run_cohort(cfg, members, BATCH, dataset, listener=listener)
    traces = {k: programs.trace_counts()[k] - traces[k] for k in traces}  # groups of 2, 2 and 1 (padded to 2)
    again = Notes()
    run_cohort(cfg, members[:3], BATCH, dataset, listener=again)  # noted once per program
    engine.MAX_ARRAY_ELEMENTS = 2 * largest - 1  # now only one fits
    singles = run_cohort(cfg, members[:2], BATCH, dataset)
    return {"largest": largest, "whole": [summary(r) for r in whole], "parts": [summary(r) for r in parts],
            "sizes": [r.extra["cohort"]["size"] for r in parts], "members": [r.extra["cohort"]["members"] for r in parts],
            "traces": traces, "notes": listener.notes, "notes_again": again.notes,
            "single_sizes": [r.extra["cohort"]["size"] for r in singles],
            "listener_ended": sorted(t for t, _ in listener.ended)}


def main():
    import keras

    check = sys.argv[1]
    arg = sys.argv[2] if len(sys.argv) > 2 else None
    handlers = {"exactness": lambda: exactness(arg), "workloads": workloads,
                "compile_once": compile_once, "sharded": sharded, "split": split}
    report = {"backend": keras.backend.backend(), "check": check, "result": handlers[check]()}
    print(json.dumps(report))


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "jax")
    main()
