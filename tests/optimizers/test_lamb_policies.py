"""The same small model trained with LAMB under each dtype policy, strategy and backend.

Reference run: float32, one device, TensorFlow backend, 16 updates (2 epochs of
8 batches), fixed initial weights, no shuffling. Compared: per-epoch training
losses and the final full-data loss, as relative differences.

Tolerances and why (observed maxima on this machine in brackets):
* MirroredStrategy over two logical CPUs, float32: 1e-5 [1.4e-7]. Only the
  order of the cross-replica gradient sum changes (float32 rounding, ~1e-7).
* JAX backend, float32: 1e-5. Different matmul/reduction kernels, same maths,
  so float32 rounding only.
* mixed_float16, with and without MirroredStrategy: 2e-3 [1.7e-4]. Matmuls and
  activations round to 11 significant bits (4.9e-4 relative per operation);
  the loss scale is a power of two and cancels exactly, so only rounding is
  left, and the mean over a batch averages much of it away.
* mixed_bfloat16, with and without MirroredStrategy: 2e-2 [2.4e-3]. bfloat16
  keeps 8 significant bits (3.9e-3 per operation), eight times coarser.
The tolerances are about ten times the observed differences: tight enough that
a wrong update (a skipped bias correction, decay applied twice, a trust ratio
from a half-precision norm) moves the losses by more. Each run must also learn:
the final loss is below 75% of the initial one.
"""

import numpy as np
import pytest

from optimizers.driver import subprocess_result
from optimizers.policy_model import mirrored_strategy, train

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def baseline():
    losses, model = train("float32")
    return losses


def _assert_close(losses, baseline, rtol):
    np.testing.assert_allclose(losses, baseline, rtol=rtol)
    assert losses[-1] < 0.75 * baseline[0]


def test_baseline_learns(baseline):
    assert baseline[-1] < 0.75 * baseline[0], baseline


@pytest.mark.parametrize("policy,use_mirrored,rtol", [
    ("float32", True, 1e-5),
    ("mixed_float16", False, 2e-3),
    ("mixed_float16", True, 2e-3),
    ("mixed_bfloat16", False, 2e-2),
    ("mixed_bfloat16", True, 2e-2),
])
def test_policy_and_strategy_agree_with_float32(baseline, policy, use_mirrored, rtol):
    losses, model = train(policy, strategy=mirrored_strategy() if use_mirrored else None)
    if policy == "mixed_float16":
        assert type(model.optimizer).__name__ == "LossScaleOptimizer"
        assert type(model.optimizer.inner_optimizer).__name__ == "LAMB"
    _assert_close(losses, baseline, rtol)


def test_jax_backend_agrees(baseline):
    """On JAX: the model's losses, and jitted stateless steps against the NumPy reference."""
    code = (
        "import sys, json; sys.path.insert(0, 'tests')\n"
        "from optimizers.policy_model import train\n"
        "from optimizers.driver import stateless_trajectory, max_relative_error\n"
        "from optimizers.reference import LAMB_VARIANTS, LARS_VARIANTS, reference_trajectory\n"
        "from tfbsz.optimizers import LAMB, LARS\n"
        "losses, _ = train('float32', jit_compile=True)\n"
        "errors = [max_relative_error(stateless_trajectory(cls, variants[name]),\n"
        "                             reference_trajectory(alg, variants[name]))\n"
        "          for cls, alg, variants, name in [(LAMB, 'lamb', LAMB_VARIANTS, 'global_norm'),\n"
        "                                           (LARS, 'lars', LARS_VARIANTS, 'nesterov')]]\n"
        "print('RESULT', json.dumps({'losses': losses, 'errors': errors}))\n"
    )
    found = subprocess_result(code, backend="jax", timeout=240)
    assert max(found["errors"]) <= 1e-6, found["errors"]
    _assert_close(found["losses"], baseline, 1e-5)
