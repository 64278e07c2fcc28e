"""One real `python -m tfbsz.run` study (configs/smoke.yaml with the gradient noise scale on),
run once per pytest process and shared by the tests that need real study files.

    from real_study import smoke_study_with_noise_scale
    root = smoke_study_with_noise_scale()      # pathlib.Path of the finished study

Batch sizes 16 and 64 (two trials each); `noise_scale.every=5` so every measurement row has a
`train/gradient_noise_scale` value. About 30 s on a 2-core CPU. The folder is removed at exit.
"""

import atexit
import functools
import pathlib
import shutil
import tempfile

from helpers import run_cli

SMOKE_BATCH_SIZES = [16, 64]
CLI_ARGS = ["--config", "configs/smoke.yaml", "--set", "noise_scale.enabled=true",
            "--set", "noise_scale.every=5", "--progress", "plain"]


@functools.lru_cache(maxsize=None)
def smoke_study_with_noise_scale():
    """Runs the smoke study once (raising with the CLI's stderr if it fails); returns its root."""
    parent = pathlib.Path(tempfile.mkdtemp(prefix="tfbsz-real-study-"))
    atexit.register(shutil.rmtree, parent, ignore_errors=True)
    root = parent / "smoke"
    proc = run_cli([*CLI_ARGS, "--output", str(root)], timeout=600)
    if proc.returncode != 0:
        raise AssertionError(f"tfbsz.run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return root
