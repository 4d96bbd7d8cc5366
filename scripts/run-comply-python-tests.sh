#!/usr/bin/env bash
# Builds the exaone_comply package (python/) into its own virtual environment and runs its pytest
# tests (tests/python_comply), the Ray Data scan included. Usage: run-comply-python-tests.sh [BUILD_DIR]
# The venv and the package's build folder live in BUILD_DIR (default build/). When the venv or
# its packages cannot be installed (no network, no venv module) the tests are skipped, not
# failed; a package that does not compile fails. Without ray the Ray tests skip, saying so.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
mkdir -p "$build"
build=$(cd "$build" && pwd)
venv=$build/comply-venv
PYTHON=${PYTHON:-python3}
pip_quiet=(--quiet --disable-pip-version-check --timeout 30 --retries 2)

skip() { echo "comply python tests skipped: $*"; exit 0; }

if [ ! -x "$venv/bin/python" ]; then
  "$PYTHON" -m venv "$venv" >/dev/null 2>&1 || { rm -rf "$venv"; skip "'$PYTHON -m venv' failed (Debian: apt-get install python3-venv)"; }
fi
py=$venv/bin/python
if ! "$py" -c "import pytest, pyarrow, numpy, psutil, pybind11, scikit_build_core" 2>/dev/null; then
  if ! log=$("$py" -m pip install "${pip_quiet[@]}" pytest pyarrow numpy psutil pybind11 scikit-build-core 2>&1); then
    skip "pip could not install the test packages: $(printf '%s\n' "$log" | grep -v '^\s*$' | tail -n 1)"
  fi
fi
# Ray is large (about 500 MB with its dependencies); EXAONE_COMPLY_NO_RAY=1 leaves it out and
# the Ray tests then report themselves skipped.
if [ "${EXAONE_COMPLY_NO_RAY:-0}" != 1 ] && ! "$py" -c "import ray.data" 2>/dev/null; then
  "$py" -m pip install "${pip_quiet[@]}" "ray[data]" >/dev/null 2>&1 || echo "ray could not be installed: the Ray tests skip"
fi
# Incremental: the CMake build folder is kept between runs.
if ! "$py" -m pip install "${pip_quiet[@]}" --no-build-isolation -C build-dir="$build/comply-python-build" ./python; then
  echo "run-comply-python-tests: building the exaone_comply package failed" >&2
  exit 1
fi
# Ray must not find a cluster of the user's: the tests start their own, on loopback.
unset RAY_ADDRESS
exec "$py" -m pytest tests/python_comply -q -p no:cacheprovider -rs "$@"
