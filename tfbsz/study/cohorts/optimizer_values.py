"""The optimizer settings a cohort sets per member, through `tfbsz.optimizers.per_trial`.

A Keras optimizer reads its settings (betas, epsilon, weight decay, LARS's trust coefficient)
as Python floats while its update is traced, so on their own they would be compiled into the
program. `per_trial.per_trial_names(optimizer)` names the ones that can be replaced by traced
scalars, and `per_trial.bind(optimizer, values)` makes the update read them for the duration of
a trace. A cohort binds, per member and per update, its scheduled learning rate and, per member,
every other per-trial setting. The momentum of `MomentumSGD` and `LARS` is instead written into
the optimizer's momentum variable before each update (as `MomentumSchedule` assigns it in
`run_trial`), so it is not bound here.

Settings that are not per-trial (flags, exclusion rules, a weight decay of 0 or None, which
leave a term out of the compiled update) are part of the cohort key: members that differ in
them run in different cohorts.

Example:

>>> from tfbsz.study.cohorts import optimizer_values
>>> optimizer_values.traced_option_names({"name": "adam", "learning_rate": 0.1})
('learning_rate', 'beta_1', 'beta_2', 'epsilon')
>>> optimizer_values.traced_option_names({"name": "lars", "learning_rate": 1.0, "weight_decay": 0.0})
('learning_rate', 'trust_coefficient', 'epsilon', 'momentum')
"""

import contextlib

__all__ = ["traced_option_names", "member_values", "bind", "SET_THROUGH_VARIABLE"]

# Per-trial names the cohort sets itself: the learning rate (bound per update from the member's
# schedule) and the momentum (written into the momentum variable's slot per update).
SET_THROUGH_VARIABLE = ("momentum",)
_SCHEDULED = ("learning_rate",)


def traced_option_names(optimizer_cfg):
    """The `optimizer:` options that a cohort member may set without another program.

    Args:
        optimizer_cfg: a trial's `optimizer:` section (`name`, `learning_rate`, options).

    Returns:
        A tuple of option names: `per_trial.per_trial_names` of the optimizer this section
        builds (it depends on the options: momentum 0 or weight decay 0 are static).
    """
    from tfbsz import optimizers
    from tfbsz.optimizers import per_trial

    options = dict(optimizer_cfg)
    name = options.pop("name")
    learning_rate = float(options.pop("learning_rate"))
    return tuple(per_trial.per_trial_names(optimizers.build(name, learning_rate, **options)))


def member_values(optimizer):
    """`{name: float}` of `optimizer`'s per-trial settings other than learning rate and momentum."""
    from tfbsz.optimizers import per_trial

    names = per_trial.per_trial_names(optimizer)
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return {n: float(getattr(inner, n)) for n in names if n not in _SCHEDULED + SET_THROUGH_VARIABLE}


@contextlib.contextmanager
def bind(optimizer, learning_rate, values):
    """Within the block, `optimizer`'s update reads `learning_rate` (if not None) and `values`."""
    from tfbsz.optimizers import per_trial

    bound = dict(values)
    if learning_rate is not None:
        bound["learning_rate"] = learning_rate
    if not bound:
        yield
        return
    with per_trial.bind(optimizer, bound):
        yield
