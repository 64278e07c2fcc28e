"""Which weights pruning selects: levels, magnitude, random, SNIP vs NumPy, config errors."""

import os
import runpy

import numpy as np
import pytest
from keras import ops

from tfbsz.training import pruning
from tfbsz.core.errors import ConfigError

CHECKS = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pruning_checks.py"))
tiny_model = CHECKS["tiny_model"]
masks_of = CHECKS["masks_of"]


def test_options_for_the_config_validator():
    assert pruning.options() == {"method": "none", "level": 0.9, "batches": 10, "include": None}


@pytest.mark.parametrize("method", ["random", "magnitude"])
@pytest.mark.parametrize("level", [0.0, 0.5, 0.9])
def test_level_gives_that_global_sparsity(method, level):
    model = tiny_model()
    report = pruning.apply_pruning(model, {"method": method, "level": level})
    size = 6 * 16 + 16 * 3
    if level == 0.0:
        assert report["method"] == "none" and report["layers"] == {}
        assert report["global_sparsity"] == 0.0
        assert all(v.constraint is None for v in model.trainable_variables)
        return
    assert report["size"] == size
    assert report["pruned"] == round(level * size)
    assert report["global_sparsity"] == pytest.approx(round(level * size) / size)
    assert set(report["layers"]) == {"tiny/hidden/kernel", "tiny/logits/kernel"}
    zeros = sum(int((ops.convert_to_numpy(v) == 0).sum()) for v in model.trainable_variables
                if len(v.shape) == 2)
    assert zeros == report["pruned"]
    assert report["parameters"] == size + 16 + 3


def test_method_none_leaves_the_model_alone():
    model = tiny_model()
    before = [ops.convert_to_numpy(v).copy() for v in model.trainable_variables]
    report = pruning.apply_pruning(model, {"method": "none", "level": 0.9})
    assert report["method"] == "none" and report["pruned"] == 0
    for b, v in zip(before, model.trainable_variables):
        np.testing.assert_array_equal(b, ops.convert_to_numpy(v))


def test_magnitude_keeps_the_largest_weights_globally():
    model = tiny_model()
    kernels = [ops.convert_to_numpy(v) for v in model.trainable_variables if len(v.shape) == 2]
    flat = np.abs(np.concatenate([k.ravel() for k in kernels]))
    threshold = np.sort(flat)[round(0.6 * flat.size)]
    pruning.apply_pruning(model, {"method": "magnitude", "level": 0.6})
    for kernel, mask in zip(kernels, masks_of(model).values()):
        assert np.all(np.abs(kernel[mask == 1]) >= threshold)
        assert np.all(np.abs(kernel[mask == 0]) <= threshold)
    # Global, not per layer: the two layers end up with different sparsities.
    report = pruning.sparsity_report(model)
    sparsities = [layer["sparsity"] for layer in report["layers"].values()]
    assert sparsities[0] != sparsities[1]


def test_random_is_seeded():
    a, b, c = tiny_model(), tiny_model(), tiny_model()
    pruning.apply_pruning(a, {"method": "random", "level": 0.5}, seed=4)
    pruning.apply_pruning(b, {"method": "random", "level": 0.5}, seed=4)
    pruning.apply_pruning(c, {"method": "random", "level": 0.5}, seed=5)
    ma, mb, mc = (list(masks_of(m).values()) for m in (a, b, c))
    assert all(np.array_equal(x, y) for x, y in zip(ma, mb))
    assert not all(np.array_equal(x, y) for x, y in zip(ma, mc))


def test_snip_matches_float64_numpy_reference_on_kernels():
    CHECKS["check_snip_matches_reference"](include=None)


def test_snip_matches_reference_with_biases_included():
    report = CHECKS["check_snip_matches_reference"](include=[".*"])
    assert "tiny/hidden/bias" in report["layers"]


def test_include_regexes_select_by_path():
    model = tiny_model()
    report = pruning.apply_pruning(model, {"method": "magnitude", "level": 0.5, "include": ["hidden/kernel$"]})
    assert list(report["layers"]) == ["tiny/hidden/kernel"]
    assert report["pruned"] == 48


def test_include_matching_nothing_lists_variables():
    with pytest.raises(ConfigError, match=r"sparsity.include: no trainable variable matches .*hidden/kernel"):
        pruning.apply_pruning(tiny_model(), {"method": "random", "level": 0.5, "include": ["conv"]})


@pytest.mark.parametrize("cfg, message", [
    ({"method": "snipp"}, "sparsity.method: unknown method 'snipp' (did you mean 'snip'?)"),
    ({"method": "random", "level": 1.0}, "sparsity.level: expected a number in [0, 1), got 1.0"),
    ({"method": "random", "level": "high"}, "sparsity.level: expected a number in [0, 1), got 'high'"),
    ({"method": "snip", "batches": 0}, "sparsity.batches: expected an integer >= 1, got 0"),
    ({"method": "random", "include": "kernel"}, "sparsity.include: expected a list of regular expressions"),
    ({"method": "random", "include": ["("]}, "sparsity.include: '(' is not a regular expression"),
    ({"method": "random", "levels": 0.5}, "sparsity.levels: unknown option (did you mean 'level'?)"),
])
def test_bad_config_names_key_and_value(cfg, message):
    with pytest.raises(ConfigError) as info:
        pruning.apply_pruning(tiny_model(), cfg)
    assert str(info.value).startswith(message)


def test_snip_without_batches_and_double_pruning_are_errors():
    model = tiny_model()
    with pytest.raises(ValueError, match="'snip' needs `batches`"):
        pruning.apply_pruning(model, {"method": "snip", "level": 0.5})
    pruning.apply_pruning(model, {"method": "random", "level": 0.5})
    with pytest.raises(ValueError, match="already pruned"):
        pruning.apply_pruning(model, {"method": "random", "level": 0.5})


def test_existing_constraint_is_kept_under_the_mask():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, kernel_constraint="non_neg")])
    pruning.apply_pruning(model, {"method": "random", "level": 0.5})
    kernel = model.trainable_variables[0]
    out = ops.convert_to_numpy(kernel.constraint(-np.ones((4, 8), "float32") + 2 * np.eye(4, 8, dtype="float32")))
    mask = ops.convert_to_numpy(kernel.constraint.mask)
    np.testing.assert_array_equal(out, np.maximum(-1 + 2 * np.eye(4, 8), 0) * mask)


def test_mask_constraint_round_trips_its_config():
    import keras

    c = pruning.MaskConstraint(np.array([[1.0, 0.0]]), inner=keras.constraints.NonNeg())
    again = pruning.MaskConstraint.from_config(c.get_config())
    x = np.array([[-1.0, 2.0]], "float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(again(x)), [[0.0, 0.0]])
    assert again.get_config() == c.get_config()


def _masks_by_stable_sort(scores, level):
    """The selection rule written plainly: the first n - round(level n) of a stable descending sort."""
    flat = np.concatenate([s.ravel() for s in scores])
    keep = flat.size - int(round(level * flat.size))
    kept = np.zeros(flat.size, dtype="float32")
    kept[np.argsort(-flat, kind="stable")[:keep]] = 1.0
    out, start = [], 0
    for s in scores:
        out.append(kept[start : start + s.size].reshape(s.shape))
        start += s.size
    return out


@pytest.mark.parametrize("case", ["random", "ties", "nan_and_inf", "all_equal"])
@pytest.mark.parametrize("level", [0.0, 0.3, 0.5, 0.9, 0.999])
def test_global_top_k_selects_what_a_stable_sort_selects(case, level):
    from tfbsz.training.pruning import _global_top_k_masks

    rng = np.random.default_rng(7)
    shapes = [(31, 17), (17,), (5, 4, 3)]
    if case == "random":
        scores = [rng.random(s) for s in shapes]
    elif case == "ties":  # few distinct values: the threshold value is shared by many positions
        scores = [rng.integers(0, 4, s).astype("float64") for s in shapes]
    elif case == "nan_and_inf":
        scores = [rng.integers(0, 3, s).astype("float64") for s in shapes]
        scores[0][0, :5], scores[1][3:9], scores[2][0, 0, :2] = np.nan, np.inf, np.nan
        scores[0][2, :7], scores[2][1, 1, :] = -np.inf, np.nan  # -inf ranks above NaN
    else:
        scores = [np.ones(s) for s in shapes]
    got, want = _global_top_k_masks(scores, level), _masks_by_stable_sort(scores, level)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
