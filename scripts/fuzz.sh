#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, AddressSanitizer + UBSan) and runs each one.
#   scripts/fuzz.sh            # 120 s per target
#   scripts/fuzz.sh --smoke    # 10 s per target (what the test suite runs)
#   scripts/fuzz.sh --seconds N [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=120
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) seconds=10 ;;
    --seconds) seconds="$2"; shift ;;
    *) targets+=("$1") ;;
  esac
  shift
done
CXX=${FUZZ_CXX:-clang++}
command -v "$CXX" >/dev/null || { echo "fuzz: $CXX not found (apt-get install clang)"; exit 1; }
out=build-fuzz
mkdir -p "$out"
[ ${#targets[@]} -gt 0 ] || targets=($(ls fuzz/fuzz_*.cpp | xargs -n1 basename | sed 's/\.cpp$//'))
# Sources each target needs (its area and the areas below it).
declare -A areas=([fuzz_safetensors]="util loaders" [fuzz_config]="util loaders kernels models"
                  [fuzz_gguf]="util loaders" [fuzz_lora_adapter]="util loaders" [fuzz_tokenizer]="util tokenizer" [fuzz_chat]="util chat"
                  [fuzz_request]="util tokenizer chat grammar" [fuzz_grammar]="util tokenizer grammar")
# Single files a target needs beyond whole areas (the request parser without the engine and HTTP).
declare -A files=([fuzz_request]="src/server/api.cpp src/server/openai_api.cpp src/server/ollama_api.cpp")
flags="-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc -DEXAONE_SOURCE_DIR=\"$PWD\""
for t in "${targets[@]}"; do
  srcs=()
  for a in ${areas[$t]:-util}; do srcs+=(src/$a/*.cpp); done
  srcs+=(${files[$t]:-})
  libs=""
  [[ " ${areas[$t]:-} " == *" tokenizer "* ]] && libs="-lpcre2-8"
  newest=$(ls -t fuzz/$t.cpp "${srcs[@]}" src/*/*.h | head -1)
  if [ ! -x "$out/$t" ] || [ "$newest" -nt "$out/$t" ]; then
    echo "fuzz: building $t"
    $CXX $flags -Wno-unknown-pragmas fuzz/$t.cpp "${srcs[@]}" $libs -o "$out/$t"
  fi
  corpus="$out/corpus-$t"
  mkdir -p "$corpus"
  seeds="fuzz/seeds/${t#fuzz_}"
  [ -d "$seeds" ] || seeds=""
  echo "fuzz: running $t for ${seconds}s"
  # The fuzzer's own exit status decides (a pipe into grep would hide it); crash inputs go to $out/.
  log="$out/$t.log"
  status=0
  "$out/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$out/$t-" "$corpus" $seeds > "$log" 2>&1 || status=$?
  grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)" "$log" || true
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $t failed (exit $status); the input that failed is under $out/, the log is $log:"
    grep -E "runtime error|ERROR|SUMMARY|Test unit written" "$log" | head -20
    exit 1
  fi
done
echo "fuzz: all targets passed"
