#!/usr/bin/env bash
# Reproduces the bundled default model from nothing but Debian's package archive, PyPI and this repository:
#   1. the instruction set (generated, bilingual) and the pretraining sources (with their cards)
#   2. `exaone comply scan` of both; training reads only the verified scan outputs
#   3. a byte-level BPE tokenizer learned on the screened text (`exaone tokenizer-train`)
#   4. pretraining on the screened corpus (`exaone train`), then SFT on the screened chats (`exaone finetune`)
#   5. the task score on held-out questions, validation perplexity, and the model card
# usage: bash scripts/train_default_model.sh [WORK_DIR] [--install]
#   WORK_DIR (default: train-default-model/) keeps every intermediate; the model is copied to models/exaone4-demo
#   only with --install. Stage lengths: PRETRAIN_STEPS, SFT_STEPS (environment), threads: EXAONE_THREADS.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-train-default-model}
INSTALL=0
for a in "$@"; do [ "$a" = "--install" ] && INSTALL=1; done
[ "$WORK" = "--install" ] && WORK=train-default-model
EXAONE=${EXAONE:-build/exaone}
THREADS=${EXAONE_THREADS:-$(nproc)}
PRETRAIN_STEPS=${PRETRAIN_STEPS:-300}
SFT_STEPS=${SFT_STEPS:-3200}
SEED=${SEED:-1}
[ -x "$EXAONE" ] || { echo "train_default_model: $EXAONE is not built (bash scripts/build.sh)" >&2; exit 2; }
mkdir -p "$WORK"
log() { printf '\n== %s\n' "$*" >&2; }

log "1. data: instruction set and pretraining sources"
python3 scripts/default_model/make_sft_data.py --out "$WORK/sft" --seed "$SEED"
python3 scripts/default_model/collect_corpus.py --out "$WORK/corpus" --cache "$WORK/cache" --prose "$WORK/sft/corpus.txt"
python3 scripts/default_model/sft_to_documents.py "$WORK/sft/train.jsonl" "$WORK/sft-docs"

# The generated chats are reported as they are (their findings are loopback addresses and example commands), and
# their repeats are deliberate upsampling of the rarer categories, so exact dedup is off for them.
log "2. compliance: screen the pretraining text (masking) and the generated chats"
"$EXAONE" comply scan --in "$WORK/corpus/sources" --out "$WORK/screened-corpus" --policy "$WORK/corpus/policy.json" \
  --action mask --force >&2
"$EXAONE" comply scan --in "$WORK/sft-docs" --out "$WORK/screened-sft" --policy "$WORK/corpus/policy.json" \
  --action report --no-near-dedup --no-exact-dedup --force >&2
"$EXAONE" comply verify "$WORK/screened-corpus" >&2
"$EXAONE" comply verify "$WORK/screened-sft" >&2

log "3. tokenizer: 4096 tokens, digits kept apart (numbers are read digit by digit)"
python3 scripts/default_model/tokenizer_text.py "$WORK/screened-corpus" "$WORK/screened-sft" "$WORK/tokenizer-text.txt"
"$EXAONE" tokenizer-train --data "$WORK/tokenizer-text.txt" --vocab-size 4096 -o "$WORK/tokenizer" --force >&2

log "4a. pretraining ($PRETRAIN_STEPS steps) on the screened corpus"
cp scripts/default_model/config.json "$WORK/config.json"
"$EXAONE" train -m "$WORK/tokenizer" --config "$WORK/config.json" --data "$WORK/screened-corpus" \
  --steps "$PRETRAIN_STEPS" --batch 8 --seq 256 --lr 2e-3 --warmup 30 --seed "$SEED" -t "$THREADS" \
  -o "$WORK/pretrained" >&2

log "4b. SFT ($SFT_STEPS steps) on the screened chats, loss on the assistant's tokens"
"$EXAONE" finetune -m "$WORK/pretrained" --data "$WORK/screened-sft" --steps "$SFT_STEPS" --batch 16 --seq 256 \
  --lr 1.5e-3 --warmup 100 --seed "$SEED" -t "$THREADS" -o "$WORK/model" >&2

# Greedy in both modes unless a flag says otherwise: a small model's answers are templated, and sampling (EXAONE's
# reasoning default is temperature 0.6) only adds errors.
printf '{\n "bos_token_id": 1,\n "eos_token_id": [8],\n "pad_token_id": 0,\n "do_sample": false,\n "temperature": 0.0\n}\n' \
  > "$WORK/model/generation_config.json"

log "5. evaluation"
python3 scripts/default_model/evaluate.py --exaone "$EXAONE" -m "$WORK/model" --test "$WORK/sft/test.jsonl" \
  --json "$WORK/eval.json" --threads "$THREADS" | tee "$WORK/eval.txt"
python3 scripts/default_model/valid_text.py "$WORK/sft/valid.jsonl" "$WORK/model" "$EXAONE" > "$WORK/valid.txt"
"$EXAONE" perplexity -m "$WORK/model" -f "$WORK/valid.txt" --ctx 256 -t "$THREADS" | tee "$WORK/perplexity.txt"
python3 scripts/default_model/write_card.py --work "$WORK" > "$WORK/model/README.md"

if [ "$INSTALL" = 1 ]; then
  log "installing into models/exaone4-demo"
  rm -rf models/exaone4-demo
  mkdir -p models/exaone4-demo
  for f in config.json generation_config.json model.safetensors tokenizer.json tokenizer_config.json \
           chat_template.jinja training_data.json README.md; do
    [ -f "$WORK/model/$f" ] && cp "$WORK/model/$f" models/exaone4-demo/
  done
  cp "$WORK/eval.json" models/exaone4-demo/eval.json
fi
echo "done: $WORK/model" >&2
