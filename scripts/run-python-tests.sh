#!/usr/bin/env bash
# Runs the Python end-to-end tests of `exaone serve` (tests/python) against $EXAONE_BINARY (default build/exaone).
# When the virtual environment cannot be made (no network, no venv module) the tests are skipped, not failed.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! log=$(bash scripts/python-env.sh 2>&1); then
  reason=$(printf '%s\n' "$log" | grep -v '^\s*$' | tail -n 1)
  echo "python tests skipped: could not set up .venv: ${reason:-unknown error}"
  exit 0
fi
export EXAONE_BINARY=${EXAONE_BINARY:-$PWD/build/exaone}
if [ ! -x "$EXAONE_BINARY" ]; then
  echo "run-python-tests: $EXAONE_BINARY is not an executable (build the project first)" >&2
  exit 1
fi
exec .venv/bin/python -m pytest tests/python -q -p no:cacheprovider "$@"
