"""A trial trained in a cohort matches the same trial trained alone by `run_trial` (JAX, float32).

Each check runs in one JAX subprocess (`cohort_checks.py`), several cases per process so JAX's
start-up is paid once; the assertions are here.
"""

import json
import math
import os
import subprocess
import sys

import pytest
from helpers import subprocess_env

HERE = os.path.dirname(os.path.abspath(__file__))
RELATIVE = 1e-5  # float32 batched over members vs alone: rounding only
STEPS = 50


def run_check(*args, **env):
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "cohort_checks.py"), *args],
        env=subprocess_env("jax", JAX_PLATFORMS="cpu", **env),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"
    return report["result"]


def as_float(value):
    return float(value)  # non-finite values travel as 'nan', 'inf' strings


def assert_same_trial(alone, cohort, relative=RELATIVE, label=""):
    assert cohort["outcome"] == alone["outcome"], label
    assert cohort["steps_to_target"] == alone["steps_to_target"], label
    assert cohort["steps"] == alone["steps"], label
    assert [r["step"] for r in cohort["measurements"]] == [r["step"] for r in alone["measurements"]], label
    for row_alone, row_cohort in zip(alone["measurements"], cohort["measurements"]):
        assert list(row_cohort) == list(row_alone), label  # same columns, same order
        for column, expected in row_alone.items():
            got = row_cohort[column]
            if expected is None or isinstance(expected, int):
                assert got == expected, (label, column)
                continue
            expected, got = as_float(expected), as_float(got)
            if not math.isfinite(expected):
                assert not math.isfinite(got), (label, row_alone["step"], column, got)
                continue
            assert abs(got - expected) <= relative * max(abs(expected), 1e-6), (
                label, row_alone["step"], column, expected, got)


@pytest.mark.parametrize("optimizers", ["momentum,nesterov,lars", "adam,adamw,lamb"])
def test_cohort_of_four_matches_each_trial_alone(optimizers):
    report = run_check("exactness", optimizers)
    outcomes = set()
    for name, case in report.items():
        # member 0: warmup + linear decay, slow enough to train the whole budget;
        # member 1: one-cycle (momentum optimizers) or warmup + cosine, with label smoothing;
        # member 2: a learning rate that diverges; member 3: healthy, label smoothing 0.01.
        for index, alone in case["alone"].items():
            assert_same_trial(alone, case["cohort"][int(index)], label=f"{name} member {index}")
            outcomes.add(alone["outcome"])
        assert case["alone"]["0"]["steps"] == STEPS, name
        assert case["alone"]["2"]["outcome"] == "diverged", name
        # NaN in the diverging member changed no other member's numbers: the same cohort with a
        # healthy third member gives the other three exactly the same results.
        for j in (0, 1, 3):
            assert case["healthy_cohort"][j] == case["cohort"][j], (name, j)
        assert case["healthy_cohort"][2]["outcome"] != "diverged", name
        # The listener heard every measurement of every member and every end, as it happened.
        for i, member in enumerate(case["cohort"]):
            assert case["listener_rows"][f"t{i}"] == [r["step"] for r in member["measurements"]]
        assert sorted(case["listener_ended"]) == sorted([f"t{i}", m["outcome"]] for i, m in enumerate(case["cohort"]))
        assert case["extra"]["cohort"]["size"] == 4
    assert {"reached", "missed", "diverged"} <= outcomes


def test_transformer_pruned_and_mixup_cohorts_match_alone():
    # a 1-block Transformer LM with dropout; random pruning with each member's own masks (levels
    # 0.5 and 0.8); mixup (each member's own draws) with label smoothing; mixed_float16
    report = run_check("workloads")
    for name, case in report.items():
        # float16 compute: a last-bit difference in float32 can round a float16 value the other way
        relative = 1e-3 if name == "mixed_float16" else RELATIVE
        for index, alone in case["alone"].items():
            assert_same_trial(alone, case["cohort"][int(index)], relative, label=f"{name} member {index}")
    pruned = report["pruned"]
    assert pruned["extra"]["sparsity"]["global_sparsity"] == 0.5
    assert "val/cross_entropy_error" in report["transformer"]["cohort"][0]["measurements"][0]
    assert report["mixed_float16"]["extra"]["precision"] == "mixed_float16"
    # eval_every: auto evaluates at uneven steps, the same ones alone and in a cohort
    steps = [r["step"] for r in report["eval_every_auto"]["alone"]["0"]["measurements"]]
    assert len(set(b - a for a, b in zip(steps, steps[1:]))) > 1, steps


def test_programs_compile_once_per_shape():
    counts = run_check("compile_once")
    assert counts["start"] == {"train": 0, "eval": 0}
    assert counts["first_cohort"] == {"train": 1, "eval": 1}
    # two more cohorts of four with the same key (other learning rates, warmups, seeds): no trace
    assert counts["three_cohorts"] == {"train": 1, "eval": 1}
    # one trial at a time through the same program: one trace for the new shape, then none
    assert counts["one_at_a_time_first"] == {"train": 2, "eval": 2}
    assert counts["one_at_a_time_four"] == {"train": 2, "eval": 2}
    assert counts["keys_equal"] is True
    beaten = counts["beaten"]  # budget.stop_when_beaten, asked through the listener
    assert beaten["outcomes"] == ["beaten"] * 4 and beaten["steps"] == [20] * 4
    assert sorted(beaten["asked"]) == sorted([str(i), step] for i in range(4) for step in (20, 30))
    assert sorted(beaten["ended"]) == sorted([str(i), "beaten"] for i in range(4))
    assert beaten["traces"] == {"train": 2, "eval": 2}
    # batch 16: a training program of its own, batch 32's evaluation program, the same numbers as
    # with an evaluation program of its own (after clear_programs: one more of each)
    assert counts["other_batch_size"] == {"train": 3, "eval": 2}
    assert counts["after_clear"] == {"train": 4, "eval": 3}
    assert counts["shared_eval_same_numbers"] is True


def test_cohort_sharded_over_two_devices_matches_one_device():
    report = run_check("sharded", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    assert report["devices"] == 2
    assert report["sharded_extra"]["devices"] == 2
    assert report["sharded_extra"]["size"] == 4  # three members padded to a multiple of two
    outcomes = [m["outcome"] for m in report["one"]]
    assert "diverged" in outcomes and len(set(outcomes)) > 1
    for i, (one, split) in enumerate(zip(report["one"], report["sharded"])):
        assert_same_trial(one, split, relative=1e-6, label=f"member {i}")


def test_a_cohort_past_the_array_limit_runs_in_groups_with_the_same_numbers():
    report = run_check("split")
    # digits MLP (64 inputs), batch 32, 256 held-out examples: one member's update makes at most
    # 2048-element arrays (a 64x32 kernel, a 32x64 batch), its evaluation a 256x64 batch: 16384
    assert report["largest"] == 256 * 64
    assert report["sizes"] == [2, 2, 2, 2, 2]  # the last group, of one, padded: one compiled shape
    assert report["members"] == [2, 2, 2, 2, 1]
    assert report["traces"] == {"train": 1, "eval": 1}
    assert report["single_sizes"] == [1, 1]
    assert len(report["notes"]) == 1 and "at most 2 trials at once (5 asked)" in report["notes"][0]
    assert report["notes_again"] == []
    assert report["listener_ended"] == ["0", "1", "2", "3", "4"]
    for i, (whole, part) in enumerate(zip(report["whole"], report["parts"])):
        assert_same_trial(whole, part, relative=1e-6, label=f"member {i}")
