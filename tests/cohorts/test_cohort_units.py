"""Cohort pieces that need no JAX program: which trials can share one, and what each member is fed."""

import doctest
import importlib

import numpy as np
import pytest

from tfbsz import data, strategies
from tfbsz.core.config import from_dict
from tfbsz.core.errors import ConfigError
from tfbsz.study.cohorts import CohortMember, can_run_as_cohort, cohort_key, run_cohort
from tfbsz.study.cohorts.feeds import MemberFeed, ScheduleTable
from tfbsz.study.trainer import apply_parameters, plan_trial
from tfbsz.training import regularizers, schedules

DOCTESTED = ["tfbsz.study.cohorts", "tfbsz.study.cohorts.compatibility", "tfbsz.study.cohorts.members",
             "tfbsz.study.cohorts.feeds", "tfbsz.study.cohorts.placement", "tfbsz.study.cohorts.tracking",
             "tfbsz.study.cohorts.programs", "tfbsz.study.cohorts.optimizer_values",
             "tfbsz.training.regularizers"]


def config(**extra):
    raw = {"data": {"name": "digits"}, "model": {"name": "mlp", "hidden_units": [16]},
           "optimizer": {"name": "momentum", "learning_rate": 0.1},
           "target": {"metric": "val/classification_error", "threshold": 0.1},
           "budget": {"max_steps": 40}, "eval_every": 10, "batch_sizes": [32]}
    raw.update(extra)
    return from_dict(raw)


@pytest.mark.parametrize("name", DOCTESTED)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0


def test_traced_values_share_a_key_and_shapes_do_not():
    cfg = config()
    base = cohort_key(cfg, {"optimizer.learning_rate": 0.1})
    same = [
        {"optimizer.learning_rate": 0.7, "optimizer.momentum": 0.5},
        {"schedule.name": "one_cycle", "schedule.pct_start": 0.2},
        {"schedule.name": "cosine", "schedule.warmup_fraction": 0.1, "schedule.end_factor": 0.2},
        {"regularization.label_smoothing": 0.1},
        {"sparsity.level": 0.0},
    ]
    for parameters in same:
        assert cohort_key(cfg, parameters) == base, parameters
    different = [
        {"model.hidden_units": [32]},
        {"optimizer.momentum": 0.0},  # no velocity slots
        {"optimizer.name": "nesterov"},
        {"optimizer.clipnorm": 1.0},
        {"optimizer.weight_decay": 0.01},  # None (no decay term) is compiled in
        {"regularization.mixup_alpha": 0.2},
        {"sparsity.method": "random", "sparsity.level": 0.5},
        {"budget.max_steps": 80},
        {"precision": "mixed_bfloat16"},
    ]
    for parameters in different:
        assert cohort_key(cfg, parameters) != base, parameters
    mixup = config(regularization={"mixup_alpha": 0.2})
    assert cohort_key(mixup, {"regularization.mixup_alpha": 1.0}) == cohort_key(mixup, {})
    adam = config(optimizer={"name": "adam", "learning_rate": 0.01, "weight_decay": 0.001})
    assert cohort_key(adam, {"optimizer.beta_2": 0.99, "optimizer.weight_decay": 0.1}) == cohort_key(adam, {})
    pruned = config(sparsity={"method": "snip", "level": 0.5})
    assert cohort_key(pruned, {"sparsity.level": 0.9, "sparsity.method": "random"}) == cohort_key(pruned, {})


def test_what_cannot_run_as_a_cohort_says_why():
    cfg = config()
    assert can_run_as_cohort(cfg, None, backend="jax") == (True, "")
    assert can_run_as_cohort(cfg, strategies.get({"name": "one_device"}), backend="jax") == (True, "")
    cases = [
        (cfg, None, "tensorflow", "the tensorflow backend trains one trial at a time"),
        (config(max_device_batch=8), None, "jax", "gradient accumulation (max_device_batch: 8)"),
        (config(noise_scale={"enabled": True}), None, "jax", "noise_scale.enabled"),
        (cfg, strategies.get({"name": "mirrored"}), "jax", "strategy 'mirrored' splits each batch"),
        (config(optimizer={"name": "adam", "learning_rate": 0.01}, schedule={"name": "one_cycle"}),
         None, "jax", "one-cycle momentum needs an optimizer with a momentum variable"),
    ]
    for case_cfg, strategy, backend, reason in cases:
        possible, why = can_run_as_cohort(case_cfg, strategy, backend=backend)
        assert not possible
        assert reason in why and "\n" not in why


def test_run_cohort_refuses_what_it_cannot_train():
    dataset = data.load({"name": "digits"}, seed=0)
    members = [CohortMember({}, seed=0, trial_id="a")]
    with pytest.raises(ConfigError, match="run_cohort: the tensorflow backend"):  # this process: TF
        run_cohort(config(), members, 32, dataset)


def test_each_member_is_fed_its_own_run_trial_batches_rates_and_mixup_draws():
    dataset = data.load({"name": "digits"}, seed=0)
    cfg = config(schedule={"name": "one_cycle"}, regularization={"mixup_alpha": 0.4})
    parameters = {"optimizer.learning_rate": 0.3, "schedule.pct_start": 0.4}
    trial_cfg = apply_parameters(cfg, parameters)
    plan = plan_trial(trial_cfg, 32, dataset.num_train)

    class Setup:  # the fields MemberFeed reads, as set_up_member fills them
        member = CohortMember(parameters, seed=5, trial_id="x")
        schedule = schedules.build(trial_cfg["schedule"], 0.3, plan.max_steps)
        momentum_schedule = schedules.build_momentum(trial_cfg["schedule"], plan.max_steps)
        momentum = 0.9
        mixup_alpha = 0.4

    feed = MemberFeed(Setup, dataset, 32)
    first, second = feed.chunk(0, 10, 10), feed.chunk(10, 7, 10)
    stream = regularizers.mixup_batches(dataset.train_batches(32, 5), 0.4, dataset.num_classes, seed=5)
    expected = [next(stream) for _ in range(17)]
    rows = [(first, i) for i in range(10)] + [(second, i) for i in range(7)]
    for (chunk, i), (x_mixed, y_mixed) in zip(rows, expected):
        x = dataset.x_train[chunk["indices"][i]].astype("float32")
        onehot = np.eye(dataset.num_classes, dtype="float32")[dataset.y_train[chunk["indices"][i]]]
        x_fed, y_fed = regularizers.mix_pair(x, onehot, chunk["mix_lambda"][i], chunk["mix_permutation"][i])
        np.testing.assert_array_equal(x_fed, x_mixed)
        np.testing.assert_array_equal(y_fed, y_mixed)
    assert (second["indices"][7:] == 0).all() and (second["learning_rate"][7:] == 0).all()
    # The schedules' own values at each update count; evaluated a block at a time, so a cosine
    # may round in its last bit differently from one value at a time.
    for chunk, start, count in ((first, 0, 10), (second, 10, 7)):
        for i in range(count):
            np.testing.assert_allclose(chunk["learning_rate"][i], Setup.schedule(start + i), rtol=1e-6)
            np.testing.assert_allclose(chunk["momentum"][i], Setup.momentum_schedule(start + i), rtol=1e-6)
    np.testing.assert_allclose(feed.learning_rates.at(plan.max_steps), Setup.schedule(plan.max_steps), rtol=1e-6)


def test_schedule_table_crosses_blocks():
    table = ScheduleTable(lambda t: np.sqrt(np.asarray(t, "float32")), block=3)
    np.testing.assert_array_equal(table.values(2, 9), np.sqrt(np.arange(2, 9, dtype="float32")))
    assert table.at(0) == 0.0


def test_members_are_checked():
    import types

    like = types.SimpleNamespace(parameters={"optimizer.learning_rate": 0.1}, seed=3, trial_id=7)
    assert CohortMember.of(like) == CohortMember({"optimizer.learning_rate": 0.1}, 3, "7")
    with pytest.raises(ValueError, match="CohortMember: expected parameters, seed and trial_id"):
        CohortMember.of(types.SimpleNamespace(seed=1))
    with pytest.raises(ValueError, match="CohortMember.parameters: expected a dict"):
        CohortMember([("optimizer.learning_rate", 0.1)], seed=0, trial_id="a")
    with pytest.raises(ValueError, match="CohortMember.seed"):
        CohortMember({}, seed=True, trial_id="a")


def test_a_split_cohort_takes_consecutive_groups_of_near_equal_size():
    from tfbsz.study.cohorts.engine import _even_groups

    assert _even_groups(list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    assert _even_groups(list(range(128)), 83) == [list(range(64)), list(range(64, 128))]
    assert _even_groups(list(range(3)), 8) == [[0, 1, 2]]
    assert [len(g) for g in _even_groups(list(range(10)), 3)] == [3, 3, 2, 2]


def test_largest_array_looks_inside_nested_programs():
    import jax
    import jax.numpy as jnp

    from tfbsz.study.cohorts.programs import largest_array

    def step(x):
        inner = jax.jit(lambda v: jnp.outer(v, v).sum())  # a 7x7 array, only inside the jit
        return jax.lax.fori_loop(0, 2, lambda i, c: c + inner(x), 0.0)

    assert largest_array(jax.make_jaxpr(step)(jnp.ones(7))) == 49


def test_the_recorder_shows_a_note_on_the_progress_display(tmp_path):
    from tfbsz.study.trial_records import TrialRecorder

    class Progress:
        lines = []

        def message(self, text):
            self.lines.append(text)

    progress = Progress()
    TrialRecorder(config(), 32, tmp_path, progress=progress).note("bs 32: cohorts of at most 2")
    TrialRecorder(config(), 32, tmp_path).note("nobody listens")  # no display: nothing to do
    assert progress.lines == ["bs 32: cohorts of at most 2"]
