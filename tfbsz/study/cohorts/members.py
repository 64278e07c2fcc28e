"""Cohort members and their set-up: each trial's model built exactly as `run_trial` builds it.

`set_up_member` follows `run_trial` step by step: the trial's config (`apply_parameters`), its
plan (`plan_trial`), `keras.utils.set_random_seed(seed)`, `build_compiled_model` under the
trial's dtype policy, pruning with the trial's seed and batches. It then reads out what the
cohort needs and lets the model go: the initial values of the trainable and non-trainable
variables, the pruning masks, the learning-rate schedule object the optimizer would
call, the one-cycle momentum schedule, the label smoothing and mixup alpha, and the optimizer
settings that `per_trial` traces.

Example:

>>> m = CohortMember(parameters={"optimizer.learning_rate": 0.1}, seed=3, trial_id="07")
>>> m.trial_id, m.seed
('07', 3)
>>> CohortMember({}, seed=-1, trial_id="x")
Traceback (most recent call last):
...
ValueError: CohortMember.seed: expected an integer >= 0, got -1
"""

import dataclasses
import numbers
import time

__all__ = ["CohortMember", "MemberSetup", "set_up_member", "build_member_model"]


@dataclasses.dataclass
class CohortMember:
    """One trial of a cohort.

    Attributes:
        parameters: the trial's metaparameters, `{config path: value}` (as for `run_trial`).
        seed: the trial's seed (initialisation, data order, mixup draws).
        trial_id: the id reported to the listener.
        save_model_path: if given, the trained model is saved there (`.keras`), as
            `run_trial(save_model_path=...)` does.
    """

    parameters: dict
    seed: int
    trial_id: str
    save_model_path: str | None = None

    def __post_init__(self):
        if not isinstance(self.parameters, dict):
            raise ValueError(f"CohortMember.parameters: expected a dict, got {self.parameters!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) or self.seed < 0:
            raise ValueError(f"CohortMember.seed: expected an integer >= 0, got {self.seed!r}")
        self.seed = int(self.seed)
        self.trial_id = str(self.trial_id)

    @classmethod
    def of(cls, member):
        """`member` as a checked `CohortMember` (any object with the same attributes will do)."""
        if isinstance(member, cls):
            return member
        try:
            return cls(member.parameters, member.seed, member.trial_id, getattr(member, "save_model_path", None))
        except AttributeError:
            raise ValueError(f"CohortMember: expected parameters, seed and trial_id, got {member!r}") from None


@dataclasses.dataclass
class MemberSetup:
    """What the cohort keeps of one member after building its model."""

    member: CohortMember
    cfg: dict
    plan: object  # trainer.TrialPlan
    schedule: object  # the optimizer's learning-rate schedule: update count -> rate
    momentum_schedule: object  # update count -> momentum, or None
    momentum: float | None  # the optimizer's momentum variable's value (None: no such variable)
    label_smoothing: float
    mixup_alpha: float
    trainable: list
    non_trainable: list
    masks: list  # one array per pruned trainable variable, in trainable-variable order
    optimizer_values: dict  # per_trial settings {name: float}
    extra: dict  # TrialResult.extra as run_trial writes it
    setup_s: float
    model: object = None  # kept only when asked (the cohort's template)


def build_member_model(cfg, plan, dataset, seed, extra=None):
    """The trial's compiled model, seeded and pruned as `run_trial` does; records pruning in `extra`.

    `cfg` is the trial's config (parameters applied). Call under the trial's dtype policy.
    """
    import keras

    from tfbsz.study.trainer import build_compiled_model

    soft_targets = float(cfg.regularization.mixup_alpha) > 0
    keras.utils.set_random_seed(int(seed))
    model = build_compiled_model(cfg, plan, dataset, soft_targets)
    if cfg.sparsity.method != "none" and cfg.sparsity.level > 0:
        from tfbsz.training import pruning

        report = pruning.apply_pruning(
            model,
            cfg.sparsity,
            batches=dataset.train_batches(plan.micro_batch, seed + 1),
            loss_fn=model.loss,
            seed=seed,
        )
        if extra is not None:
            extra["sparsity"] = report
    return model


def inner_optimizer(optimizer):
    """The optimizer doing the update (looks through `LossScaleOptimizer`)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def set_up_member(cfg, member, batch_size, dataset, keep_model=False):
    """Builds `member`'s model as `run_trial` would and returns its `MemberSetup`.

    Raises whatever `run_trial` would raise for the same trial before training (a `ConfigError`
    for a bad value), and `ConfigError` for one-cycle momentum at momentum 0 (which
    `MomentumSchedule` rejects when training starts).
    """
    from keras import ops

    from tfbsz.core.errors import ConfigError
    from tfbsz.optimizers.variable_momentum import VariableMomentum
    from tfbsz.study import trainer
    from tfbsz.study.cohorts import optimizer_values
    from tfbsz.training import pruning, schedules

    started = time.perf_counter()
    trial_cfg = trainer.apply_parameters(cfg, member.parameters)
    plan = trainer.plan_trial(trial_cfg, batch_size, len(dataset.x_train))
    extra = {
        "seed": member.seed,
        "max_steps": plan.max_steps,
        "accumulation_steps": plan.accumulation_steps,
        "micro_batch_size": plan.micro_batch,
        "replicas": 1,
        "precision": trial_cfg.precision,
    }
    with trainer.dtype_policy(trial_cfg.precision):
        model = build_member_model(trial_cfg, plan, dataset, member.seed, extra)
    # The optimizer is not built: its variables start alike for every member (zeros, update
    # count 0) except the momentum coefficient, which the cohort sets before every update.
    inner = inner_optimizer(model.optimizer)
    momentum_schedule = schedules.build_momentum(trial_cfg.schedule, plan.max_steps)
    momentum = None
    if isinstance(inner, VariableMomentum):
        momentum = inner.momentum
        if momentum_schedule is not None and momentum == 0.0:
            raise ConfigError(
                "MomentumSchedule: the optimizer was built with momentum=0, so it keeps no "
                "velocity to schedule; give it a non-zero momentum"
            )
    masks = [
        ops.convert_to_numpy(v.constraint.mask)
        for v in model.trainable_variables
        if isinstance(v.constraint, pruning.MaskConstraint)
    ]
    setup = MemberSetup(
        member=member,
        cfg=trial_cfg,
        plan=plan,
        schedule=inner._learning_rate,  # the object the optimizer calls with its update count
        momentum_schedule=momentum_schedule,
        momentum=momentum,
        label_smoothing=float(trial_cfg.regularization.label_smoothing),
        mixup_alpha=float(trial_cfg.regularization.mixup_alpha),
        trainable=[v.value for v in model.trainable_variables],
        non_trainable=[v.value for v in model.non_trainable_variables],
        masks=masks,
        optimizer_values=optimizer_values.member_values(inner),
        extra=extra,
        setup_s=0.0,
        model=model if keep_model else None,
    )
    setup.setup_s = time.perf_counter() - started
    return setup
