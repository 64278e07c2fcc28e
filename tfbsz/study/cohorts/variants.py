"""Which per-member values a cohort program traces, and which it compiles in.

Every per-trial value *could* be traced, but a traced value is a float32 tensor, while a trial
alone computes with the Python float it was built with: `1 - beta_2` with ``beta_2 = 0.999`` is
computed in float64 and then rounded (0.001), traced it is computed in float32 (0.00099998713),
1.3e-5 apart. So a program traces only what the trials search: an optimizer setting or the label
smoothing is traced when some member's parameters set it (`optimizer.beta_2`,
`regularization.label_smoothing`), and otherwise compiled in with the config's value, exactly as
a trial alone uses it. The search space is the same for every trial of a study, so every
cohort of a batch size, and every trial run one at a time, gets the same variant and reuses one
program. Learning rates (per update, from each member's schedule) and momenta (written into the
momentum variable, as `MomentumSchedule` does) are always per member; both are float32 in the
trial alone too.

Example:

>>> from tfbsz.study.cohorts.members import CohortMember
>>> members = [CohortMember({"optimizer.beta_2": 0.99, "optimizer.learning_rate": 0.1}, 0, "a")]
>>> searched_names(members)
['optimizer.beta_2', 'optimizer.learning_rate']
"""

import dataclasses

__all__ = ["ProgramVariant", "choose_variant", "searched_names"]

LABEL_SMOOTHING = "regularization.label_smoothing"


@dataclasses.dataclass(frozen=True)
class ProgramVariant:
    """What a cohort program traces per member beyond learning rates and momenta.

    Attributes:
        optimizer_names: per-trial optimizer settings traced per member (sorted).
        static_optimizer_values: `(name, value)` pairs of the other per-trial settings, compiled in.
        label_smoothing: None when traced per member, else the value compiled into the loss.
    """

    optimizer_names: tuple
    static_optimizer_values: tuple
    label_smoothing: float | None


def searched_names(members):
    """The config paths that any member's parameters set, sorted."""
    return sorted({path for m in members for path in m.parameters})


def choose_variant(members, setups):
    """The `ProgramVariant` for a cohort of `members` with their `MemberSetup`s."""
    searched = set(searched_names(members))
    values = setups[0].optimizer_values
    traced = tuple(sorted(n for n in values if f"optimizer.{n}" in searched))
    static = tuple(sorted((n, v) for n, v in values.items() if n not in traced))
    smoothing = None if LABEL_SMOOTHING in searched else setups[0].label_smoothing
    return ProgramVariant(traced, static, smoothing)
