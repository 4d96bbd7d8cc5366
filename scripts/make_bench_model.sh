#!/usr/bin/env bash
# Makes the random-weight benchmark checkpoint (default: the EXAONE-4.0-1.2B shape, BF16, as a
# Hugging Face folder) with the hidden `exaone make-model`, converts it to GGUF (Q8_0, Q4_0, Q4_K_M, F16)
# with `exaone convert`, and runs `exaone bench` on each. Needs only the exaone binary and python3
# (which pads a tokenizer so llama.cpp loads the files too); no downloads. Everything is written under
# models/*-bench*/ (git-ignored); about 4.7 GB for the 1.2B shape. Figures go to docs/benchmarks.md by hand.
#
# Usage: scripts/make_bench_model.sh [path/to/exaone]     (default: build/exaone)
# Environment: SHAPE (1.2b | 32b-mini | tiny; default 1.2b), TYPES (default "bf16 q8_0 q4_0 q4_k_m f16"),
#   THREADS (2), PROMPT (512), GEN (128), REPS (3), BENCH=0 to only make the files,
#   CLEAN=1 to delete them afterwards.
set -euo pipefail

cd "$(dirname "$0")/.."
EXAONE=${1:-build/exaone}
SHAPE=${SHAPE:-1.2b}
TYPES=${TYPES:-"bf16 q8_0 q4_0 q4_k_m f16"}
THREADS=${THREADS:-2}
PROMPT=${PROMPT:-512}
GEN=${GEN:-128}
REPS=${REPS:-3}
HF_DIR=models/exaone4-${SHAPE}-bench
GGUF_DIR=models/exaone4-${SHAPE}-bench-gguf
RESULTS=models/exaone4-${SHAPE}-bench-results

[[ -x $EXAONE ]] || { echo "error: $EXAONE is not an executable (build the exaone target first)" >&2; exit 2; }
mkdir -p "$GGUF_DIR" "$RESULTS"

if [[ ! -f $HF_DIR/config.json ]]; then
  "$EXAONE" make-model --shape "$SHAPE" --dtype bf16 -o "$HF_DIR"
fi
# A padded fixture tokenizer, so that llama.cpp loads the GGUF files too (bench/vs_llamacpp.sh).
[[ -f $HF_DIR/tokenizer.json ]] || python3 scripts/bench_tokenizer.py "$HF_DIR"
for t in $TYPES; do
  [[ $t == bf16 ]] && continue
  [[ -f $GGUF_DIR/$t.gguf ]] || "$EXAONE" convert -m "$HF_DIR" -t "$t" -o "$GGUF_DIR/$t.gguf"
done

if [[ ${BENCH:-1} != 0 ]]; then
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)'), $(date -u +%Y-%m-%dT%H:%MZ)"
  for t in $TYPES; do
    model=$HF_DIR
    [[ $t == bf16 ]] || model=$GGUF_DIR/$t.gguf
    echo "== $t: $EXAONE bench -m $model -p $PROMPT -n $GEN -t $THREADS -r $REPS"
    "$EXAONE" bench -m "$model" -p "$PROMPT" -n "$GEN" -t "$THREADS" -r "$REPS" --json | tee "$RESULTS/$t-p$PROMPT-n$GEN-t$THREADS.json"
  done
fi

if [[ ${CLEAN:-0} == 1 ]]; then
  rm -rf "$HF_DIR" "$GGUF_DIR"
fi
