// Kernel throughput: matmul (decode GEMV and prefill GEMM shapes of EXAONE-4.0-1.2B) and
// attention over a long cache. Compare runs with EXAONE_KERNELS=scalar for the SIMD speed-up.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "util/half.h"

namespace exaone {
namespace {

void BM_Matmul(benchmark::State& state, DType type) {
  const int64_t T = state.range(0), N = state.range(1), K = state.range(2);
  std::mt19937 rng(1);
  std::normal_distribution<float> d;
  std::vector<float> wf(N * K), x(T * K), y(T * N);
  for (auto& v : wf) v = d(rng);
  for (auto& v : x) v = d(rng);
  std::vector<uint16_t> wh(N * K);
  MatrixRef w{type, wf.data(), N, K};
  if (type != DType::F32) {
    for (int64_t i = 0; i < N * K; ++i) wh[i] = type == DType::BF16 ? f32_to_bf16(wf[i]) : f32_to_f16(wf[i]);
    w.data = wh.data();
  }
  for (auto _ : state) {
    matmul(x.data(), T, w, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * T * N * K * state.iterations(), benchmark::Counter::kIsRate,
                                                 benchmark::Counter::OneK::kIs1000);
  state.counters["weight_GB/s"] = benchmark::Counter(double(dtype_bytes_for(type, N * K)) * state.iterations(),
                                                     benchmark::Counter::kIsRate, benchmark::Counter::OneK::kIs1000);
}
// 1.2B shapes: q/o 2048x2048, gate/up 4096x2048; decode T=1, prefill T=64.
BENCHMARK_CAPTURE(BM_Matmul, bf16, DType::BF16)->Args({1, 4096, 2048})->Args({64, 4096, 2048})->UseRealTime();
BENCHMARK_CAPTURE(BM_Matmul, f16, DType::F16)->Args({1, 4096, 2048})->UseRealTime();
BENCHMARK_CAPTURE(BM_Matmul, f32, DType::F32)->Args({1, 4096, 2048})->Args({64, 4096, 2048})->UseRealTime();

void BM_AttentionDecode(benchmark::State& state) {
  const int64_t n_past = state.range(0), H = 32, KV = 8, hd = 64;
  std::vector<float> k(n_past * KV * hd, 0.01f), v(n_past * KV * hd, 0.02f), q(H * hd, 0.1f), kc(KV * hd), vc(KV * hd),
      out(H * hd);
  AttentionShape s{H, KV, hd, 0, 0.125f};
  PastKV past{k.data(), v.data(), n_past, 0};
  for (auto _ : state) {
    attention(q.data(), kc.data(), vc.data(), 1, past, s, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["KV_GB/s"] = benchmark::Counter(2.0 * n_past * KV * hd * 4 * state.iterations(),
                                                 benchmark::Counter::kIsRate, benchmark::Counter::OneK::kIs1000);
}
BENCHMARK(BM_AttentionDecode)->Arg(512)->Arg(4096)->UseRealTime();

}  // namespace
}  // namespace exaone

BENCHMARK_MAIN();
