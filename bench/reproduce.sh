#!/usr/bin/env bash
# Issue 12: the whole reproduction on one GPU, then the verdicts and plots (docs/reproduction.md).
#
#   bash bench/reproduce.sh --scale gpu10 --out OUT     # ~8 min on one H200 (JAX backend)
#   bash bench/reproduce.sh --scale full  --out OUT     # issue 12 as specified (hours)
#   bash bench/reproduce.sh --scale tiny  --out /tmp/r  # CPU smoke (minutes)
#
# Every argument goes to bench/reproduce.py (see its --help); the claims step reads --out.
set -u
cd "$(dirname "$0")/.."
export KERAS_BACKEND="${KERAS_BACKEND:-jax}"
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD"
PYTHON="${PYTHON:-python3}"
out=""
prev=""
for arg in "$@"; do
  if [ "$prev" = "--out" ]; then out="$arg"; fi
  case "$arg" in --out=*) out="${arg#--out=}";; esac
  prev="$arg"
done
"$PYTHON" bench/reproduce.py "$@"
status=$?
if [ -n "$out" ] && [ -d "$out" ]; then
  "$PYTHON" bench/reproduction_claims.py "$out" || status=$?
fi
exit $status
