"""Which trials can share one compiled cohort program: `can_run_as_cohort` and `cohort_key`.

A cohort program is compiled for everything that changes a shape or the traced computation
(model, data, optimizer class and its non-traced options, precision, sparsity structure, mixup
on/off, budget, evaluation cadence). Everything else varies per member at run time without a
retrace:

* the learning rate of every update, hence the base learning rate and *every* schedule option,
  including the schedule's name (each member's own `UpdateSchedule` is evaluated on the host and
  its rates are fed in; see `feeds.py`);
* the momentum of every update for optimizers that hold it in a variable (`momentum`,
  `nesterov`, `lars`), hence `optimizer.momentum` and one-cycle's momentum cycle;
* `regularization.label_smoothing` (traced in the loss) and `regularization.mixup_alpha`
  (drawn per member on the host; only mixup on/off changes the program);
* pruning masks (`sparsity.method`, `sparsity.level` change the masks, not the program);
* the optimizer settings that `tfbsz.optimizers.per_trial` can trace (betas, epsilon, weight
  decay, LARS's trust coefficient; see `optimizer_values`).

This module imports no JAX, so the study can ask it on any backend.

Example:

>>> from tfbsz.core.config import from_dict
>>> cfg = from_dict({"data": {"name": "digits"}, "model": {"name": "mlp"},
...     "optimizer": {"name": "momentum", "learning_rate": 0.1},
...     "target": {"metric": "val/classification_error", "threshold": 0.1},
...     "budget": {"max_steps": 100}, "batch_sizes": [64]})
>>> a = cohort_key(cfg, {"optimizer.learning_rate": 0.1, "schedule.warmup_steps": 5})
>>> b = cohort_key(cfg, {"optimizer.learning_rate": 0.3, "regularization.label_smoothing": 0.1})
>>> a == b, a == cohort_key(cfg, {"model.hidden_units": [32]})
(True, False)
>>> cfg.max_device_batch = 16
>>> can_run_as_cohort(cfg, None, backend="jax")
(False, 'gradient accumulation (max_device_batch: 16) runs one trial at a time')
"""

import json

__all__ = ["can_run_as_cohort", "cohort_key", "VARIABLE_MOMENTUM_OPTIMIZERS"]

# Optimizer names whose momentum lives in an optimizer variable (tfbsz's MomentumSGD and LARS):
# their momentum is set per member and per update through that variable's slot.
VARIABLE_MOMENTUM_OPTIMIZERS = ("momentum", "nesterov", "lars")

# Config sections that shape the compiled program (or the run's cadence and budget), compared
# whole; `optimizer`, `regularization` and `sparsity` are reduced to their program-relevant part.
_PROGRAM_SECTIONS = ("data", "model", "precision", "init", "budget", "eval_every",
                     "eval_examples", "target", "max_device_batch", "noise_scale")


def cohort_key(cfg, parameters):
    """A hashable key; trials with equal keys (at one batch size) can share one program.

    Args:
        cfg: the study's checked config.
        parameters: the trial's `{config path: value}` metaparameters.

    Returns:
        A string (canonical JSON of the program-relevant configuration).
    """
    from tfbsz.study.cohorts import optimizer_values
    from tfbsz.study.trainer import apply_parameters

    trial_cfg = apply_parameters(cfg, parameters or {})
    program = {section: trial_cfg.get(section) for section in _PROGRAM_SECTIONS}
    # Per-trial optimizer settings leave the key; those that are static for this optimizer
    # (e.g. momentum 0, which keeps no velocity, or weight decay 0) stay in it.
    traced = optimizer_values.traced_option_names(trial_cfg.optimizer)
    program["optimizer"] = {k: v for k, v in trial_cfg.optimizer.items() if k not in traced}
    program["optimizer_per_trial"] = sorted(traced)  # which ones the built optimizer traces
    program["mixup"] = float(trial_cfg.regularization.mixup_alpha) > 0
    sparsity = trial_cfg.sparsity
    pruned = sparsity.method != "none" and float(sparsity.level) > 0
    program["sparsity"] = {"pruned": pruned, "include": sparsity.include if pruned else None}
    return json.dumps(program, sort_keys=True, default=repr)


def can_run_as_cohort(cfg, strategy, backend=None):
    """Whether trials of `cfg` under `strategy` can be trained as a cohort, and why not.

    Args:
        cfg: the study's checked config (a trial's parameters do not change the answer unless
            they set one of the keys below).
        strategy: a `tfbsz.strategies` strategy, or None for the default device.
        backend: the Keras backend name; defaults to the current one.

    Returns:
        `(True, "")` or `(False, reason)` with a one-line reason.
    """
    if backend is None:
        import keras

        backend = keras.backend.backend()
    if backend != "jax":
        return False, (f"the {backend} backend trains one trial at a time "
                       "(cohorts vectorise trials with jax.vmap)")
    if cfg.max_device_batch:
        return False, (f"gradient accumulation (max_device_batch: {cfg.max_device_batch}) "
                       "runs one trial at a time")
    if cfg.noise_scale.enabled:
        return False, "the gradient-noise-scale callback (noise_scale.enabled) runs one trial at a time"
    if strategy is not None and getattr(strategy, "name", None) != "one_device":
        return False, (f"strategy {getattr(strategy, 'name', strategy)!r} splits each batch over "
                       "replicas; cohorts run on one device or shard the trial axis themselves")
    optimizer = cfg.optimizer.name
    if cfg.schedule.name == "one_cycle" and optimizer not in VARIABLE_MOMENTUM_OPTIMIZERS:
        return False, (f"one-cycle momentum needs an optimizer with a momentum variable "
                       f"({', '.join(VARIABLE_MOMENTUM_OPTIMIZERS)}), got {optimizer!r}")
    return True, ""
