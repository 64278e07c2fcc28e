#!/usr/bin/env bash
# Installs tfbsz with its test dependencies into .venv and runs the whole test suite.
#   bash scripts/test.sh            (extra arguments go to pytest, e.g. -k config)
# Tests run in TFBSZ_TEST_WORKERS processes (default 2, pytest-xdist; 0 runs them in this one),
# each test file in one process (its module fixtures are built once).
# The dashboard's browser test needs Debian's chromium and chromium-driver; they are installed
# here when missing and this script runs as root (CI), and the test is skipped otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
# Any supported Python 3 (>= 3.10): $PYTHON, else python3, else the newest python3.N on PATH.
if [ ! -x .venv/bin/python ]; then
    PYTHON="$(bash scripts/find_python.sh)"
    "$PYTHON" -m venv .venv
elif ! PYTHON=.venv/bin/python bash scripts/find_python.sh >/dev/null; then
    echo "test.sh: .venv holds an unsupported Python ($(.venv/bin/python --version 2>&1)); remove .venv and rerun" >&2
    exit 2
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[cpu,test]"
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing chromium and chromium-driver for the dashboard test"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
            >/dev/null 2>&1 || echo "could not install chromium; the browser test will be skipped"
    fi
fi
exec .venv/bin/python -m pytest -n "${TFBSZ_TEST_WORKERS:-2}" --dist loadfile "$@"
