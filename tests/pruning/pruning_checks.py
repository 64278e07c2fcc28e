"""Backend-agnostic pruning checks, run in-process (TensorFlow) and in a JAX subprocess.

Not a test module: `test_*.py` files load it with `runpy.run_path`.
"""

import numpy as np

import keras
from keras import ops

from tfbsz.training import pruning

INPUTS, HIDDEN, CLASSES = 6, 16, 3


def tiny_model(seed=0, activation="relu", bias_initializer="zeros"):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((INPUTS,)),
            keras.layers.Dense(HIDDEN, activation=activation, bias_initializer=bias_initializer,
                               name="hidden"),
            keras.layers.Dense(CLASSES, bias_initializer=bias_initializer, name="logits"),
        ],
        name="tiny",
    )


def random_batches(batch_size, count, seed=1):
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=(batch_size, INPUTS)).astype("float32"),
         rng.integers(0, CLASSES, size=batch_size).astype("int32"))
        for _ in range(count)
    ]


def masks_of(model):
    return {
        v.path: ops.convert_to_numpy(v.constraint.mask)
        for v in model.trainable_variables
        if isinstance(v.constraint, pruning.MaskConstraint)
    }


def check_masks_hold(model, optimizer, steps=25, batch_size=8, level=0.8, method="magnitude"):
    """Prunes `model`, trains `steps` batches, checks the pruned weights are exactly zero."""
    data = random_batches(batch_size, steps)
    report = pruning.apply_pruning(
        model, {"method": method, "level": level, "batches": 2}, batches=iter(data)
    )
    assert report["pruned"] == round(level * report["size"]), report
    masks = masks_of(model)
    before = {v.path: ops.convert_to_numpy(v).copy() for v in model.trainable_variables}
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x = np.concatenate([b[0] for b in data])
    y = np.concatenate([b[1] for b in data])
    model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    moved = 0.0
    for v in model.trainable_variables:
        w = ops.convert_to_numpy(v).astype("float64")
        if v.path in masks:
            pruned = masks[v.path] == 0
            assert np.all(w[pruned] == 0.0), f"{v.path}: pruned weights moved: {w[pruned]}"
            moved += float(np.abs(w - before[v.path])[~pruned].sum())
    assert moved > 1e-3, "training did not change the kept weights; the check proves nothing"
    after = pruning.sparsity_report(model)
    for path, layer in after["layers"].items():
        assert layer["zeros"] >= layer["pruned"], (path, layer)
    return after


# ---------------------------------------------------------------------------------------------
# SNIP against a float64 NumPy reference
# ---------------------------------------------------------------------------------------------


def reference_snip_scores(weights, batches):
    """|w * sum_b dL_b/dw| for Dense(tanh) -> Dense logits with mean sparse cross-entropy."""
    w1, b1, w2, b2 = (np.asarray(w, "float64") for w in weights)
    grads = [np.zeros_like(w) for w in (w1, b1, w2, b2)]
    for x, y in batches:
        x = x.astype("float64")
        a1 = np.tanh(x @ w1 + b1)
        z2 = a1 @ w2 + b2
        p = np.exp(z2 - z2.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        dz2 = p.copy()
        dz2[np.arange(len(y)), y] -= 1.0
        dz2 /= len(y)
        dz1 = (dz2 @ w2.T) * (1.0 - a1**2)
        for total, g in zip(grads, (x.T @ dz1, dz1.sum(0), a1.T @ dz2, dz2.sum(0))):
            total += g
    return [np.abs(w * g) for w, g in zip((w1, b1, w2, b2), grads)]


def reference_masks(scores, level):
    flat = np.concatenate([s.ravel() for s in scores])
    prune = int(round(level * flat.size))
    order = np.argsort(flat)  # ascending: the first `prune` go
    threshold_gap = flat[order[prune]] - flat[order[prune - 1]]
    keep = np.ones(flat.size)
    keep[order[:prune]] = 0.0
    masks, start = [], 0
    for s in scores:
        masks.append(keep[start : start + s.size].reshape(s.shape))
        start += s.size
    return masks, threshold_gap / max(flat.max(), 1e-30)


def check_snip_matches_reference(include, level=0.7, num_batches=3, seed=3):
    model = tiny_model(seed=seed, activation="tanh", bias_initializer="random_normal")
    data = random_batches(5, num_batches + 2, seed=7)
    weights = [ops.convert_to_numpy(v) for v in model.trainable_variables]
    scores = reference_snip_scores(weights, data[:num_batches])
    if include is None:  # default: kernels only
        scores = [scores[0], scores[2]]
    expected, relative_gap = reference_masks(scores, level)
    # The boundary scores must be well separated, or float32 vs float64 could flip them.
    assert relative_gap > 1e-5, relative_gap
    cfg = {"method": "snip", "level": level, "batches": num_batches}
    if include is not None:
        cfg["include"] = include
    report = pruning.apply_pruning(model, cfg, batches=iter(data))
    assert report["batches"] == num_batches, report
    got = list(masks_of(model).values())
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
    return report
