"""Writers of synthetic study trees in the on-disk layout of docs/architecture.md, for tests.

Each trial's metric falls as threshold * (hit / step) ** 0.7, so it strictly beats the threshold
at the first evaluation after `hit`; `hit` is the true curve S(B) = s_min (1 + b_crit / B) times a
per-trial luck factor >= 1 (the best metaparameters are found only by some trials).
"""

import json
import os

import numpy as np

METRIC = "val/classification_error"
THRESHOLD = 0.05


def true_steps(batch_size, s_min, b_crit):
    return s_min * (1.0 + b_crit / batch_size)


def write_trial(study_dir, trial_id, steps, values, parameters, status="COMPLETE", metric=METRIC):
    trial_dir = os.path.join(study_dir, str(trial_id))
    os.makedirs(trial_dir, exist_ok=True)
    with open(os.path.join(trial_dir, "metadata.json"), "w") as f:
        json.dump({"parameters": parameters, "status": status, "steps": int(steps[-1]) if len(steps) else 0}, f)
    with open(os.path.join(trial_dir, "measurements.csv"), "w") as f:
        f.write(f"step,train/cross_entropy_error,{METRIC if metric == METRIC else metric}\n")
        for s, v in zip(steps, values):
            f.write(f"{int(s)},{v * 3:.6g},{v:.6g}\n")


def write_study(root, batch_size, dataset="synthetic", model="mlp", optimizer="momentum", study_extra=None):
    study_dir = os.path.join(root, dataset, model, optimizer, str(batch_size))
    os.makedirs(study_dir, exist_ok=True)
    study = {"batch_size": batch_size, "dataset": dataset, "model": model, "optimizer": optimizer,
             "early_stopping": False, "parameter_configs": {}, "train_steps": 0}
    study.update(study_extra or {})
    with open(os.path.join(study_dir, "study.json"), "w") as f:
        json.dump(study, f)
    return study_dir


def write_synthetic_tree(root, batch_sizes, s_min=2000.0, b_crit=512.0, trials=8, seed=0,
                         tfbsz_root=True, model="mlp", diverged_per_study=1, evals_to_target=40):
    """Writes a study tree drawn from S(B) = s_min (1 + b_crit / B); returns the true steps per B."""
    rng = np.random.default_rng(seed)
    if tfbsz_root:
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, "tfbsz_study.json"), "w") as f:
            json.dump({"tfbsz_version": "0.1.0", "config": {}, "dataset": "synthetic", "model": model,
                       "optimizer": "momentum",
                       "target": {"metric": METRIC, "threshold": THRESHOLD, "direction": "min"}}, f)
    truth = {}
    for b in batch_sizes:
        study_dir = write_study(root, b, model=model)
        s_true = true_steps(b, s_min, b_crit)
        truth[b] = s_true
        every = max(1, int(round(s_true / evals_to_target)))
        for t in range(trials):
            hit = s_true * np.exp(abs(rng.normal(0.0, 0.3)))
            steps = np.arange(every, int(hit * 1.5) + every, every)
            values = THRESHOLD * (hit / steps) ** 0.7
            lr = 0.05 * np.sqrt(b / batch_sizes[0]) * np.exp(rng.normal(0, 0.1))
            write_trial(study_dir, t, steps, values, {"learning_rate": float(lr), "momentum": 0.9})
        for t in range(diverged_per_study):
            write_trial(study_dir, trials + t, [every], [float("nan")],
                        {"learning_rate": 10.0, "momentum": 0.99}, status="INFEASIBLE")
    return truth
