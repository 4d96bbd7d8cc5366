// Throughput of `exaone comply`: detectors alone, the full per-document work, and scan() end
// to end (JSONL in, shards + manifest + report out). Documents are ~4 KB of Korean/English
// prose, each with one labelled evaluation snippet (so roughly 1 identifier per 1-2 KB).
//   build-*/bench/comply_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>
#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "comply/pipeline.h"
#include "comply/sha256.h"

using namespace exaone;
using namespace exaone::comply;

namespace {
const std::vector<std::string>& corpus() {
  static std::vector<std::string> docs = [] {
    std::vector<std::string> out;
    std::ifstream in(std::string(EXAONE_SOURCE_DIR) + "/tests/fixtures/comply/eval_set.jsonl");
    const char* prose[] = {
        "오늘 회의에서는 다음 분기 계획과 예산 집행 현황을 논의했으며, 각 부서는 주요 과제의 진행 상황을 공유했습니다. ",
        "The committee reviewed the draft and asked for a clearer summary of the risks, the schedule and the budget. ",
        "새로운 언어 모델은 한국어와 영어 모두에서 긴 문맥을 안정적으로 처리하며, 추론 모드에서 더 정확한 답을 냅니다. ",
        "Prices rose 3.2% in 2024 while 1,250 households took part in the survey across 17 regions of the country. "};
    std::string line;
    size_t k = 0;
    while (std::getline(in, line)) {
      std::string text = json::parse(line)["text"];
      std::string doc;
      while (doc.size() < 4000) doc += prose[k++ % 4];
      // Cut and insert on UTF-8 character boundaries.
      auto boundary = [](const std::string& s, size_t p) {
        while (p < s.size() && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) ++p;
        return std::min(p, s.size());
      };
      doc.insert(boundary(doc, doc.size() / 2), text.substr(0, boundary(text, 600)));
      out.push_back(doc);
    }
    return out;
  }();
  return docs;
}
// CPU time of the whole process (every thread), for throughput per core on a shared machine.
double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}
size_t corpus_bytes() {
  size_t n = 0;
  for (auto& d : corpus()) n += d.size();
  return n;
}
}  // namespace

static void BM_Detect(benchmark::State& st) {
  for (auto _ : st)
    for (auto& d : corpus()) benchmark::DoNotOptimize(detect(d));
  st.SetBytesProcessed(int64_t(st.iterations()) * corpus_bytes());
}
BENCHMARK(BM_Detect)->Unit(benchmark::kMillisecond);

// detect + mask + two SHA-256 + normalise + exact hash + 128-permutation MinHash, per document,
// spread over `threads` OpenMP threads.
static void BM_ProcessText(benchmark::State& st) {
  int threads = static_cast<int>(st.range(0));
  DedupConfig cfg;
  const auto& docs = corpus();
  double cpu0 = process_cpu_seconds();
  for (auto _ : st) {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 8)
    for (size_t i = 0; i < docs.size(); ++i) benchmark::DoNotOptimize(process_text(docs[i], Action::Mask, "", 0.5, cfg));
  }
  double cpu = process_cpu_seconds() - cpu0;
  st.SetBytesProcessed(int64_t(st.iterations()) * corpus_bytes());
  st.counters["MB_per_cpu_s"] = double(st.iterations()) * double(corpus_bytes()) / 1e6 / cpu;
}
BENCHMARK(BM_ProcessText)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// SHA-256 of a 1 MiB buffer (SHA-NI when the CPU has it).
static void BM_Sha256(benchmark::State& st) {
  std::string buf(1 << 20, 'x');
  for (auto _ : st) benchmark::DoNotOptimize(sha256(buf));
  st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(buf.size()));
  st.SetLabel(sha256_hw_available() ? "SHA-NI" : "portable");
}
BENCHMARK(BM_Sha256)->Unit(benchmark::kMillisecond);

// The whole scan: read JSONL, process, dedup, licence screen, write shards/manifest/report/digests.
static void BM_ScanEndToEnd(benchmark::State& st) {
  namespace fs = std::filesystem;
  fs::path root = fs::temp_directory_path() / ("comply_bench_" + std::to_string(::getpid()));
  fs::create_directories(root / "in");
  {
    std::ofstream(root / "in" / "source.json") << R"({"name":"bench","license":"CC-BY-4.0","commercial_use":true})";
    std::ofstream f(root / "in" / "docs.jsonl");
    for (int rep = 0; rep < 8; ++rep)  // ~20 MB: several batches, so reading, work and writing overlap
      for (size_t i = 0; i < corpus().size(); ++i)
        f << json{{"id", std::to_string(rep) + "-" + std::to_string(i)}, {"text", corpus()[i] + std::to_string(rep)}}.dump()
          << "\n";
  }
  size_t bytes = fs::file_size(root / "in" / "docs.jsonl");
  ScanOptions o;
  o.input = (root / "in").string();
  o.out_dir = (root / "out").string();
  o.action = Action::Mask;
  o.force = true;
  o.threads = static_cast<int>(st.range(0));
  double cpu0 = process_cpu_seconds();
  for (auto _ : st) scan(o);
  double cpu = process_cpu_seconds() - cpu0;
  st.SetBytesProcessed(int64_t(st.iterations()) * bytes);
  // Input MB per second of CPU time summed over all threads; x2 estimates an idle 2-core machine.
  st.counters["MB_per_cpu_s"] = double(st.iterations()) * double(bytes) / 1e6 / cpu;
  fs::remove_all(root);
}
BENCHMARK(BM_ScanEndToEnd)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
