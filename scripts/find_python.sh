#!/usr/bin/env bash
# Prints the command of a Python 3 that tfbsz supports (setup.cfg: python_requires >= 3.10):
# $PYTHON when set, else `python3` when it is new enough, else the newest python3.N on PATH.
#   bash scripts/find_python.sh        -> e.g. "python3"
# Exits 2 with one line on stderr when none is found.
set -euo pipefail
MIN_MINOR=10   # Python 3.10; keep equal to python_requires in setup.cfg (a test checks)

supported() {
    command -v "$1" >/dev/null 2>&1 &&
        "$1" -c "import sys; sys.exit(0 if sys.version_info[:2] >= (3, $MIN_MINOR) else 1)" >/dev/null 2>&1
}

if [ -n "${PYTHON:-}" ]; then
    if supported "$PYTHON"; then echo "$PYTHON"; exit 0; fi
    echo "find_python: PYTHON=$PYTHON is not a Python >= 3.$MIN_MINOR" >&2
    exit 2
fi
for candidate in python3 $(for minor in $(seq 20 -1 "$MIN_MINOR"); do echo "python3.$minor"; done); do
    if supported "$candidate"; then echo "$candidate"; exit 0; fi
done
echo "find_python: no Python >= 3.$MIN_MINOR found (python3 is $(python3 --version 2>&1 || echo missing)); install one or set PYTHON" >&2
exit 2
