// Tokenizer throughput (MB/s of UTF-8 input) on a mixed Korean/English/code text, one thread.
// Compare with scripts/bench_tokenizer_hf.py, which times HF `tokenizers` on the same text and tokenizer files.
#include <benchmark/benchmark.h>

#include <string>

#include "tokenizer/tokenizer.h"
#include "util/json_file.h"

namespace {

const std::string kFixtures = std::string(EXAONE_SOURCE_DIR) + "/tests/fixtures/tokenizers";

const std::string& bench_text() {
  static const std::string text = exaone::read_text_file(kFixtures + "/bench_text.txt");
  return text;
}

void BM_Encode(benchmark::State& state, const char* name) {
  exaone::Tokenizer tok = exaone::Tokenizer::from_model_path(kFixtures + "/" + name);
  const std::string& text = bench_text();
  size_t tokens = 0;
  for (auto _ : state) {
    std::vector<int> ids = tok.encode(text);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
}

// First encode of a fresh tokenizer: the per-word BPE cache is empty.
void BM_EncodeCold(benchmark::State& state, const char* name) {
  const std::string& text = bench_text();
  for (auto _ : state) {
    state.PauseTiming();
    exaone::Tokenizer tok = exaone::Tokenizer::from_model_path(kFixtures + "/" + name);
    state.ResumeTiming();
    benchmark::DoNotOptimize(tok.encode(text).data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

void BM_Decode(benchmark::State& state, const char* name) {
  exaone::Tokenizer tok = exaone::Tokenizer::from_model_path(kFixtures + "/" + name);
  const std::string& text = bench_text();
  std::vector<int> ids = tok.encode(text);
  for (auto _ : state) benchmark::DoNotOptimize(tok.decode(ids).data());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

void BM_StreamingDecode(benchmark::State& state, const char* name) {
  exaone::Tokenizer tok = exaone::Tokenizer::from_model_path(kFixtures + "/" + name);
  const std::string& text = bench_text();
  std::vector<int> ids = tok.encode(text);
  for (auto _ : state) {
    exaone::StreamingDecoder sd(tok);
    size_t n = 0;
    for (int id : ids) n += sd.push(id).size();
    n += sd.flush().size();
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

}  // namespace

BENCHMARK_CAPTURE(BM_Encode, exaone4, "exaone4")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, exaone3, "exaone3")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, kexaone, "kexaone")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeCold, exaone4, "exaone4")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeCold, kexaone, "kexaone")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Decode, exaone4, "exaone4")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_StreamingDecode, exaone4, "exaone4")->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
