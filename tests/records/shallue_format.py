"""Shallue et al.'s released data format, both ways, written from its documented description
(the README of google-research/batch_science: "Description of the data"), for the compatibility
tests. Nothing here is tfbsz code, so the tests check tfbsz against the format, not itself.

* `load_workload(workload_dir, statuses)`: what a user of their data does. Every subfolder of a
  workload (`<dataset>/<model>/<optimizer>`) is a batch size and every subfolder of a batch size
  is a trial; both are integers and are sorted as such (`key=int`). `study.json` gives the batch
  size, each trial's `metadata.json` its `trial_id` and `status` (trials whose status is not in
  `statuses` are skipped: COMPLETE only by default), and `measurements.csv` is a table indexed by
  `step`. Returns `{batch_size: (study.json dict, DataFrame indexed by (trial_id, step))}`.
* `steps_to_result(table, metric, threshold, maximize)`: the data's definition: rows ordered by
  (step, trial id), the first whose metric strictly beats the threshold; `(step, trial_id)` or
  None.
* `write_released_workload(root)`: a small tree in their format (bare parameter names,
  LOG_SCALE / REVERSE_LOG_SCALE / DISCRETE parameter configs, a step-0 row, train/val/test columns,
  INCOMPLETE and INFEASIBLE trials, uneven evaluation steps, `train_steps: 0`), written with
  `json` and plain text, not with tfbsz's writers.
"""

import json
import math
import os

import pandas as pd

COMPLETE = ("COMPLETE",)
METRIC = "val/classification_error"
THRESHOLD = 0.05
WORKLOAD = ("mnist", "simple_cnn_base", "nesterov_momentum")
BATCH_SIZES = (16, 64, 256, 1024)


def _integer_subfolders(folder):
    names = [n for n in os.listdir(folder) if os.path.isdir(os.path.join(folder, n))]
    return sorted(names, key=int)  # raises ValueError on any other name, as their loader does


def load_workload(workload_dir, statuses=COMPLETE):
    tables = {}
    for batch_folder in _integer_subfolders(workload_dir):
        study_dir = os.path.join(workload_dir, batch_folder)
        with open(os.path.join(study_dir, "study.json")) as f:
            study = json.load(f)
        ids, frames = [], []
        for trial_folder in _integer_subfolders(study_dir):
            trial_dir = os.path.join(study_dir, trial_folder)
            with open(os.path.join(trial_dir, "metadata.json")) as f:
                metadata = json.load(f)
            if metadata["status"] not in statuses:
                continue
            ids.append(metadata["trial_id"])
            frames.append(pd.read_csv(os.path.join(trial_dir, "measurements.csv"), index_col="step"))
        if not ids:
            raise ValueError(f"no trial with status in {statuses} in {study_dir}")
        tables[int(study["batch_size"])] = (study, pd.concat(frames, keys=ids, names=["trial_id"]))
    return tables


def steps_to_result(table, metric, threshold, maximize=False):
    ordered = table.sort_index(level=["step", "trial_id"])
    values = ordered[metric]
    good = ordered[values > threshold] if maximize else ordered[values < threshold]
    if good.empty:
        return None
    trial_id, step = good.index[0]
    return int(step), int(trial_id)


# --------------------------------------------------------------------------- a released-data tree

# Per batch size: (trial id, status, learning rate, momentum, step of the first row under the
# threshold or None, last step). An INCOMPLETE and an INFEASIBLE trial get under the threshold
# before every COMPLETE one, so a reader that ignores statuses gets other steps to result.
TRIALS = {
    16: [(1, "COMPLETE", 0.02, 0.9, 6000, 9000), (2, "COMPLETE", 0.05, 0.99, 4500, 6000),
         (3, "INCOMPLETE", 0.1, 0.9, 3000, 3000), (5, "INFEASIBLE", 3.0, 0.999, 2000, 3000)],
    64: [(1, "COMPLETE", 0.08, 0.9, 2000, 4500), (4, "COMPLETE", 0.2, 0.95, 3000, 4500),
         (7, "INFEASIBLE", 9.0, 0.999, 1000, 2000)],
    256: [(2, "COMPLETE", 0.3, 0.9, 1000, 3000), (3, "COMPLETE", 0.4, 0.9, 1000, 2000),
          (6, "INCOMPLETE", 0.5, 0.9, None, 1000)],
    1024: [(1, "COMPLETE", 1.0, 0.9, 1000, 2000), (9, "COMPLETE", 2.0, 0.98, None, 3000)],
}
STEPS = (0, 1000, 2000, 3000, 4500, 6000, 7500, 9000)  # uneven, with a step-0 row


def expected_steps_to_result(batch_size):
    """(step, trial id) of the first COMPLETE row under the threshold, by (step, trial id)."""
    hits = [(hit, tid) for tid, status, _, _, hit, _ in TRIALS[batch_size] if status == "COMPLETE" and hit]
    return min(hits) if hits else None


def _error(step, hit, diverges, last):
    if diverges and step == last:
        return float("nan")
    if hit is None:
        return 0.9 * math.exp(-step / 4000.0) + 0.06
    return THRESHOLD * (hit + 500.0) / (step + 500.0) * (0.999 if step >= hit else 1.0001) + (
        0.2 if step < hit else 0.0) * (hit - step) / (hit + 1.0)


def write_released_workload(root):
    """Writes `root/mnist/simple_cnn_base/nesterov_momentum/<bs>/...`; returns the workload folder."""
    workload_dir = os.path.join(root, *WORKLOAD)
    for index, (batch_size, trials) in enumerate(sorted(TRIALS.items())):
        study_dir = os.path.join(workload_dir, str(batch_size))
        os.makedirs(study_dir)
        with open(os.path.join(study_dir, "study.json"), "w") as f:
            json.dump({
                "batch_size": batch_size, "dataset": WORKLOAD[0], "early_stopping": index % 2 == 0,
                "model": WORKLOAD[1], "optimizer": WORKLOAD[2],
                "parameter_configs": {
                    "learning_rate": {"max_value": 10.0, "min_value": 0.0001, "scale": "LOG_SCALE", "type": "DOUBLE"},
                    "momentum": {"max_value": 0.9999, "min_value": 0.9, "scale": "REVERSE_LOG_SCALE",
                                 "type": "DOUBLE"},
                    "label_smoothing": {"feasible_points": [0.0, 0.01, 0.1], "type": "DISCRETE"},
                    "learning_rate_decay_steps": {"max_value": 9000, "min_value": 3000, "scale": "",
                                                  "type": "INTEGER"},
                },
                "train_steps": 0 if batch_size == 16 else 9000,
            }, f, indent=2)
        for trial_id, status, lr, momentum, hit, last in trials:
            trial_dir = os.path.join(study_dir, str(trial_id))
            os.makedirs(trial_dir)
            with open(os.path.join(trial_dir, "metadata.json"), "w") as f:
                json.dump({"_internal_study_name": f"cnn-bs{batch_size}", "_internal_trial_id": 100 + trial_id,
                           "parameters": {"learning_rate": lr, "momentum": momentum, "label_smoothing": 0.01,
                                          "learning_rate_decay_steps": 5000},
                           "status": status, "steps": last, "trial_id": trial_id}, f, indent=2)
            lines = ["step,train/cross_entropy_error,train/classification_error,val/cross_entropy_error,"
                     "val/classification_error,test/cross_entropy_error,test/classification_error"]
            for step in STEPS:
                if step > last:
                    break
                error = _error(step, hit, status == "INFEASIBLE", last)
                cells = [2.1 * error, 0.9 * error, 2.3 * error, error, 2.4 * error, 1.05 * error]
                lines.append(",".join([str(step)] + ["nan" if c != c else f"{c:.6f}" for c in cells]))
            with open(os.path.join(trial_dir, "measurements.csv"), "w") as f:
                f.write("\n".join(lines) + "\n")
    return workload_dir
