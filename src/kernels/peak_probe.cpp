#include "kernels/peak_probe.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "kernels/cpu_features.h"

namespace exaone {

namespace {

// Independent accumulator chains (more than latency x throughput) of the widest FMA; returns the
// FLOPs done. The result is kept so the loop is not optimised away.
__attribute__((target("avx512f"))) double peak_loop_avx512(int64_t iters, float* sink) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i) * 1e-3f);
  const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-4f);
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  __m512 s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, acc[i]);
  *sink = _mm512_reduce_add_ps(s);
  return static_cast<double>(iters) * 16 * 16 * 2;
}

__attribute__((target("avx2,fma"))) double peak_loop_avx2(int64_t iters, float* sink) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i) * 1e-3f);
  const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-4f);
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  float v[8];
  _mm256_storeu_ps(v, s);
  *sink = v[0] + v[7];
  return static_cast<double>(iters) * 12 * 8 * 2;
}

__attribute__((target("avx512f,avx512bf16"))) double peak_loop_bf16(int64_t iters, float* sink) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i) * 1e-3f);
  const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), y = (__m512bh)_mm512_set1_epi32(0x38d138d1);
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
  __m512 s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, acc[i]);
  *sink = _mm512_reduce_add_ps(s);
  return static_cast<double>(iters) * 16 * 32 * 2;  // 32 pairs x 2 FLOPs per instruction
}


// u8 x s8 with int32 accumulation: 512-bit vpdpbusd (64 MACs), or AVX2's vpmaddubsw (32 MACs into
// int16 pairs) + vpmaddwd (to int32) + vpaddd, the sequence the AVX2 int8 kernels use. Returns the
// operations (2 per MAC).
__attribute__((target("avx512f,avx512bw,avx512vnni"))) double peak_loop_vnni(int64_t iters, float* sink) {
  __m512i acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i x = _mm512_set1_epi8(3), y = _mm512_set1_epi8(-2);
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], x, y);
  __m512i s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_epi32(s, acc[i]);
  *sink = static_cast<float>(_mm512_reduce_add_epi32(s));
  return static_cast<double>(iters) * 16 * 64 * 2;
}

__attribute__((target("avx2"))) double peak_loop_int8_avx2(int64_t iters, float* sink) {
  __m256i acc[8];
  for (int i = 0; i < 8; ++i) acc[i] = _mm256_set1_epi32(i);
  const __m256i x = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
  __m256i y[8];
  for (int i = 0; i < 8; ++i) y[i] = _mm256_set1_epi8(static_cast<char>(i - 4));
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i)
      acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(_mm256_maddubs_epi16(x, y[i]), ones));
  __m256i s = acc[0];
  for (int i = 1; i < 8; ++i) s = _mm256_add_epi32(s, acc[i]);
  *sink = static_cast<float>(_mm256_extract_epi32(s, 0) + _mm256_extract_epi32(s, 7));
  return static_cast<double>(iters) * 8 * 32 * 2;
}

using LoopFn = double (*)(int64_t, float*);

LoopFn loop_for(PeakKind kind) {
  const CpuFeatures& f = cpu_features();
  switch (kind) {
    case PeakKind::BF16: return f.avx512f && f.avx512bf16 ? peak_loop_bf16 : nullptr;
    case PeakKind::Int8:
      if (f.avx512f && f.avx512bw && f.avx512vnni) return peak_loop_vnni;
      return f.avx2 ? peak_loop_int8_avx2 : nullptr;
    default:
      if (f.avx512f) return peak_loop_avx512;
      return f.avx2 && f.fma ? peak_loop_avx2 : nullptr;
  }
}

}  // namespace

std::string peak_path(PeakKind kind) {
  const LoopFn l = loop_for(kind);
  if (l == peak_loop_avx512) return "avx512";
  if (l == peak_loop_avx2) return "avx2";
  if (l == peak_loop_bf16) return "avx512_bf16";
  if (l == peak_loop_vnni) return "avx512_vnni";
  if (l == peak_loop_int8_avx2) return "avx2";
  return "";
}

double probe_peak(PeakKind kind, int threads, double seconds) {
  const LoopFn loop = loop_for(kind);
  if (!loop) return 0.0;
  threads = std::max(1, threads);
  // Calibrate the iterations to ~`seconds` on one thread, then run all threads at once; best of 3.
  float sink = 0;
  int64_t iters = 1 << 14;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    loop(iters, &sink);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (dt > seconds / 4 || iters > (int64_t{1} << 34)) {
      iters = static_cast<int64_t>(static_cast<double>(iters) * seconds / std::max(dt, 1e-9));
      break;
    }
    iters *= 4;
  }
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    std::vector<double> flops(static_cast<size_t>(threads));
    std::vector<float> sinks(static_cast<size_t>(threads));
    std::vector<std::thread> pool;
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { flops[t] = loop(iters, &sinks[t]); });
    for (auto& th : pool) th.join();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double total = 0;
    for (double x : flops) total += x;
    best = std::max(best, total / dt / 1e9);
  }
  return best;
}

}  // namespace exaone
