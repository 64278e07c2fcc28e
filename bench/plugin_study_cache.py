"""The dashboard's `/study` on a study with one large measurements.csv: first request, then repeats.

A logdir with one tfbsz study whose trial has a `measurements.csv` of `--megabytes` MB (under the
16 MiB per-file cap) is served by the plugin in process (TensorBoard's WSGI app, werkzeug test
client). The first request reads and parses every file; later ones find the study and the answer
in the plugin's caches (kept until a file's modification time or size changes), so they cost only
the `stat` of each file. Peak memory of the process is printed (`resource.getrusage`).

    python bench/plugin_study_cache.py [--megabytes 15] [--repeats 5]

Prints the first request's time, the median of the repeats and their ratio.
"""

import argparse
import json
import os
import pathlib
import resource
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tensorboard.backend import application  # noqa: E402
from tensorboard.plugins import base_plugin  # noqa: E402
from werkzeug import test as werkzeug_test  # noqa: E402
from werkzeug import wrappers  # noqa: E402

from tfbsz.records import results  # noqa: E402
from tfbsz.tb_plugin.plugin import StepsToTargetPlugin  # noqa: E402


def write_study(root, megabytes):
    results.write_json(root / results.STUDY_MARKER, {
        "dataset": "digits", "model": "mlp", "optimizer": "sgd",
        "target": {"metric": "val/classification_error", "threshold": 0.05, "direction": "min"}})
    bs_dir = results.batch_size_dir(root, "digits", "mlp", "sgd", 32)
    results.write_json(bs_dir / "study.json", {"batch_size": 32})
    row = {"step": 0, "examples_seen": 0, "wall_time_s": 0.0, "learning_rate": 0.1,
           "train/cross_entropy_error": 1.0, "val/cross_entropy_error": 1.0, "val/classification_error": 0.5}
    rows, size = [], 0
    while size < megabytes * 1e6:
        step = len(rows) + 1
        rows.append({**row, "step": step, "examples_seen": 32 * step, "wall_time_s": 0.01 * step,
                     "val/classification_error": 0.5 / (1 + step / 1e5)})
        size += 55  # bytes per row, about
    results.write_trial(results.trial_dir(bs_dir, 0), {"learning_rate": 0.1}, "COMPLETE", len(rows), rows)
    return os.path.getsize(results.trial_dir(bs_dir, 0) / "measurements.csv")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=15.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logdir = tempfile.mkdtemp(prefix="tfbsz-bench-plugin-")
    size = write_study(pathlib.Path(logdir) / "big", args.megabytes)
    plugin = StepsToTargetPlugin(base_plugin.TBContext(logdir=logdir))
    client = werkzeug_test.Client(application.TensorBoardWSGI([plugin]), wrappers.Response)

    def request():
        start = time.perf_counter()
        response = client.get("/data/plugin/tfbsz/study?run=big")
        elapsed = time.perf_counter() - start
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        json.loads(response.get_data())
        return elapsed

    first = request()
    repeats = [request() for _ in range(args.repeats)]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    median = statistics.median(repeats)
    print(f"measurements.csv: {size / 1e6:.1f} MB")
    print(f"first request:    {first * 1000:.0f} ms")
    print(f"repeated (median of {args.repeats}): {median * 1000:.1f} ms   first / repeated = {first / median:.0f}x")
    print(f"peak resident memory of the process: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
