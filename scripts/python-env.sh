#!/usr/bin/env bash
# Creates the Python virtual environment .venv (git-ignored) with tests/python/requirements.txt installed.
# Idempotent: a stamp holding the requirements' hash skips pip when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
req=tests/python/requirements.txt
stamp=$venv/.requirements.sha256
PYTHON=${PYTHON:-python3}

want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && "$venv/bin/python" -c "import pytest, openai, ollama, requests, selenium, jsonschema" 2>/dev/null; then
  exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  "$PYTHON" -m venv "$venv" || { rm -rf "$venv"; echo "python-env: '$PYTHON -m venv' failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
fi
rm -f "$stamp"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --timeout 30 --retries 2 -r "$req"
echo "$want" > "$stamp"
