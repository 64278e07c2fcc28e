"""Run one trial: build the workload at one batch size with given metaparameters, train it
until it reaches the target or spends its budget, and return what happened.

This is the unit of work that the tuner repeats. It is backend-agnostic: the same code runs on
the TensorFlow and the JAX backend, under any `tfbsz.strategies` strategy.

Example:

>>> from tfbsz.core.config import from_dict
>>> from tfbsz import data, trainer
>>> cfg = from_dict({"data": {"name": "digits"}, "model": {"name": "mlp"},
...     "optimizer": {"name": "momentum", "learning_rate": 0.1, "momentum": 0.9},
...     "target": {"metric": "val/classification_error", "threshold": 0.2},
...     "budget": {"max_steps": 300}, "eval_every": 20, "batch_sizes": [64]})
>>> dataset = data.load(cfg.data, seed=0)
>>> result = trainer.run_trial(cfg, {}, batch_size=64, seed=0, dataset=dataset)
>>> result.outcome
'reached'
"""

import contextlib
import functools
import math
import pathlib
import re
import time
from dataclasses import dataclass, field

import keras
import numpy as np

from tfbsz import models, optimizers
from tfbsz.core.config import as_config, set_path, steps_budget
from tfbsz.core.errors import ConfigError
from tfbsz.models.efficiency import measurement_throughput
from tfbsz.study import callbacks as callbacks_lib, eval_schedule
from tfbsz.training import regularizers, schedules

__all__ = [
    "StopWhenBeaten",
    "TrialPlan",
    "TrialResult",
    "apply_parameters",
    "build_compiled_model",
    "plan_trial",
    "run_in_turn",
    "run_trial",
    "train_input",
]


@dataclass
class TrialResult:
    """What one trial did."""

    outcome: str  # "reached" | "missed" | "diverged" | "beaten"
    steps_to_target: int | None
    steps: int  # optimizer updates trained
    max_steps: int
    measurements: list
    best_value: float | None
    wall_time_s: float
    extra: dict = field(default_factory=dict)


@dataclass
class TrialPlan:
    """How a trial at one batch size is laid out on the hardware."""

    batch_size: int
    max_steps: int
    micro_batch: int
    accumulation_steps: int
    num_replicas: int


def apply_parameters(cfg, parameters):
    """A copy of `cfg` (a `Config`, also from a plain dict) with each `path: value` of `parameters`
    set (paths as in `search.space`)."""
    out = as_config(cfg)
    for path, value in parameters.items():
        if path == "batch_size":
            continue
        set_path(out, path, value)
    return out


def plan_trial(cfg, batch_size, num_train_examples, num_replicas=1, strategy_name=None):
    """The budget in updates and the accumulation plan of a trial at `batch_size`."""
    max_steps = steps_budget(cfg, batch_size, num_train_examples)
    micro, accumulation = batch_size, 1
    if cfg.max_device_batch:
        from tfbsz.training.accumulation import check_strategy_supports, plan_accumulation

        micro, accumulation = plan_accumulation(batch_size, num_replicas, cfg.max_device_batch)
        if strategy_name is not None:
            check_strategy_supports(strategy_name, accumulation)
    elif batch_size % num_replicas:
        raise ConfigError(
            f"batch_sizes: global batch size {batch_size} does not divide evenly over "
            f"{num_replicas} replicas; use a multiple of {num_replicas}"
        )
    return TrialPlan(batch_size, max_steps, micro, accumulation, num_replicas)


@contextlib.contextmanager
def dtype_policy(name):
    """Sets Keras's global dtype policy for the duration of the block."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _loss_and_metrics(cfg, soft_targets):
    smoothing = float(cfg.regularization.label_smoothing)
    if soft_targets:
        loss = regularizers.soft_target_cross_entropy(label_smoothing=smoothing)
        metrics = [
            keras.metrics.CategoricalCrossentropy(name="cross_entropy", from_logits=True),
            keras.metrics.CategoricalAccuracy(name="accuracy"),
        ]
    else:
        if smoothing > 0:
            loss = regularizers.smoothed_cross_entropy(smoothing)
        else:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metrics = [
            keras.metrics.SparseCategoricalCrossentropy(name="cross_entropy", from_logits=True),
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        ]
    return loss, metrics


def _warm_start(model, init_cfg):
    source = init_cfg["from"]  # `[...]`: `from` is a Python keyword
    if source:
        try:
            saved = keras.saving.load_model(source, compile=False)
        except (OSError, ValueError) as e:
            raise ConfigError(f"init.from: cannot load a model from {source!r}: {' '.join(str(e).split())}") from None
        saved_vars = {v.path: v for v in saved.weights}
        loaded = 0
        for variable in model.weights:
            match = saved_vars.get(variable.path)
            if match is not None and tuple(match.shape) == tuple(variable.shape):
                variable.assign(match.value)
                loaded += 1
        if loaded == 0:
            raise ConfigError(f"init.from: no variable of {source!r} matches this model's variables by path and shape")
    patterns = [re.compile(p) for p in init_cfg.freeze]
    if patterns:
        for layer in model.layers:
            # Keras 3 sets `layer.path` only for layers that own variables (None for an
            # InputLayer, pooling, activations): fall back to the layer's name.
            where = getattr(layer, "path", None) or layer.name
            if any(p.search(where) for p in patterns):
                layer.trainable = False


def build_compiled_model(cfg, plan, dataset, soft_targets=False):
    """Builds the model, optimizer and loss of `cfg` for `plan`, and compiles the model.

    Call inside the strategy's scope and the dtype policy.
    """
    model = models.build(cfg.model, dataset)
    _warm_start(model, cfg.init)
    kwargs = dict(cfg.optimizer)  # the optimizer's keyword arguments, once name and rate are popped
    name = kwargs.pop("name")
    base_lr = float(kwargs.pop("learning_rate"))
    counts_updates_itself = optimizers.schedule_counts_updates(name)
    schedule = schedules.build(
        cfg.schedule,
        base_lr,
        plan.max_steps,
        accumulation_steps=1 if counts_updates_itself else plan.accumulation_steps,
    )
    if plan.accumulation_steps > 1:
        kwargs["gradient_accumulation_steps"] = plan.accumulation_steps
    optimizer = optimizers.build(name, schedule, **kwargs)
    loss, metrics = _loss_and_metrics(cfg, soft_targets)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model


def _train_stream(dataset, plan, seed, cfg):
    alpha = float(cfg.regularization.mixup_alpha)
    batches = dataset.train_batches(plan.micro_batch, seed)
    if alpha <= 0:
        yield from batches
        return
    yield from regularizers.mixup_batches(batches, alpha, dataset.num_classes, seed=seed)


def train_input(dataset, plan, seed, cfg):
    """The training batches for `fit`: a pure `tf.data` plan on TensorFlow, a NumPy stream elsewhere.

    Both give the same batches (and the same mixup draws). On TensorFlow a Python generator would
    go through `tf.data.Dataset.from_generator`, whose prefetching thread calls back into Python
    and crashed when a trial stopped early; the planned pipeline avoids it (see
    `tfbsz.data.tf_pipeline.planned_tf_dataset`). Plans too large to hold as indices fall back to
    the stream.
    """
    micro_steps = plan.max_steps * plan.accumulation_steps
    if keras.backend.backend() == "tensorflow":
        from tfbsz.data import tf_pipeline

        if micro_steps * plan.micro_batch <= tf_pipeline.MAX_PLANNED_INDICES:
            return tf_pipeline.planned_tf_dataset(
                dataset, plan.micro_batch, seed, micro_steps,
                mixup_alpha=float(cfg.regularization.mixup_alpha), mixup_seed=seed,
            )
    return _train_stream(dataset, plan, seed, cfg)


def run_trial(cfg, parameters, batch_size, seed, dataset, strategy=None, on_measurement=None, extra_callbacks=(),
              save_model_path=None, is_beaten=None):
    """Trains one trial and returns a `TrialResult`.

    Args:
        cfg: a checked study config (`tfbsz.core.config.from_dict`).
        parameters: metaparameters to set, as `{config path: value}`.
        batch_size: the global batch size (optimizer updates see this many examples).
        seed: the trial's seed (initialisation and data order).
        dataset: a `tfbsz.data.Dataset`.
        strategy: a `tfbsz.strategies` strategy; None means the default device.
        on_measurement: optional callable receiving each measurement as it is made.
        extra_callbacks: more Keras callbacks for `fit`.
        save_model_path: if given, the trained model is saved there (`.keras`).
        is_beaten: optional callable `(next_step) -> bool`, asked after every evaluation that did
            not reach the target: True ends the trial as `beaten`, because reaching the target at
            `next_step` (its next evaluation) could no longer beat the best trial so far.
    """
    cfg = apply_parameters(cfg, parameters)
    replicas = strategy.num_replicas if strategy is not None else 1
    plan = plan_trial(cfg, batch_size, len(dataset.x_train), replicas,
                      strategy.name if strategy is not None else None)
    keras.utils.set_random_seed(int(seed))
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    # Model, optimizer and fit in one scope: JAX's data parallelism also splits batches inside fit.
    with dtype_policy(cfg.precision), scope:
        model, extra = _build_trial_model(cfg, plan, dataset, seed)
        stt = _steps_to_target(cfg, plan, dataset, on_measurement)
        callbacks = [stt, *extra_callbacks, *_training_callbacks(cfg, plan, dataset, model, stt, seed, is_beaten)]
        started = time.perf_counter()
        _fit(model, train_input(dataset, plan, seed, cfg), plan, callbacks, stt)
        wall = time.perf_counter() - started
    result = _trial_result(stt, plan, wall, extra)
    if save_model_path is not None:
        pathlib.Path(save_model_path).parent.mkdir(parents=True, exist_ok=True)
        model.save(str(save_model_path))
        result.extra["model"] = str(save_model_path)
    del model
    keras.backend.clear_session(free_memory=True)
    return result


def _build_trial_model(cfg, plan, dataset, seed):
    """The compiled (and, with `sparsity`, pruned) model, and the facts a trial records about it."""
    extra = {
        "seed": int(seed),
        "max_steps": plan.max_steps,
        "accumulation_steps": plan.accumulation_steps,
        "micro_batch_size": plan.micro_batch,
        "replicas": plan.num_replicas,
        "precision": cfg.precision,
    }
    model = build_compiled_model(cfg, plan, dataset, soft_targets=_soft_targets(cfg))
    if cfg.sparsity.method != "none" and cfg.sparsity.level > 0:
        from tfbsz.training import pruning

        extra["sparsity"] = pruning.apply_pruning(
            model,
            cfg.sparsity,
            batches=dataset.train_batches(plan.micro_batch, seed + 1),
            loss_fn=model.loss,
            seed=seed,
        )
    return model, extra


def _soft_targets(cfg):
    """Whether labels are one-hot rows (mixup mixes them) rather than class ids."""
    return float(cfg.regularization.mixup_alpha) > 0


def _steps_to_target(cfg, plan, dataset, on_measurement):
    x_eval, y_eval = dataset.eval_arrays(cfg.eval_examples)
    if _soft_targets(cfg):
        y_eval = np.eye(dataset.num_classes, dtype="float32")[y_eval]
    return callbacks_lib.StepsToTarget(
        (x_eval, y_eval),
        cfg.target.metric,
        cfg.target.threshold,
        direction=cfg.target.direction,
        eval_every=cfg.eval_every,
        max_steps=plan.max_steps,
        batch_size=plan.batch_size,
        accumulation_steps=plan.accumulation_steps,
        eval_batch_size=max(256, plan.micro_batch),
        on_measurement=on_measurement,
        throughput=measurement_throughput(cfg.model, dataset, cfg.precision, devices=plan.num_replicas),
    )


def _training_callbacks(cfg, plan, dataset, model, stt, seed, is_beaten):
    """The callbacks a trial's config asks for besides `StepsToTarget`."""
    callbacks = []
    if is_beaten is not None:
        callbacks.append(StopWhenBeaten(stt, is_beaten, cfg.eval_every, plan.max_steps))
    momentum_schedule = schedules.build_momentum(cfg.schedule, plan.max_steps)
    if momentum_schedule is not None:
        callbacks.append(schedules.MomentumSchedule(momentum_schedule))
    if cfg.noise_scale.enabled:
        callbacks.append(_noise_scale_callback(cfg, dataset, plan, model, stt, seed))
    return callbacks


def _fit(model, train_data, plan, callbacks, stt):
    """`model.fit` for the whole budget; `stt` stops it at the target. A NaN that raises is a divergence."""
    try:
        model.fit(
            train_data,
            steps_per_epoch=plan.max_steps * plan.accumulation_steps,
            epochs=1,
            callbacks=callbacks,
            shuffle=False,  # the stream is already shuffled, deterministically per trial seed
            verbose=0,
        )
    except (FloatingPointError, OverflowError):
        stt.outcome = "diverged"
    if stt.outcome is None:
        stt.outcome = "missed"


def _trial_result(stt, plan, wall, extra):
    steps = stt.measurements[-1]["step"] if stt.measurements else stt.updates
    return TrialResult(
        outcome=stt.outcome,
        steps_to_target=stt.steps_to_target,
        steps=int(steps),
        max_steps=plan.max_steps,
        measurements=stt.measurements,
        best_value=stt.best_value,
        wall_time_s=wall,
        extra=extra,
    )


class StopWhenBeaten(keras.callbacks.Callback):
    """Ends a trial as `beaten` when it can no longer need fewer steps than the best trial so far.

    Steps to result is a minimum over trials: a trial whose next evaluation comes after the
    best trial's steps to the target cannot change it (`budget.stop_when_beaten`).

    Args:
        steps_to_target: the trial's `StepsToTarget` callback (listed before this one).
        is_beaten: callable `(next_step) -> bool`.
        eval_every: updates between evaluations, or "auto" (`tfbsz.study.eval_schedule`).
        max_steps: the trial's budget (its last evaluation).
    """

    def __init__(self, steps_to_target, is_beaten, eval_every, max_steps):
        super().__init__()
        self.steps_to_target = steps_to_target
        self.is_beaten = is_beaten
        self.eval_every = eval_every
        self.max_steps = max_steps
        self._seen = 0

    def on_train_batch_end(self, batch, logs=None):
        stt = self.steps_to_target
        if stt.outcome is not None or len(stt.measurements) == self._seen:
            return
        self._seen = len(stt.measurements)
        step = stt.measurements[-1]["step"]
        next_step = min(eval_schedule.evaluation_after(step, self.eval_every, self.max_steps), self.max_steps)
        if self.is_beaten(next_step):
            stt.outcome = "beaten"
            self.model.stop_training = True


def run_in_turn(cfg, members, batch_size, dataset, strategy=None, listener=None):
    """Trains the trials of a cohort one after another with `run_trial`; returns their `TrialResult`s.

    The plain way to run a cohort, with the signature of the vectorised engine
    (`tfbsz.study.cohorts.run_cohort`): the path for the TensorFlow backend and for cohorts of one.

    Args:
        cfg: a checked study config.
        members: a list of `tfbsz.study.cohorts.CohortMember` (parameters, seed, trial id, and
            where to save the trained model, if anywhere).
        batch_size: the global batch size of every member.
        dataset: a `tfbsz.data.Dataset`.
        strategy: a `tfbsz.strategies` strategy; None means the default device.
        listener: optional object with `measurement(trial_id, row)` and `trial_end(trial_id, result)`,
            and optionally `is_beaten(trial_id, next_step)` (see `run_trial`).
    """
    results = []
    is_beaten = getattr(listener, "is_beaten", None)
    for member in members:
        result = run_trial(
            cfg, member.parameters, batch_size, member.seed, dataset, strategy=strategy,
            on_measurement=functools.partial(listener.measurement, member.trial_id) if listener is not None else None,
            save_model_path=member.save_model_path,
            is_beaten=functools.partial(is_beaten, member.trial_id) if is_beaten is not None else None,
        )
        if listener is not None:
            listener.trial_end(member.trial_id, result)
        results.append(result)
    return results


def _noise_scale_callback(cfg, dataset, plan, model, stt, seed):
    from tfbsz.training.noise_scale import GradientNoiseScale, default_batch_pair

    ns = cfg.noise_scale
    small, big = default_batch_pair(plan.micro_batch, len(dataset.x_train), ns.small_batch, ns.big_batch)
    callback = GradientNoiseScale(
        dataset.x_train, dataset.y_train, every=ns.every, small_batch=small, big_batch=big, loss_fn=model.loss
    )
    stt.extra_measurements = lambda _model: callback.latest_measurement()
    return callback
