#!/usr/bin/env python
"""Regenerate the README images from a finished study folder.

    python scripts/readme_assets.py runs/default            # writes docs/images/*.png
    python scripts/readme_assets.py runs/default --output /tmp/images

Writes, into `--output` (default: docs/images of this repository):

* `dashboard.png`: the "Steps to target" TensorBoard tab over the study, taken in headless
  Chromium by the same code as the browser tests (tests/tb_plugin/browser_check.py: a real
  `tensorboard` on 127.0.0.1, nothing reached outside the machine);
* `steps_to_result.png`: the report's plot (`python -m tfbsz.report STUDY`, written to a temporary
  folder so the study's own `report/` is left alone).

Needs the Debian packages `chromium` and `chromium-driver`, `selenium`, and tfbsz installed with
`pip install -e .` (TensorBoard finds the plugin through its entry point). Exits with code 2 and
one line on stderr when the study folder is missing or the browser is not available.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from tb_plugin.browser_check import browser_available, browser_check  # noqa: E402

PROG = "readme_assets"


def write_assets(study, output):
    """Writes dashboard.png and steps_to_result.png for `study` into `output`; returns both paths."""
    os.makedirs(output, exist_ok=True)
    dashboard = os.path.join(output, "dashboard.png")
    snapshot = browser_check(study, dashboard)
    if snapshot["errors"] or not snapshot["chart_batch_sizes"]:
        raise RuntimeError(f"the dashboard shows no study data: {snapshot['status']!r} {snapshot['errors']}")
    steps = os.path.join(output, "steps_to_result.png")
    with tempfile.TemporaryDirectory(prefix="tfbsz-report-") as tmp:
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.run([sys.executable, "-m", "tfbsz.report", study, "--output", tmp],
                              capture_output=True, text=True, env=env, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"tfbsz.report failed: {proc.stderr.strip()}")
        shutil.copyfile(os.path.join(tmp, "steps_to_result.png"), steps)
    return [dashboard, steps]


def main(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("study", help="a finished study folder (the --output of python -m tfbsz.run)")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "images"),
                        help="where to write the PNGs (default: docs/images)")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.study):
        print(f"{PROG}: error: {args.study!r} is not a directory", file=sys.stderr)
        return 2
    available, reason = browser_available()
    if not available:
        print(f"{PROG}: error: {reason}", file=sys.stderr)
        return 2
    try:
        paths = write_assets(os.path.abspath(args.study), args.output)
    except (RuntimeError, AssertionError, TimeoutError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
