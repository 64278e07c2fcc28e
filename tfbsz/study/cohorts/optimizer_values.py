"""Optimizer settings held as Python numbers (betas, epsilon, weight decay, trust settings),
made per member through `tfbsz.optimizers.per_trial` when that module is present.

A Keras optimizer reads such settings as Python floats while its update is traced, so on their
own they are compiled into the program. `tfbsz.optimizers.per_trial` names the ones it can
replace by traced values (`per_trial_names(optimizer)`) and binds them for the duration of a
trace (`with per_trial.bind(optimizer, values): ...`). Without that module every such setting is
part of the cohort key (`compatibility.cohort_key`), so trials that differ in it run in
different cohorts: slower, never wrong.

Example:

>>> from tfbsz.study.cohorts import optimizer_values
>>> isinstance(optimizer_values.traceable_option_names("sgd"), tuple)
True
"""

import contextlib
import functools

__all__ = ["traceable_option_names", "member_values", "bind"]


def _per_trial():
    try:
        from tfbsz.optimizers import per_trial
    except ImportError:
        return None
    return per_trial


@functools.lru_cache(maxsize=None)
def traceable_option_names(optimizer_name):
    """The `optimizer:` options of `optimizer_name` that `per_trial` can trace, as a tuple."""
    per_trial = _per_trial()
    if per_trial is None:
        return ()
    from tfbsz import optimizers

    return tuple(per_trial.per_trial_names(optimizers.build(optimizer_name, 0.1)))


def member_values(optimizer):
    """`{name: float}` of `optimizer`'s traceable settings (the member's own optimizer)."""
    per_trial = _per_trial()
    if per_trial is None:
        return {}
    return {name: float(getattr(optimizer, name)) for name in per_trial.per_trial_names(optimizer)}


@contextlib.contextmanager
def bind(optimizer, values):
    """Within the block, `optimizer` uses `values` (traced scalars) for its traceable settings."""
    per_trial = _per_trial()
    if per_trial is None or not values:
        yield
        return
    with per_trial.bind(optimizer, values):
        yield
