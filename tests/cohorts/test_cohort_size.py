"""`CohortSizer` (pure Python): the sizes `auto` asks for given what each size cost, within one
batch size and carried from a smaller one to the larger ones, and that no trial is ever lost."""

import math

import pytest
from helpers import check_docstring_examples

from tfbsz.study import cohort_size
from tfbsz.study.cohort_size import CLEARLY_BETTER, ENOUGH_BETTER, Carried, CohortSizer


def drive(sizer, cost_of):
    """Runs `sizer` to the end of its batch size: `cost_of(size)` is a run's cost per trial (inf: out
    of memory, the run is then retried in halves as `cohort_runs` does). Returns the sizes run."""
    runs = []

    def run(size):
        cost = cost_of(size)
        sizer.record(size, cost)
        if cost == math.inf:
            half = (size + 1) // 2
            for part in (half, size - half):
                if part:
                    run(part)
        else:
            runs.append(size)

    while sizer.left > 0:
        run(sizer.next_size())
    return runs


def test_docstring_examples():
    check_docstring_examples(cohort_size)


def test_a_clear_cohort_is_carried_and_the_next_batch_size_trains_no_trial_alone():
    small = CohortSizer("auto", trials_left=16, cap=1000, budget=800)
    assert drive(small, {1: 13.96, 15: 1.37}.get) == [1, 15]
    carried = small.carry(8)
    assert carried == Carried(batch_size=8, size=1000, alone=13.96, budget=800, alone_batch_size=8)
    larger = CohortSizer("auto", trials_left=16, cap=500, carried=carried, budget=800)
    assert drive(larger, {16: 1.18}.get) == [16]  # all 16 at once, none alone
    assert larger.settled == 500 and larger.costs == {16: 1.18}
    assert larger.describe(16) == (
        "bs 16: 16 trials at once (auto: measured seconds per trial, by trials at once: 16: 1.18 s; "
        "carried from bs 8, no trial alone here (one took 13.96 s at bs 8))")
    # and on again: the trial alone measured at bs 8 stays the reference
    again = larger.carry(16)
    assert again == Carried(batch_size=16, size=500, alone=13.96, budget=800, alone_batch_size=8)
    largest = CohortSizer("auto", trials_left=16, cap=200, carried=again, budget=800)
    assert drive(largest, {16: 1.25}.get) == [16]
    assert "carried from bs 16, no trial alone here (one took 13.96 s at bs 8)" in largest.describe(32)


def test_a_carried_cohort_not_clearly_cheaper_falls_back_to_a_trial_alone():
    carried = Carried(batch_size=8, size=32, alone=10.0, budget=800, alone_batch_size=8)
    # 6 s per trial in a cohort: not 2x cheaper than 10 s; a trial alone here costs 20 s, so the
    # cohort (measured first, its trials kept) is enough better and the rest trains at 32
    sizer = CohortSizer("auto", trials_left=80, cap=64, carried=carried, budget=800)
    assert drive(sizer, {32: 6.0, 1: 20.0}.get) == [32, 1, 32, 15]
    assert sizer.costs == {32: 6.0, 1: 20.0} and sizer.settled == 32
    assert sizer.describe(16) == "bs 16: 32 trials at once (auto: measured seconds per trial, by trials at once: 1: 20.00 s, 32: 6.00 s)"
    # the same cohort against a trial alone of 6.5 s here: a quarter of the size is tried, then 1
    sizer = CohortSizer("auto", trials_left=80, cap=64, carried=carried, budget=800)
    assert drive(sizer, {32: 6.0, 1: 6.5, 8: 6.4, 2: 6.3}.get) == [32, 1, 8, 2] + [1] * 37
    assert sizer.settled == 1 and sizer.carry(16) is None
    assert sizer.describe(16).startswith("bs 16: 1 trial at a time (auto: measured")


def test_only_a_cohort_at_least_clearly_better_than_alone_is_carried():
    for cohort, carried in ((0.5 / CLEARLY_BETTER * 10.0, True), (0.6 * 10.0, False)):
        sizer = CohortSizer("auto", trials_left=8, cap=64)
        drive(sizer, {1: 10.0, 7: cohort}.get)
        assert sizer.settled == 64  # enough better (10%) to train in cohorts here
        assert (sizer.carry(8) is not None) is carried
    assert cohort < ENOUGH_BETTER * 10.0


def test_fewer_updates_at_the_larger_batch_size_scale_the_carried_trial_alone_down():
    carried = Carried(batch_size=8, size=64, alone=10.0, budget=800, alone_batch_size=8)
    assert carried.alone_at(400) == 5.0 and carried.alone_at(800) == carried.alone_at(1600) == 10.0
    kept = CohortSizer("auto", trials_left=4, cap=64, carried=carried, budget=400)
    assert drive(kept, {4: 2.4}.get) == [4]  # 2.4 s is at most half of 5 s
    assert kept.carry(16).alone == 5.0 and kept.carry(16).budget == 400
    redone = CohortSizer("auto", trials_left=9, cap=8, carried=carried, budget=400)
    assert drive(redone, {8: 2.6, 1: 3.0}.get) == [8, 1]  # not half of 5 s: a trial alone here too
    assert redone.costs == {8: 2.6, 1: 3.0} and redone.settled == 8  # 2.6 s is 10% below 3 s


def test_a_carried_cohort_that_does_not_fit_is_halved_and_no_trial_is_lost():
    carried = Carried(batch_size=8, size=1000, alone=10.0, budget=800, alone_batch_size=8)
    sizer = CohortSizer("auto", trials_left=40, cap=1000, carried=carried, budget=800)
    costs = {40: math.inf, 20: math.inf, 10: 1.0, 5: 1.5}
    runs = drive(sizer, costs.get)
    assert sum(runs) == 40 and 1 not in runs and sizer.settled == 10
    # a cohort of 2 that does not fit: trials alone, measured as such
    sizer = CohortSizer("auto", trials_left=2, cap=2, carried=carried, budget=800)
    runs = drive(sizer, {2: math.inf, 1: 9.0}.get)
    assert runs == [1, 1] and sizer.settled == 1 and sizer.costs == {1: 9.0}


@pytest.mark.parametrize("setting, cap", [(4, 64), ("auto", 1)])
def test_carried_is_ignored_by_a_fixed_number_and_without_room_for_a_cohort(setting, cap):
    carried = Carried(batch_size=8, size=64, alone=10.0, budget=800, alone_batch_size=8)
    sizer = CohortSizer(setting, trials_left=8, cap=cap, carried=carried, budget=800)
    assert sizer.carried is None
    assert sizer.next_size() == (4 if setting == 4 else 1)
    drive(sizer, lambda size: 5.0)
    assert sizer.carry(16) is None


@pytest.mark.parametrize("total", [1, 2, 3, 16, 33])
@pytest.mark.parametrize("costs", [
    {1: 12.0, "cohort": 1.0},  # clearly cheaper
    {1: 12.0, "cohort": 9.0},  # a little cheaper
    {1: 12.0, "cohort": 14.0},  # dearer
])
@pytest.mark.parametrize("carry", [None, Carried(8, 1000, 12.0, 800, 8)])
def test_every_trial_runs_exactly_once(total, costs, carry):
    sizer = CohortSizer("auto", trials_left=total, cap=8, carried=carry, budget=800)
    runs = drive(sizer, lambda size: costs[1] if size == 1 else costs["cohort"])
    assert sum(runs) == total and sizer.left == 0
