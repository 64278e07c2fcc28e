"""tfbsz's LARS and LAMB against the float64 NumPy reference, step by step.

Every variant of `reference.LAMB_VARIANTS` / `LARS_VARIANTS` runs 20 steps on
random gradients over six variables (rank 1 to 3, two zero-initialised, one
with zero gradient for five steps), with a learning rate changed before every
step. Per step and variable, the norm-wise relative error
||w_tfbsz - w_ref|| / ||w_ref|| must be at most 1e-6 in float32. The reference
itself is pinned by golden trajectories (golden/*.json, written by
`python tests/optimizers/reference.py`).
"""

import json
import os

import numpy as np
import pytest

from optimizers.driver import max_relative_error, tfbsz_trajectory
from optimizers.reference import (
    GOLDEN_DIR,
    LAMB_VARIANTS,
    LARS_VARIANTS,
    reference_trajectory,
)
from tfbsz.optimizers import LAMB, LARS

TOLERANCE = 1e-6
CASES = [("lamb", name) for name in LAMB_VARIANTS] + [("lars", name) for name in LARS_VARIANTS]


def _options(algorithm, name):
    return (LAMB_VARIANTS if algorithm == "lamb" else LARS_VARIANTS)[name]


@pytest.mark.parametrize("algorithm,variant", CASES, ids=[f"{a}-{n}" for a, n in CASES])
def test_matches_float64_reference(algorithm, variant):
    options = _options(algorithm, variant)
    cls = LAMB if algorithm == "lamb" else LARS
    _, history = tfbsz_trajectory(cls, options)
    reference = reference_trajectory(algorithm, options)
    assert len(history) == 20
    error = max_relative_error(history, reference)
    assert error <= TOLERANCE, f"{algorithm}/{variant}: relative error {error:.3g}"


@pytest.mark.parametrize("algorithm,variant", CASES, ids=[f"{a}-{n}" for a, n in CASES])
def test_reference_matches_golden(algorithm, variant):
    with open(os.path.join(GOLDEN_DIR, f"{algorithm}.json")) as f:
        golden = json.load(f)[variant]
    history = reference_trajectory(algorithm, _options(algorithm, variant))
    norms = [[np.linalg.norm(x) for x in step] for step in history]
    np.testing.assert_allclose(norms, golden["norms"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(history[-1][4].ravel(), golden["final_head_kernel"], rtol=1e-9)


def test_variants_really_differ():
    """Each option changes the trajectory, so a flag silently ignored would be caught."""
    finals = {}
    for algorithm, name in CASES:
        history = reference_trajectory(algorithm, _options(algorithm, name))
        finals[(algorithm, name)] = np.concatenate([x.ravel() for x in history[-1]])
    keys = list(finals)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            if a[0] == b[0]:
                assert not np.allclose(finals[a], finals[b], rtol=1e-4), (a, b)
