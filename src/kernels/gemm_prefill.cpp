#include "kernels/gemm_prefill.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/simd_avx2.h"
#include "util/parallel.h"

namespace exaone {

namespace {

// acc[MR][NR] = Σ_p a[p][i] b[p][j] over one depth block (a packed [kc][MR], b packed [kc][NR]),
// then c = acc, or c += acc when `add`.
using MicroFn = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool add);

template <int MR>
__attribute__((target("avx512f,fma"))) void micro_avx512(int64_t kc, const float* a, const float* b, float* c,
                                                         int64_t ldc, bool add) {
  __m512 acc[MR][2];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; ++p, a += MR, b += 32) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(a[i]);
      acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    if (add) {
      acc[i][0] = _mm512_add_ps(_mm512_loadu_ps(ci), acc[i][0]);
      acc[i][1] = _mm512_add_ps(_mm512_loadu_ps(ci + 16), acc[i][1]);
    }
    _mm512_storeu_ps(ci, acc[i][0]);
    _mm512_storeu_ps(ci + 16, acc[i][1]);
  }
}

template <int MR>
__attribute__((target("avx2,fma"))) void micro_avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                                                    bool add) {
  __m256 acc[MR][2];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; ++p, a += MR, b += 16) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m256 av = _mm256_broadcast_ss(a + i);
      acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    if (add) {
      acc[i][0] = _mm256_add_ps(_mm256_loadu_ps(ci), acc[i][0]);
      acc[i][1] = _mm256_add_ps(_mm256_loadu_ps(ci + 8), acc[i][1]);
    }
    _mm256_storeu_ps(ci, acc[i][0]);
    _mm256_storeu_ps(ci + 8, acc[i][1]);
  }
}

struct Shape {
  MicroFn kernel = nullptr;
  int mr = 0, nr = 0;
  const char* name = "scalar";
};

// 12 tokens x 32 rows: 24 zmm accumulators, 2 packed loads and 12 broadcasts per 24 FMAs (measured
// on Zen 4 against 8 and 14 tokens: 8 close, 14 slower). AVX2: 6 x 16 in 12 ymm accumulators.
Shape pick() {
  if (force_scalar_kernels()) return {};
  const CpuFeatures& f = cpu_features();
  if (f.avx512f && f.fma && !force_avx2_kernels()) return {micro_avx512<12>, 12, 32, "avx512 12x32"};
  if (f.avx2 && f.fma) return {micro_avx2<6>, 6, 16, "avx2 6x16"};
  return {};
}

// src: nr rows of kc floats (row stride ld) -> dst[p][nr]. nr a multiple of 8.
__attribute__((target("avx2"))) void transpose_rows(const float* src, int64_t ld, int nr, int64_t kc, float* dst) {
  int64_t p = 0;
  for (; p + 8 <= kc; p += 8)
    for (int j = 0; j < nr; j += 8) simd::transpose8x8(src + j * ld + p, ld, dst + p * nr + j, nr);
  for (; p < kc; ++p)
    for (int j = 0; j < nr; ++j) dst[p * nr + j] = src[j * ld + p];
}

// The same chains one element at a time (std::fma), so bit-identical to the SIMD kernels.
void gemm_prefill_scalar(const float* x, int64_t T, int64_t N, int64_t K, const WidenRowsFn& widen, float* y) {
  parallel_for(N, balanced_chunk(N, 16), [&](int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(kPrefillDepth));
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t p0 = 0; p0 < K; p0 += kPrefillDepth) {
        const int64_t kc = std::min(kPrefillDepth, K - p0);
        widen(r, r + 1, p0, kc, row.data(), kPrefillDepth);
        for (int64_t t = 0; t < T; ++t) {
          float acc = 0.0f;
          for (int64_t p = 0; p < kc; ++p) acc = std::fma(x[t * K + p0 + p], row[p], acc);
          float& d = y[t * N + r];
          d = p0 > 0 ? d + acc : acc;
        }
      }
  });
}

}  // namespace

bool gemm_prefill_available() { return pick().kernel != nullptr; }

const char* gemm_prefill_name() { return pick().name; }

void gemm_prefill(const float* x, int64_t T, int64_t N, int64_t K, const WidenRowsFn& widen, float* y) {
  if (T <= 0 || N <= 0) return;
  if (K <= 0) {
    std::fill_n(y, T * N, 0.0f);
    return;
  }
  const Shape s = pick();
  if (!s.kernel) return gemm_prefill_scalar(x, T, N, K, widen, y);
  const int mr = s.mr, nr = s.nr;
  constexpr int64_t KC = kPrefillDepth;

  // Tokens packed once, strip by strip: strip q holds tokens [q mr, q mr + mr) as [K][mr], the rows
  // past T zero. Every task reads it in place; the cost is one pass over x.
  const int64_t strips = (T + mr - 1) / mr;
  std::vector<float> apack(static_cast<size_t>(strips * mr * K));
  parallel_for(strips, balanced_chunk(strips), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      float* d = apack.data() + q * mr * K;
      for (int i = 0; i < mr; ++i) {
        const int64_t t = q * mr + i;
        if (t < T) {
          const float* src = x + t * K;
          for (int64_t p = 0; p < K; ++p) d[p * mr + i] = src[p];
        } else {
          for (int64_t p = 0; p < K; ++p) d[p * mr + i] = 0.0f;
        }
      }
    }
  });

  // Tasks: blocks of NC weight rows; each widens and packs its rows once per depth block and runs
  // every token strip over them. NC is sized to give every thread a few tasks, the packed block
  // (NC x KC floats, at most 256 KiB) staying in L2.
  const int64_t want = (N + 4 * num_threads() - 1) / (4 * num_threads());
  const int64_t NC = std::clamp<int64_t>((want + nr - 1) / nr * nr, nr, 256);
  const int64_t tasks = (N + NC - 1) / NC;
  parallel_for(tasks, 1, [&](int64_t b0, int64_t b1) {
    thread_local std::vector<float> wide, bpack, tile;
    wide.resize(static_cast<size_t>(nr * KC));
    bpack.resize(static_cast<size_t>(256 * KC));
    tile.resize(static_cast<size_t>(mr * nr));
    for (int64_t task = b0; task < b1; ++task) {
      const int64_t j0 = task * NC, j1 = std::min(N, j0 + NC);
      const int64_t nstrips = (j1 - j0 + nr - 1) / nr;
      for (int64_t p0 = 0; p0 < K; p0 += KC) {
        const int64_t kc = std::min(KC, K - p0);
        for (int64_t sj = 0; sj < nstrips; ++sj) {
          const int64_t js = j0 + sj * nr, rows = std::min<int64_t>(nr, j1 - js);
          widen(js, js + rows, p0, kc, wide.data(), KC);
          for (int64_t r = rows; r < nr; ++r) std::fill_n(wide.data() + r * KC, kc, 0.0f);
          transpose_rows(wide.data(), KC, nr, kc, bpack.data() + sj * kc * nr);
        }
        const bool add = p0 > 0;
        for (int64_t q = 0; q < strips; ++q) {
          const int64_t i0 = q * mr;
          const int rows_t = static_cast<int>(std::min<int64_t>(mr, T - i0));
          const float* ap = apack.data() + q * mr * K + p0 * mr;
          for (int64_t sj = 0; sj < nstrips; ++sj) {
            const int64_t js = j0 + sj * nr;
            const int cols = static_cast<int>(std::min<int64_t>(nr, j1 - js));
            const float* bp = bpack.data() + sj * kc * nr;
            float* cp = y + i0 * N + js;
            if (rows_t == mr && cols == nr) {
              s.kernel(kc, ap, bp, cp, N, add);
              continue;
            }
            s.kernel(kc, ap, bp, tile.data(), nr, false);
            for (int i = 0; i < rows_t; ++i)
              for (int j = 0; j < cols; ++j) {
                float& d = cp[i * N + j];
                d = add ? d + tile[i * nr + j] : tile[i * nr + j];
              }
          }
        }
      }
    }
  });
}

}  // namespace exaone
