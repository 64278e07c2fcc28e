"""Runs under KERAS_BACKEND=jax: whole studies with cohorts, prints one JSON line.

Usage: python cohort_study_check.py CHECK OUTPUT_DIR
  same_numbers   one study trial by trial (parallel_trials 1), in a cohort of 4, and in a cohort of
                 4 with budget.stop_when_beaten: every trial's files and the summaries
  notices        the one-line notices: a searched key that changes the program, an auto study over
                 two batch sizes (the second starts from what the first settled on)
  sharded        two host devices, strategy data_parallel: cohorts shard their trials over both
                 (parallel_trials 2), or trials train one at a time over both (auto)

The report holds what the tests compare; every assertion lives in test_cohort_study.py.
"""

import copy
import io
import json
import os
import sys

sys.modules["tensorflow"] = None  # as on the GPU machines: JAX without TensorFlow

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/
from beaten_workload import CONFIG as BASE  # noqa: E402

CONFIG = {**BASE, "strategy": {"name": "auto"}}


def study(out, progress=None, **changes):
    import tfbsz

    cfg = copy.deepcopy(CONFIG)
    for path, value in changes.items():
        if "__" in path:
            section, key = path.split("__")
            cfg[section][key] = value
        else:
            cfg[path] = value
    summary = tfbsz.Study(cfg, output=out, progress=progress).run()
    return summary


def trials(out, batch_size=32):
    from tfbsz.records import results

    return [{"trial_id": t.trial_id, "outcome": t.outcome, "steps": t.steps, "parameters": t.parameters,
             "steps_to_target": t.extra.get("steps_to_target"), "cohort": t.extra.get("cohort"),
             "measurements": [{k: v for k, v in row.items() if k not in ("wall_time_s", "train/tokens_per_s", "train/mfu")}
                              for row in t.measurements]}
            for t in results.load_study(out).batch_sizes[batch_size].trials]


def same_numbers(out):
    report = {}
    for name, changes in {
        "alone": {"search__parallel_trials": 1},
        "cohort": {"search__parallel_trials": 4},
        "cohort_beaten": {"search__parallel_trials": 4, "budget__stop_when_beaten": True},
    }.items():
        summary = study(f"{out}/{name}", **changes)
        report[name] = {"summary": summary["batch_sizes"][0], "trials": trials(f"{out}/{name}")}
    return report


def notices(out):
    from tfbsz.study.progress import PlainProgress

    lines = {}
    shape = io.StringIO()
    study(f"{out}/shape", progress=PlainProgress(stream=shape), budget__max_steps=10,
          search__trials=2, search__space={"model.activation": {"values": ["relu", "tanh"]}},
          search__parallel_trials=2)
    lines["shape"] = shape.getvalue().splitlines()
    # auto over two batch sizes, trials that never reach the target (each trains its whole budget)
    auto = io.StringIO()
    summary = study(f"{out}/auto", progress=PlainProgress(stream=auto), search__trials=6, batch_sizes=[16, 32],
                    target__threshold=0.0, budget__max_steps=30)
    lines["auto"] = auto.getvalue().splitlines()
    lines["auto_trials"] = {bs: trials(f"{out}/auto", bs) for bs in (16, 32)}
    lines["auto_summary"] = summary["batch_sizes"]
    return lines


def sharded(out):
    from tfbsz.study.progress import PlainProgress

    report = {}
    for name, setting in (("cohort", 2), ("auto", "auto")):
        shown = io.StringIO()
        # 256 held-out examples: data parallelism's evaluation needs batches that divide over the devices
        study(f"{out}/{name}", progress=PlainProgress(stream=shown), budget__max_steps=20, search__trials=2,
              search__parallel_trials=setting, strategy__name="data_parallel", eval_examples=256)
        report[name] = {"lines": shown.getvalue().splitlines(), "trials": trials(f"{out}/{name}")}
    return report


if __name__ == "__main__":
    import keras

    check, out = sys.argv[1], sys.argv[2]
    result = {"same_numbers": same_numbers, "notices": notices, "sharded": sharded}[check](out)
    print(json.dumps({"backend": keras.backend.backend(), "result": result}, default=str))
