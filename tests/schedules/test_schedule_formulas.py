"""Each schedule against its formula written independently in NumPy, warmup and accumulation."""

import math

import numpy as np
import pytest

from tfbsz.training import schedules


def values(schedule, steps):
    return np.array([float(schedule(s)) for s in steps])


def linear_decay_ref(t, lr0, end_factor, decay_steps):
    return lr0 * (1 - (1 - end_factor) * min(t, decay_steps) / decay_steps)


def cosine_ref(t, lr0, end_factor, decay_steps):
    return lr0 * (end_factor + (1 - end_factor) * 0.5 * (1 + math.cos(math.pi * min(t, decay_steps) / decay_steps)))


def triangular_ref(t, lr0, cycle_steps, min_factor, amplitude_decay):
    # Smith's formulation with step size = half a cycle.
    half = cycle_steps / 2
    cycle = math.floor(1 + t / (2 * half))
    x = abs(t / half - 2 * cycle + 1)
    amplitude = (1 - min_factor) * amplitude_decay ** (cycle - 1)
    return lr0 * min_factor + lr0 * amplitude * max(0.0, 1 - x)


def one_cycle_ref(t, lr0, total, pct_start, div, final_div, anneal):
    peak = pct_start * total

    def interp(a, b, p):
        if anneal == "cosine":
            p = (1 - math.cos(math.pi * p)) / 2
        return a + (b - a) * p

    if t < peak:
        return interp(lr0 / div, lr0, t / peak)
    return interp(lr0, lr0 / final_div, min((t - peak) / (total - peak), 1.0))


STEPS = [0, 1, 7, 49, 50, 51, 99, 100, 101, 250]


def test_constant_is_lr0_everywhere():
    s = schedules.build({"name": "constant"}, 0.3, total_steps=100)
    np.testing.assert_allclose(values(s, STEPS), 0.3, rtol=1e-6)


def test_empty_config_means_constant():
    s = schedules.build(None, 0.3, total_steps=10)
    assert s.name == "constant"


@pytest.mark.parametrize(
    "cfg, decay_steps",
    [
        ({"decay_fraction": 1.0, "end_factor": 0.01}, 100),
        ({"decay_fraction": 0.5, "end_factor": 0.2}, 50),
        ({"decay_steps": 30, "end_factor": 0.0}, 30),
    ],
    ids=["full", "half", "explicit_steps"],
)
def test_linear_decay_matches_shallue_formula(cfg, decay_steps):
    s = schedules.build({"name": "linear_decay", **cfg}, 0.5, total_steps=100)
    expected = [linear_decay_ref(t, 0.5, cfg["end_factor"], decay_steps) for t in STEPS]
    np.testing.assert_allclose(values(s, STEPS), expected, rtol=1e-5, atol=1e-7)
    # Constant at end_factor * lr0 after the decay.
    assert float(s(decay_steps + 1000)) == pytest.approx(0.5 * cfg["end_factor"], abs=1e-7)


def test_linear_decay_default_end_factor_is_one_percent():
    s = schedules.build({"name": "linear_decay"}, 1.0, total_steps=20)
    assert float(s(20)) == pytest.approx(0.01)


def test_cosine_matches_formula():
    s = schedules.build({"name": "cosine", "end_factor": 0.1, "decay_fraction": 0.8}, 2.0, 100)
    expected = [cosine_ref(t, 2.0, 0.1, 80) for t in STEPS]
    np.testing.assert_allclose(values(s, STEPS), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("amplitude_decay", [1.0, 0.5], ids=["triangular", "triangular2"])
def test_cyclic_matches_smith_triangular(amplitude_decay):
    cfg = {"name": "cyclic", "cycle_steps": 10, "min_factor": 0.2, "amplitude_decay": amplitude_decay}
    s = schedules.build(cfg, 1.0, total_steps=100)
    steps = list(range(0, 41))
    expected = [triangular_ref(t, 1.0, 10, 0.2, amplitude_decay) for t in steps]
    np.testing.assert_allclose(values(s, steps), expected, rtol=1e-5, atol=1e-6)
    assert float(s(0)) == pytest.approx(0.2)
    assert float(s(5)) == pytest.approx(1.0)
    assert float(s(15)) == pytest.approx(0.2 + 0.8 * amplitude_decay)


@pytest.mark.parametrize("anneal", ["cosine", "linear"])
def test_one_cycle_matches_formula(anneal):
    cfg = {"name": "one_cycle", "pct_start": 0.25, "div_factor": 10.0,
           "final_div_factor": 100.0, "anneal": anneal}
    s = schedules.build(cfg, 1.0, total_steps=80)
    steps = [0, 1, 10, 19, 20, 21, 50, 79, 80, 200]
    expected = [one_cycle_ref(t, 1.0, 80, 0.25, 10.0, 100.0, anneal) for t in steps]
    np.testing.assert_allclose(values(s, steps), expected, rtol=1e-5, atol=1e-7)
    assert float(s(0)) == pytest.approx(0.1)
    assert float(s(20)) == pytest.approx(1.0)
    assert float(s(80)) == pytest.approx(0.01)


@pytest.mark.parametrize("name, extra", [
    ("constant", {}),
    ("linear_decay", {"end_factor": 0.1}),
    ("cosine", {}),
    ("cyclic", {"cycle_steps": 6}),
    ("one_cycle", {}),
])
def test_warmup_ramps_linearly_to_the_value_at_its_end(name, extra):
    s = schedules.build({"name": name, "warmup_steps": 10, **extra}, 1.0, total_steps=50)
    plain = schedules.build({"name": name, **extra}, 1.0, total_steps=50)
    end = float(plain(10))
    for t in range(10):
        assert float(s(t)) == pytest.approx(end * t / 10, rel=1e-5, abs=1e-7)
    # Continuous at the boundary and the schedule's own clock afterwards (no delay).
    assert float(s(10)) == pytest.approx(end, rel=1e-6)
    for t in (11, 25, 49, 60):
        assert float(s(t)) == pytest.approx(float(plain(t)), rel=1e-6)


def test_warmup_fraction_and_start_factor():
    cfg = {"name": "linear_decay", "end_factor": 0.0, "warmup_fraction": 0.1, "warmup_start_factor": 0.5}
    s = schedules.build(cfg, 1.0, total_steps=200)
    assert s.warmup_steps == 20
    value_at_end = linear_decay_ref(20, 1.0, 0.0, 200)  # 0.9
    assert float(s(0)) == pytest.approx(0.5 * value_at_end)
    assert float(s(10)) == pytest.approx(0.75 * value_at_end)
    assert float(s(19)) == pytest.approx((0.5 + 0.5 * 19 / 20) * value_at_end, rel=1e-6)
    assert float(s(20)) == pytest.approx(value_at_end)


def test_accumulation_divides_keras_micro_steps():
    cfg = {"name": "linear_decay", "end_factor": 0.0}
    per_update = schedules.build(cfg, 1.0, total_steps=10)
    micro = schedules.build(cfg, 1.0, total_steps=10, accumulation_steps=3)
    for step in range(40):
        assert float(micro(step)) == pytest.approx(float(per_update(step // 3)), abs=1e-7), step
    # The update after micro-steps 3k..3k+2 reads step 3k+2 and gets update k's rate.
    assert float(micro(5)) == pytest.approx(0.9)


ALL_CONFIGS = [
    {"name": "constant", "warmup_steps": 3},
    {"name": "linear_decay", "warmup_fraction": 0.1},
    {"name": "cosine", "decay_steps": 20},
    {"name": "cyclic", "cycle_steps": 6, "amplitude_decay": 0.5, "warmup_steps": 2},
    {"name": "one_cycle", "warmup_steps": 3, "anneal": "linear"},
]


@pytest.mark.parametrize("cfg", ALL_CONFIGS, ids=[c["name"] for c in ALL_CONFIGS])
def test_schedule_traces_under_tf_function_and_jit_compile(cfg):
    import tensorflow as tf

    s = schedules.build(cfg, 1.0, total_steps=30, accumulation_steps=2)
    compiled = tf.function(lambda step: s(step), jit_compile=True)
    for step in (0, 5, 17, 59, 80):
        assert float(compiled(tf.constant(step, tf.int64))) == pytest.approx(float(s(step)), rel=1e-5)
