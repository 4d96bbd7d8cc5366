// Kernel throughput on EXAONE-4.0-1.2B shapes (gate/up projection: N=4096, K=2048):
//  - memory read bandwidth (streaming sum over 512 MiB, 1 and 2 threads), measured first so every
//    decode benchmark can report its fraction of the bandwidth roofline from the same run;
//  - matmul for each weight type at T=1 (decode GEMV), T=64 and T=512 (prefill GEMM), with the
//    previous widen-then-dot kernel ("baseline") and the scalar reference ("scalar") as baselines;
//  - the interleaved int8 GEMV's AVX2 and AVX-512 VNNI kernels side by side (BM_Interleaved).
// Decode benchmarks cycle through enough copies of the matrix (>= 256 MiB) that weights come from
// DRAM, as they do in a real model, not from the last-level cache.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "kernels/interleaved.h"
#include "util/huge_buffer.h"
#include "kernels/quant.h"
#include "kernels/quant_k.h"
#include "util/half.h"

namespace exaone {
namespace {

double g_bandwidth_gbs[3] = {0, 0, 0};  // by thread count, from BM_ReadBandwidth

void BM_ReadBandwidth(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const size_t n = (size_t{512} << 20) / sizeof(uint64_t);
  std::vector<uint64_t> buf(n);
#pragma omp parallel for num_threads(2)
  for (size_t i = 0; i < n; ++i) buf[i] = i;  // touch every page
  uint64_t total = 0;
  double seconds = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    uint64_t s = 0;
#pragma omp parallel for num_threads(threads) reduction(+ : s) schedule(static)
    for (size_t blk = 0; blk < n / 64; ++blk) {
      const uint64_t* p = buf.data() + blk * 64;
      uint64_t a = 0, b = 0, c = 0, d = 0;
      for (int i = 0; i < 64; i += 4) {
        a += p[i];
        b += p[i + 1];
        c += p[i + 2];
        d += p[i + 3];
      }
      s += (a + b) + (c + d);
    }
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    total += s;
  }
  benchmark::DoNotOptimize(total);
  const double gbs = double(n * sizeof(uint64_t)) * state.iterations() / seconds / 1e9;
  state.counters["read_GB/s"] = gbs;
  g_bandwidth_gbs[threads] = gbs;
}
BENCHMARK(BM_ReadBandwidth)->Arg(1)->Arg(2)->Iterations(5)->UseRealTime()->Unit(benchmark::kMillisecond);

// Int8: quantised weights on the int8 kernels at every T (the default switches to dequantised
// float panels from T=16 on CPUs without VNNI).
// Packed: Q4_0/Q8_0 with the 8-row interleaved copy the model builds at load (kernels/interleaved.h),
// on the best kernel the CPU has; PackedAvx2 / PackedVnni force the AVX2 or the AVX-512 VNNI one.
enum class Path { Fast, Int8, Baseline, Scalar, Packed, PackedAvx2, PackedVnni };

std::vector<uint8_t> make_weights(DType type, int64_t N, int64_t K, uint32_t seed) {
  std::mt19937 rng(seed);
  if (type == DType::Q4_K || type == DType::Q6_K) {  // random quants, sane scales
    std::vector<uint8_t> out(dtype_bytes_for(type, N * K));
    for (auto& b : out) b = static_cast<uint8_t>(rng());
    for (int64_t i = 0; i < N * K / kQKBlock; ++i) {
      if (type == DType::Q4_K) {
        auto* b = reinterpret_cast<BlockQ4_K*>(out.data()) + i;
        b->d = b->dmin = f32_to_f16(0.01f);
      } else {
        reinterpret_cast<BlockQ6_K*>(out.data())[i].d = f32_to_f16(0.001f);
      }
    }
    return out;
  }
  std::normal_distribution<float> d(0.0f, 0.05f);
  std::vector<float> wf(N * K);
  for (auto& v : wf) v = d(rng);
  return quantize_matrix_any(type, wf.data(), N, K);  // the community types too (kernels/quant_ext.h)
}

void BM_Matmul(benchmark::State& state, DType type, Path path) {
  const int64_t T = state.range(0), N = state.range(1), K = state.range(2);
  if (path == Path::PackedVnni && !use_avx512vnni()) {
    state.SkipWithError("CPU lacks AVX-512 VNNI (or EXAONE_KERNELS forces another path)");
    return;
  }
  const bool packed_path = path == Path::Packed || path == Path::PackedAvx2 || path == Path::PackedVnni;
  const size_t bytes = dtype_bytes_for(type, N * K);
  // Decode (and the server's batched decode, T <= 8): enough copies to defeat the LLC. Prefill is
  // compute-bound: one copy.
  const size_t copies = T <= 8 ? std::max<size_t>(1, ((size_t{256} << 20) + bytes - 1) / bytes) : 1;
  std::vector<std::vector<uint8_t>> w;
  for (size_t c = 0; c < copies; ++c)  // 4 distinct matrices, the other copies duplicate them (setup time)
    w.push_back(c < 4 ? make_weights(type, N, K, 1 + static_cast<uint32_t>(c)) : w[c % 4]);
  std::vector<HugeBuffer> packed;  // huge pages, as the model's repacked weights have
  if (packed_path)
    for (const auto& wc : w) {
      packed.push_back(allocate_huge(interleaved_bytes(type, N, K)));
      interleave_rows(type, wc.data(), K, 0, N, packed.back().get());
    }
  std::mt19937 rng(7);
  std::normal_distribution<float> d;
  std::vector<float> x(T * K), y(T * N);
  for (auto& v : x) v = d(rng);
  set_force_scalar_kernels(path == Path::Scalar);
  set_force_avx2_kernels(path == Path::PackedAvx2);
  if (path == Path::Int8) set_quantized_prefill_min_tokens(int64_t{1} << 40);
  size_t next = 0;
  double seconds = 0;
  for (auto _ : state) {
    const MatrixRef m{type, w[next].data(), N, K, packed.empty() ? nullptr : packed[next].get()};
    next = (next + 1) % copies;
    const auto t0 = std::chrono::steady_clock::now();
    if (path == Path::Baseline) matmul_widen_baseline(x.data(), T, m, y.data());
    else matmul(x.data(), T, m, y.data());
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    benchmark::DoNotOptimize(y.data());
  }
  set_force_scalar_kernels(false);
  set_force_avx2_kernels(false);
  set_quantized_prefill_min_tokens(16);
  const double it = double(state.iterations());
  state.counters["GFLOP/s"] = 2.0 * T * N * K * it / seconds / 1e9;
  state.counters["weight_GB/s"] = double(bytes) * it / seconds / 1e9;
  state.counters["tok/s"] = T * it / seconds;
  const int threads = std::min(2, omp_get_max_threads());
  if (T <= 8 && g_bandwidth_gbs[threads] > 0)
    state.counters["roofline_%"] = 100.0 * bytes * it / seconds / 1e9 / g_bandwidth_gbs[threads];
}

// Registration: decode (T=1) for every type and path; prefill T=64 and T=512 (fast and baseline;
// the scalar path only at T=64, it takes seconds per call at T=512).
void register_all() {
  const struct {
    const char* name;
    DType type;
  } types[] = {{"f32", DType::F32}, {"f16", DType::F16},   {"bf16", DType::BF16},
               {"q8_0", DType::Q8_0}, {"q4_0", DType::Q4_0}, {"q4_k", DType::Q4_K}, {"q6_k", DType::Q6_K},
               // community GGUF types: Q5_K and IQ4_XS have SIMD dots, the others the scalar ones
               {"q5_k", DType::Q5_K}, {"iq4_xs", DType::IQ4_XS}, {"q3_k", DType::Q3_K}, {"q2_k", DType::Q2_K},
               {"q4_1", DType::Q4_1}, {"q5_0", DType::Q5_0}, {"q5_1", DType::Q5_1}, {"iq4_nl", DType::IQ4_NL}};
  const struct {
    const char* name;
    Path path;
  } paths[] = {{"fast", Path::Fast},         {"int8", Path::Int8},     {"baseline", Path::Baseline},
               {"scalar", Path::Scalar},     {"packed", Path::Packed}};
  for (const auto& p : paths)
    for (const auto& t : types) {
      const bool quantized = t.type != DType::F32 && t.type != DType::F16 && t.type != DType::BF16;
      if (p.path == Path::Int8 && !quantized) continue;
      if (p.path == Path::Packed && !interleavable(t.type, 4096, 2048)) continue;
      auto* b = benchmark::RegisterBenchmark((std::string("BM_Matmul/") + t.name + "/" + p.name).c_str(),
                                             [t, p](benchmark::State& s) { BM_Matmul(s, t.type, p.path); });
      if (p.path != Path::Int8) b->Args({1, 4096, 2048});
      b->Args({64, 4096, 2048});
      if (p.path != Path::Scalar) b->Args({512, 4096, 2048});
      b->UseRealTime()->Unit(benchmark::kMillisecond);
    }
}

// The interleaved int8 GEMV on its AVX2 and its AVX-512 VNNI kernel, for each packed type, on the 1.2B
// model's 2048x2048 (attention output) and 4096x2048 (gate/up) matrices: decode (T=1), prefill
// tiles and the server's batched decode (T=4, 8), prefill (T=64).
void register_interleaved() {
  const struct {
    const char* name;
    DType type;
  } types[] = {{"q4_0", DType::Q4_0}, {"q8_0", DType::Q8_0}, {"q4_k", DType::Q4_K},
               {"q6_k", DType::Q6_K}, {"q5_k", DType::Q5_K}, {"iq4_xs", DType::IQ4_XS}};
  for (const auto& t : types)
    for (Path p : {Path::PackedAvx2, Path::PackedVnni}) {
      auto* b = benchmark::RegisterBenchmark(
          (std::string("BM_Interleaved/") + t.name + (p == Path::PackedAvx2 ? "/avx2" : "/vnni")).c_str(),
          [t, p](benchmark::State& s) { BM_Matmul(s, t.type, p); });
      for (int64_t N : {2048, 4096})
        for (int64_t T : {1, 4, 8, 64}) b->Args({T, N, 2048});
      b->UseRealTime()->Unit(benchmark::kMicrosecond);
    }
}

// Decode attention of one token over n_past cached positions, 1.2B shape (32 query heads over 8 kv
// heads of 64), the cache as F32 or F16. Like a real model's layers, calls cycle through enough
// separate caches (>= 256 MiB) that keys and values come from DRAM. KV_GB/s is the cache read rate;
// bw_frac its fraction of the same run's best read bandwidth at this thread count.
void BM_AttentionDecode(benchmark::State& state, DType kv_type) {
  const int64_t n_past = state.range(0), H = 32, KV = 8, hd = 64;
  const size_t elems = static_cast<size_t>(n_past * KV * hd), bytes = dtype_bytes_for(kv_type, elems);
  const size_t copies = std::max<size_t>(1, (256u << 20) / (2 * bytes) + 1);
  // Huge pages, as KVCache allocates them (util/huge_buffer.h).
  HugeBuffer arena_buf = allocate_huge(2 * bytes * copies);
  uint8_t* arena = arena_buf.get();
  std::vector<uint8_t*> ks(copies), vs(copies);
  std::vector<float> row(elems);
  for (size_t i = 0; i < elems; ++i) row[i] = 0.01f * static_cast<float>(i % 97);
  for (size_t c = 0; c < copies; ++c) {
    ks[c] = arena + 2 * bytes * c;
    vs[c] = ks[c] + bytes;
    for (uint8_t* buf : {ks[c], vs[c]}) {
      if (kv_type == DType::F16) {
        auto* h = reinterpret_cast<uint16_t*>(buf);
        for (size_t i = 0; i < elems; ++i) h[i] = f32_to_f16(row[i]);
      } else {
        std::memcpy(buf, row.data(), bytes);
      }
    }
  }
  std::vector<float> q(H * hd, 0.1f), kc(KV * hd), vc(KV * hd), out(H * hd);
  AttentionShape s{H, KV, hd, 0, 0.125f};
  size_t c = 0;
  for (auto _ : state) {
    PastKV past{ks[c], vs[c], n_past, 0, kv_type, /*tiled=*/true};  // as KVCache stores it
    attention(q.data(), kc.data(), vc.data(), 1, past, s, out.data());
    benchmark::DoNotOptimize(out.data());
    c = (c + 1) % copies;
  }
  const double gbs = 2.0 * static_cast<double>(bytes) * state.iterations();
  state.counters["KV_GB/s"] = benchmark::Counter(gbs, benchmark::Counter::kIsRate, benchmark::Counter::OneK::kIs1000);
  const int threads = std::min(2, omp_get_max_threads());
  if (g_bandwidth_gbs[threads] > 0)
    state.counters["bw_frac"] = benchmark::Counter(gbs / 1e9 / g_bandwidth_gbs[threads], benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_AttentionDecode, f32, DType::F32)->Arg(512)->Arg(2048)->Arg(4096)->UseRealTime();
BENCHMARK_CAPTURE(BM_AttentionDecode, f16, DType::F16)->Arg(512)->Arg(2048)->Arg(4096)->UseRealTime();

// Prefill of T tokens from an empty cache (causal): GFLOP/s counts the scores and the weighted
// values (2 * 2 * head_dim per visible key and query head).
void BM_AttentionPrefill(benchmark::State& state) {
  const int64_t T = state.range(0), H = 32, KV = 8, hd = 64;
  std::mt19937 rng(3);
  std::normal_distribution<float> d;
  std::vector<float> q(T * H * hd), k(T * KV * hd), v(T * KV * hd), out(T * H * hd);
  for (auto* buf : {&q, &k, &v})
    for (auto& x : *buf) x = d(rng);
  AttentionShape s{H, KV, hd, 0, 0.125f};
  PastKV past{};
  for (auto _ : state) {
    attention(q.data(), k.data(), v.data(), T, past, s, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  const double flops = 4.0 * hd * H * (T * (T + 1) / 2.0);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * state.iterations(), benchmark::Counter::kIsRate,
                                                 benchmark::Counter::OneK::kIs1000);
  state.counters["GFLOP/s"].value /= 1e9;
}
BENCHMARK(BM_AttentionPrefill)->Arg(512)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace exaone

int main(int argc, char** argv) {
  exaone::register_all();
  exaone::register_interleaved();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("cpu_features", exaone::cpu_features().summary());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
