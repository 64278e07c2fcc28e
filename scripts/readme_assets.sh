#!/usr/bin/env bash
# Regenerate docs/images/dashboard.png and docs/images/steps_to_result.png from a finished study:
#   scripts/readme_assets.sh runs/default [--output DIR]
# See scripts/readme_assets.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python}" "$here/readme_assets.py" "$@"
