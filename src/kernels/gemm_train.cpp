#include "kernels/gemm_train.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/peak_probe.h"
#include "kernels/simd_avx2.h"
#include "util/error.h"
#include "util/parallel.h"

namespace exaone {

namespace {

// Micro-kernel: acc[MR][NR] = Σ_p A(i, p) B(p, j) over one depth block, then C = acc or C += acc.
// A is either read in place from a row-major matrix (row i at a + i*lda, rows past `mr` clamped to
// the last valid one: their results are discarded) or packed as [kc][MR]; B is packed as [kc][NR].
using KernelFn = void (*)(int64_t kc, const float* a, int64_t lda, bool a_packed, int mr, const float* b, float* c,
                          int64_t ldc, bool add);

__attribute__((target("avx512f,fma"))) void kernel_avx512(int64_t kc, const float* a, int64_t lda, bool a_packed,
                                                          int mr, const float* b, float* c, int64_t ldc, bool add) {
  constexpr int MR = 8;
  __m512 acc[MR][2];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  if (a_packed) {
    for (int64_t p = 0; p < kc; ++p) {
      const __m512 b0 = _mm512_loadu_ps(b + p * 32), b1 = _mm512_loadu_ps(b + p * 32 + 16);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const __m512 av = _mm512_set1_ps(a[p * MR + i]);
        acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
      }
    }
  } else {
    const float* ar[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) ar[i] = a + std::min(i, mr - 1) * lda;
    for (int64_t p = 0; p < kc; ++p) {
      const __m512 b0 = _mm512_loadu_ps(b + p * 32), b1 = _mm512_loadu_ps(b + p * 32 + 16);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const __m512 av = _mm512_set1_ps(ar[i][p]);
        acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
      }
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    if (add) {
      _mm512_storeu_ps(ci, _mm512_add_ps(_mm512_loadu_ps(ci), acc[i][0]));
      _mm512_storeu_ps(ci + 16, _mm512_add_ps(_mm512_loadu_ps(ci + 16), acc[i][1]));
    } else {
      _mm512_storeu_ps(ci, acc[i][0]);
      _mm512_storeu_ps(ci + 16, acc[i][1]);
    }
  }
}

__attribute__((target("avx2,fma"))) void kernel_avx2(int64_t kc, const float* a, int64_t lda, bool a_packed, int mr,
                                                     const float* b, float* c, int64_t ldc, bool add) {
  constexpr int MR = 6;
  __m256 acc[MR][2];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  const float* ar[MR];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) ar[i] = a_packed ? a + i : a + std::min(i, mr - 1) * lda;
  const int64_t step = a_packed ? MR : 1;
  for (int64_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_loadu_ps(b + p * 16), b1 = _mm256_loadu_ps(b + p * 16 + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 av = _mm256_broadcast_ss(ar[i] + p * step);
      acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
    }
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    if (add) {
      _mm256_storeu_ps(ci, _mm256_add_ps(_mm256_loadu_ps(ci), acc[i][0]));
      _mm256_storeu_ps(ci + 8, _mm256_add_ps(_mm256_loadu_ps(ci + 8), acc[i][1]));
    } else {
      _mm256_storeu_ps(ci, acc[i][0]);
      _mm256_storeu_ps(ci + 8, acc[i][1]);
    }
  }
}

// Portable reference with the AVX2 shape: the same fmaf chain per element, so bit-identical.
void kernel_scalar(int64_t kc, const float* a, int64_t lda, bool a_packed, int mr, const float* b, float* c,
                   int64_t ldc, bool add) {
  constexpr int MR = 6, NR = 16;
  float acc[MR][NR] = {};
  for (int64_t p = 0; p < kc; ++p)
    for (int i = 0; i < MR; ++i) {
      const float av = a_packed ? a[p * MR + i] : a[std::min(i, mr - 1) * lda + p];
      for (int j = 0; j < NR; ++j) acc[i][j] = std::fma(av, b[p * NR + j], acc[i][j]);
    }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) c[i * ldc + j] = add ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

// ---- bf16 ----

inline uint16_t bf16_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>(u >> 16);
}

// bf16 micro-kernel (AVX512_BF16): A packed as [kc/2][MR] pairs, B as [kc/2][NR] pairs, kc even
// (odd depths are padded with zeros). vdpbf16ps adds both products of a pair to a float lane.
__attribute__((target("avx512f,avx512bf16"))) void kernel_bf16(int64_t kc, const float* a_pairs, int64_t, bool, int,
                                                               const float* b_pairs, float* c, int64_t ldc, bool add) {
  constexpr int MR = 8;
  const uint32_t* a = reinterpret_cast<const uint32_t*>(a_pairs);
  const uint32_t* b = reinterpret_cast<const uint32_t*>(b_pairs);
  __m512 acc[MR][2];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t q = 0; q < kc / 2; ++q) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + q * 32);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + q * 32 + 16);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[q * MR + i]));
      acc[i][0] = _mm512_dpbf16_ps(acc[i][0], av, b0);
      acc[i][1] = _mm512_dpbf16_ps(acc[i][1], av, b1);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    if (add) {
      _mm512_storeu_ps(ci, _mm512_add_ps(_mm512_loadu_ps(ci), acc[i][0]));
      _mm512_storeu_ps(ci + 16, _mm512_add_ps(_mm512_loadu_ps(ci + 16), acc[i][1]));
    } else {
      _mm512_storeu_ps(ci, acc[i][0]);
      _mm512_storeu_ps(ci + 16, acc[i][1]);
    }
  }
}

struct Shape {
  KernelFn kernel;
  int mr, nr;
  bool bf16;
};

inline float at(const GemmOperand& o, int64_t r, int64_t c) { return o.trans ? o.data[c * o.ld + r] : o.data[r * o.ld + c]; }

// B[p0:p0+kc, j0:j1] into strips of nr columns, [strip][kc][nr], zero-padded past j1.
__attribute__((target("avx2"))) void pack_b(const GemmOperand& b, int64_t p0, int64_t kc, int64_t j0, int64_t j1,
                                            int nr, float* dst) {
  for (int64_t js = j0; js < j1; js += nr, dst += kc * nr) {
    const int64_t w = std::min<int64_t>(nr, j1 - js);
    if (!b.trans) {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = b.data + (p0 + p) * b.ld + js;
        float* d = dst + p * nr;
        if (w == nr) {  // whole strip: register copies (a memcpy call per 64-128 bytes cost ~10% of a step)
          for (int x = 0; x < nr; x += 8) _mm256_storeu_ps(d + x, _mm256_loadu_ps(src + x));
          continue;
        }
        std::memcpy(d, src, static_cast<size_t>(w) * 4);
        std::fill(d + w, d + nr, 0.0f);
      }
    } else {
      // Column j of B is row j of the stored matrix: 8x8 transposes where a whole block fits.
      int64_t jj = 0;
      for (; jj + 8 <= w; jj += 8) {
        const float* src = b.data + (js + jj) * b.ld + p0;
        int64_t p = 0;
        for (; p + 8 <= kc; p += 8) simd::transpose8x8(src + p, b.ld, dst + p * nr + jj, nr);
        for (; p < kc; ++p)
          for (int t = 0; t < 8; ++t) dst[p * nr + jj + t] = src[t * b.ld + p];
      }
      for (; jj < w; ++jj) {
        const float* src = b.data + (js + jj) * b.ld + p0;
        for (int64_t p = 0; p < kc; ++p) dst[p * nr + jj] = src[p];
      }
      for (int64_t p = 0; p < kc; ++p) std::fill(dst + p * nr + w, dst + p * nr + nr, 0.0f);
    }
  }
}

void pack_b_scalar(const GemmOperand& b, int64_t p0, int64_t kc, int64_t j0, int64_t j1, int nr, float* dst) {
  for (int64_t js = j0; js < j1; js += nr, dst += kc * nr) {
    const int64_t w = std::min<int64_t>(nr, j1 - js);
    for (int64_t p = 0; p < kc; ++p)
      for (int64_t jj = 0; jj < nr; ++jj) dst[p * nr + jj] = jj < w ? at(b, p0 + p, js + jj) : 0.0f;
  }
}

// A[i0:i1, p0:p0+kc] into strips of mr rows, [strip][kc][mr], zero-padded past i1.
void pack_a(const GemmOperand& a, int64_t i0, int64_t i1, int64_t p0, int64_t kc, int mr, float* dst) {
  for (int64_t is = i0; is < i1; is += mr, dst += kc * mr) {
    const int64_t h = std::min<int64_t>(mr, i1 - is);
    for (int64_t p = 0; p < kc; ++p) {
      float* d = dst + p * mr;
      if (a.trans) {
        std::memcpy(d, a.data + (p0 + p) * a.ld + is, static_cast<size_t>(h) * 4);
      } else {
        for (int64_t i = 0; i < h; ++i) d[i] = a.data[(is + i) * a.ld + p0 + p];
      }
      std::fill(d + h, d + mr, 0.0f);
    }
  }
}

// bf16 packing: pairs (p, p+1) of one row/column side by side, [strip][ceil(kc/2)][n][2].
// `rows_are_i`: the strips run along the operand's first index (A's rows), else along its second
// (B's columns); whole 16-wide pieces in AVX-512 lanes. Values as bf16_bits gives them
// (vcvtneps2bf16 rounds to nearest even like bf16_bits; it also flushes denormal
// inputs to zero). Element (x, p) lies at base + x*sx + p*sp: when sp == 1 a pair is two adjacent
// floats, converted 32 at a time and stored as 16 words with stride n; when sx == 1 the pairs of 16
// neighbouring x come from two rows and are interleaved into 16 consecutive words.
// GCC 12 takes the _mm512_undefined_*() inside these intrinsics for uninitialised reads.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void pack_bf16(const GemmOperand& o, bool rows_are_i,
                                                                       int64_t x0, int64_t x1, int64_t p0, int64_t kc,
                                                                       int n, uint16_t* dst16) {
  const bool x_is_row = rows_are_i != o.trans;  // x indexes the stored rows
  const int64_t sx = x_is_row ? o.ld : 1, sp = x_is_row ? 1 : o.ld;
  const int64_t kp = (kc + 1) / 2;
  uint32_t* dst = reinterpret_cast<uint32_t*>(dst16);
  for (int64_t xs = x0; xs < x1; xs += n, dst += kp * n) {
    const int64_t w = std::min<int64_t>(n, x1 - xs);
    const float* base = o.data + xs * sx + p0 * sp;
    auto scalar_word = [&](int64_t x, int64_t q) {
      const int64_t p = 2 * q;
      const float lo = x < w && p < kc ? base[x * sx + p * sp] : 0.0f;
      const float hi = x < w && p + 1 < kc ? base[x * sx + (p + 1) * sp] : 0.0f;
      return static_cast<uint32_t>(bf16_bits(lo)) | static_cast<uint32_t>(bf16_bits(hi)) << 16;
    };
    const int64_t kfull = kc / 32 * 16;  // pairs covered by whole 32-float pieces
    if (sp == 1) {
      for (int64_t x = 0; x < n; ++x) {
        int64_t q = 0;
        if (x < w)
          for (; q < kfull; q += 16) {
            const float* src = base + x * sx + 2 * q;
            const __m512i v = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + 16), _mm512_loadu_ps(src));
            alignas(64) uint32_t words[16];
            _mm512_store_si512(words, v);
            for (int t = 0; t < 16; ++t) dst[(q + t) * n + x] = words[t];
          }
        for (; q < kp; ++q) dst[q * n + x] = scalar_word(x, q);
      }
    } else {
      for (int64_t q = 0; q < kp; ++q) {
        int64_t x = 0;
        if (2 * q + 1 < kc)
          for (; x + 16 <= w; x += 16) {
            const __m512i lo = (__m512i)_mm512_castsi256_si512((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(base + x + 2 * q * sp)));
            const __m512i hi = (__m512i)_mm512_castsi256_si512((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(base + x + (2 * q + 1) * sp)));
            const __m512i words = _mm512_or_si512(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(lo)),
                                                  _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(hi)), 16));
            _mm512_storeu_si512(dst + q * n + x, words);
          }
        for (; x < n; ++x) dst[q * n + x] = scalar_word(x, q);
      }
    }
  }
}

#pragma GCC diagnostic pop

Shape pick(GemmPrecision precision) {
  const CpuFeatures& f = cpu_features();
  if (precision == GemmPrecision::BF16) {
    if (!gemm_bf16_supported()) fail("bf16 matmuls need a CPU with AVX512_BF16 (vdpbf16ps)");
    return {kernel_bf16, 8, 32, true};
  }
  if (!force_scalar_kernels()) {
    if (f.avx512f && f.fma && !force_avx2_kernels()) return {kernel_avx512, 8, 32, false};
    if (f.avx2 && f.fma) return {kernel_avx2, 6, 16, false};
  }
  return {kernel_scalar, 6, 16, false};
}

}  // namespace

double probe_peak_gflops(GemmPrecision precision, int threads, double seconds) {
  return probe_peak(precision == GemmPrecision::BF16 ? PeakKind::BF16 : PeakKind::F32, threads, seconds);
}

const char* gemm_train_name(GemmPrecision precision) {
  if (precision == GemmPrecision::BF16) return gemm_bf16_supported() ? "avx512-bf16 8x32 (vdpbf16ps)" : "unavailable";
  const KernelFn k = pick(precision).kernel;
  return k == kernel_avx512 ? "avx512 8x32" : k == kernel_avx2 ? "avx2 6x16" : "scalar";
}

bool gemm_bf16_supported() {
  const CpuFeatures& f = cpu_features();
  return f.avx512f && f.avx512bf16 && !force_scalar_kernels();
}

float round_to_bf16(float x) {
  const uint32_t u = static_cast<uint32_t>(bf16_bits(x)) << 16;
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}

void gemm_train(int64_t M, int64_t N, int64_t K, const GemmOperand& a, const GemmOperand& b, float* c, int64_t ldc,
                bool accumulate, GemmPrecision precision) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i) std::fill(c + i * ldc, c + i * ldc + N, 0.0f);
    return;
  }
  const Shape s = pick(precision);
  const bool simd_pack = s.kernel != kernel_scalar;
  // Output tiles of MC x NC (128 x 256 on AVX-512): one task each, so the split never depends on the thread count. The
  // packed B block (kGemmDepth x NC floats) stays in L2, one A strip (MR x depth) in L1.
  const int64_t MC = s.mr * 16, NC = 256, KC = kGemmDepth;
  const int64_t mt = (M + MC - 1) / MC, nt = (N + NC - 1) / NC;
  const bool pack_all_a = s.bf16 || a.trans;
  parallel_for(mt * nt, 1, [&](int64_t t0, int64_t t1) {
    thread_local std::vector<float> bbuf, abuf;
    bbuf.resize(static_cast<size_t>(KC * NC));
    abuf.resize(static_cast<size_t>(KC * MC));
    float tile[8 * 32];
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t i0 = (task / nt) * MC, i1 = std::min(M, i0 + MC);
      const int64_t j0 = (task % nt) * NC, j1 = std::min(N, j0 + NC);
      for (int64_t p0 = 0; p0 < K; p0 += KC) {
        const int64_t kc = std::min(KC, K - p0), kc_even = (kc + 1) & ~int64_t{1};
        const int64_t kstride = s.bf16 ? kc_even / 2 : kc;  // 32-bit words per row of a strip
        if (s.bf16) {
          pack_bf16(b, false, j0, j1, p0, kc, s.nr, reinterpret_cast<uint16_t*>(bbuf.data()));
          pack_bf16(a, true, i0, i1, p0, kc, s.mr, reinterpret_cast<uint16_t*>(abuf.data()));
        } else {
          if (simd_pack) pack_b(b, p0, kc, j0, j1, s.nr, bbuf.data());
          else pack_b_scalar(b, p0, kc, j0, j1, s.nr, bbuf.data());
          if (a.trans) pack_a(a, i0, i1, p0, kc, s.mr, abuf.data());
        }
        const bool add = accumulate || p0 > 0;
        const int64_t kern_k = s.bf16 ? kc_even : kc;
        for (int64_t is = i0; is < i1; is += s.mr) {
          const int mr = static_cast<int>(std::min<int64_t>(s.mr, i1 - is));
          const float* ap = pack_all_a ? abuf.data() + ((is - i0) / s.mr) * kstride * s.mr
                                       : a.data + is * a.ld + p0;
          for (int64_t js = j0; js < j1; js += s.nr) {
            const int nr = static_cast<int>(std::min<int64_t>(s.nr, j1 - js));
            const float* bp = bbuf.data() + ((js - j0) / s.nr) * kstride * s.nr;
            float* cp = c + is * ldc + js;
            if (mr == s.mr && nr == s.nr) {
              s.kernel(kern_k, ap, a.ld, pack_all_a, mr, bp, cp, ldc, add);
            } else {
              s.kernel(kern_k, ap, a.ld, pack_all_a, mr, bp, tile, s.nr, false);
              for (int i = 0; i < mr; ++i)
                for (int j = 0; j < nr; ++j) {
                  float& d = cp[i * ldc + j];
                  d = add ? d + tile[i * s.nr + j] : tile[i * s.nr + j];
                }
            }
          }
        }
      }
    }
  });
}

}  // namespace exaone
