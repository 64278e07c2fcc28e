"""TensorBoard records of a study's trials: HParams entries and per-trial scalars.

Written under `<study>/tensorboard/` with TensorBoard's own writer (no TensorFlow needed), so
TensorBoard's HParams tab lists every trial (batch size, metaparameters, outcome, steps), and the
Scalars tab shows each trial's measurements against steps.
"""

import math
import pathlib

__all__ = ["log_study", "log_trial", "TRIAL_METRICS"]

TRIAL_METRICS = ("steps_to_target", "reached", "diverged", "steps", "best_value")


def log_study(tb_root, cfg):
    """Declares the study's HParams columns (batch size, searched metaparameters, trial metrics), once."""
    from tfbsz.records import hparams_logging

    names = ["batch_size", *cfg.search.space.keys()]
    written = hparams_logging.log_study_hparams_config(str(tb_root), names, list(TRIAL_METRICS))
    _drop_older_events(pathlib.Path(tb_root), [written])


def log_trial(tb_root, trial_dir, parameters, result):
    """Logs one finished trial (see the module docstring), replacing what it logged before."""
    from tfbsz.records import hparams_logging

    batch_size = int(trial_dir.parent.name)
    run = f"bs_{batch_size}/{trial_dir.name}"
    hparams = {"batch_size": batch_size, **parameters}
    metrics = {
        "steps_to_target": result.steps_to_target,
        "reached": float(result.outcome == "reached"),
        "diverged": float(result.outcome == "diverged"),
        "steps": float(result.steps),
    }
    if result.best_value is not None and math.isfinite(result.best_value):
        metrics["best_value"] = float(result.best_value)
    status = "INFEASIBLE" if result.outcome == "diverged" else "COMPLETE"
    written = [hparams_logging.log_trial_hparams(str(tb_root), run, hparams, metrics, status=status)]
    writer = getattr(hparams_logging, "log_trial_scalars", None)
    if writer is not None:
        written.append(writer(str(tb_root), run, result.measurements))
    _drop_older_events(pathlib.Path(tb_root) / run, written)


def _drop_older_events(folder, written):
    """Deletes the event files in `folder` other than `written`.

    A study logged again (a resumed study) or a trial logged again (one it finished just before
    being killed) replaces its events, so the dashboards show each once.
    """
    keep = {pathlib.Path(p).name for p in written if p is not None}
    for old in folder.glob("events.out.tfevents.*"):
        if old.name not in keep:
            old.unlink(missing_ok=True)
