#include "kernels/interleaved.h"

#include <immintrin.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/quant.h"
#include "kernels/quant_ext.h"
#include "kernels/quant_dot.h"
#include "kernels/simd_avx2.h"
#include "util/error.h"
#include "util/half.h"

namespace exaone {

// Q5_K and IQ4_XS kernels (kernels/interleaved_ext.cpp); false for other types.
bool gemv_interleaved_ext(DType t, bool vnni, const void* packed, int64_t cols, int64_t g, const void* act,
                          size_t stride, int nt, float* y, int64_t ldy);

namespace {

using simd::load256;

// Every kernel's start: NT zero accumulators and the NT activation rows (Block: BlockQ8A/BlockQ8K).
template <int NT, typename Block>
__attribute__((target("avx2"))) inline void start_rows(const void* act, size_t stride, __m256* acc, const Block** a) {
#pragma GCC unroll 4
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm256_setzero_ps();
    a[t] = act_row<Block>(act, stride, t);
  }
}

#define EXAONE_AVX2 __attribute__((target("avx2,fma,f16c")))

// Software prefetch of the lines one block will need, this far ahead of it: measured on the
// 2-thread decode GEMV (kernels_bench, packed path), closer distances left 10-25% of the
// bandwidth unused.
constexpr int kPrefetchDistance = 1152;
// Q6_K reads each block as three interleaved streams (two runs of low nibbles, one of high bits),
// which the hardware prefetcher follows badly: requesting the rest of the current block at once
// serves it best. At 1152 bytes, and at 512, the 1.2B shape's Q4_K_M decode was ~20 % slower
// (Zen 4, 2 threads, session 8, exaone bench in interleaved rounds).
constexpr int kPrefetchDistanceQ6K = 256;
template <int Distance = kPrefetchDistance>
EXAONE_AVX2 inline void prefetch_ahead(const void* block, size_t bytes) {
  const char* p = static_cast<const char*>(block) + Distance;
  for (size_t off = 0; off < bytes; off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
}

// Four activations broadcast to every 32-bit lane (one vpbroadcastd from memory).
EXAONE_AVX2 inline __m256i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

template <int NT>
EXAONE_AVX2 void gemv_q4_0_avx2(const BlockQ4_0x8* w, int64_t nb, const void* act, size_t stride, float* y,
                              int64_t ldy) {
  __m256 acc[NT];
  const BlockQ8A* a[NT];
  start_rows<NT>(act, stride, acc, a);
  const __m256i low4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_ahead(w + b, sizeof(BlockQ4_0x8));
    __m256i s[NT];
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) s[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * c));
      const __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
#pragma GCC unroll 4
      for (int t = 0; t < NT; ++t) {
        // Low nibbles are elements 4c..4c+3 of all 8 rows, high nibbles 16+4c..16+4c+3.
        const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, broadcast4(a[t][b].qs + 4 * c)),
                                           _mm256_maddubs_epi16(hi, broadcast4(a[t][b].qs + 16 + 4 * c)));
        s[t] = _mm256_add_epi16(s[t], p);
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].d)));
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) {
      // Σ (q - 8) x = Σ q x - 8 Σ x, per row lane.
      const __m256i p = _mm256_sub_epi32(_mm256_madd_epi16(s[t], ones), _mm256_set1_epi32(8 * a[t][b].sum));
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(a[t][b].d)), _mm256_cvtepi32_ps(p), acc[t]);
    }
  }
#pragma GCC unroll 4
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

// Q8_0: signed weights, so the sign moves onto the activations (|w| unsigned for pmaddubsw; pairs
// stay below 2 * 127 * 127 < 32768) and each group's products go to int32 at once.
template <int NT>
EXAONE_AVX2 void gemv_q8_0_avx2(const BlockQ8_0x8* w, int64_t nb, const void* act, size_t stride, float* y,
                                int64_t ldy) {
  __m256 acc[NT];
  const BlockQ8A* a[NT];
  start_rows<NT>(act, stride, acc, a);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_ahead(w + b, sizeof(BlockQ8_0x8));
    __m256i s[NT];
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) s[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int c = 0; c < 8; ++c) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * c));
      const __m256i av = _mm256_sign_epi8(v, v);
#pragma GCC unroll 4
      for (int t = 0; t < NT; ++t) {
        const __m256i x = _mm256_sign_epi8(broadcast4(a[t][b].qs + 4 * c), v);
        s[t] = _mm256_add_epi32(s[t], _mm256_madd_epi16(_mm256_maddubs_epi16(av, x), ones));
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].d)));
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(a[t][b].d)), _mm256_cvtepi32_ps(s[t]), acc[t]);
  }
#pragma GCC unroll 4
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

// pshufb control that, in every 32-bit lane, puts byte j0 of that lane into the low int16 and
// byte j1 into the high one (zero-extended): per-row 6-bit scales become madd operands.
EXAONE_AVX2 inline __m256i lane_bytes_to_pair(int j0, int j1) {
  alignas(32) uint8_t c[32];
  for (int i = 0; i < 32; ++i) {
    const int dword = (i % 16) / 4, pos = i % 4;
    c[i] = pos % 2 ? 0x80 : static_cast<uint8_t>(4 * dword + (pos == 0 ? j0 : j1));
  }
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(c));
}

// Q4_K: sub-block j of the 8 rows = low (j even) or high (j odd) nibbles of chunk j/2. Each
// row's 6-bit scales and mins are unpacked for all 8 rows at once from the three scale words.
template <int NT>
EXAONE_AVX2 void gemv_q4_k_avx2(const BlockQ4_Kx8* w, int64_t nb, const void* act, size_t stride, float* y,
                                int64_t ldy) {
  __m256 acc[NT];
  const BlockQ8K* a[NT];
  start_rows<NT>(act, stride, acc, a);
  const __m256i low4 = _mm256_set1_epi8(0x0f), k6 = _mm256_set1_epi8(0x3f), k2 = _mm256_set1_epi8(0x03);
  __m256i scale_of[4], mins_of[2];  // byte j of a lane -> (j, j); bytes (2i, 2i+1) -> pair
  for (int j = 0; j < 4; ++j) scale_of[j] = lane_bytes_to_pair(j, j);
  for (int i = 0; i < 2; ++i) mins_of[i] = lane_bytes_to_pair(2 * i, 2 * i + 1);
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_ahead(w + b, sizeof(BlockQ4_Kx8));
    // get_scale_min_k4 on 8 rows: lane r, byte j holds sub-block j's (j < 4: lo, else hi) value.
    const __m256i u0 = load256(w[b].scales), u1 = load256(w[b].scales + 32), u2 = load256(w[b].scales + 64);
    const __m256i s_lo = _mm256_and_si256(u0, k6), m_lo = _mm256_and_si256(u1, k6);
    const __m256i s_hi = _mm256_or_si256(_mm256_and_si256(u2, low4),
                                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(u0, 6), k2), 4));
    const __m256i m_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(u2, 4), low4),
                                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(u1, 6), k2), 4));
    __m256i sumi[NT];
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      // int16 sums of 8 groups stay below 8 * 2 * 15 * 128 = 30720.
      __m256i lo_sum[NT], hi_sum[NT];
#pragma GCC unroll 4
      for (int t = 0; t < NT; ++t) lo_sum[t] = hi_sum[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
      for (int m = 0; m < 8; ++m) {
        const __m256i v = load256(w[b].qs + 256 * c + 32 * m);
        const __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
#pragma GCC unroll 4
        for (int t = 0; t < NT; ++t) {
          lo_sum[t] = _mm256_add_epi16(lo_sum[t], _mm256_maddubs_epi16(lo, broadcast4(a[t][b].qs + 64 * c + 4 * m)));
          hi_sum[t] = _mm256_add_epi16(hi_sum[t], _mm256_maddubs_epi16(hi, broadcast4(a[t][b].qs + 64 * c + 32 + 4 * m)));
        }
      }
      const __m256i src = c < 2 ? s_lo : s_hi;
      const __m256i sc0 = _mm256_shuffle_epi8(src, scale_of[(2 * c) % 4]);
      const __m256i sc1 = _mm256_shuffle_epi8(src, scale_of[(2 * c + 1) % 4]);
#pragma GCC unroll 4
      for (int t = 0; t < NT; ++t)
        sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(_mm256_madd_epi16(lo_sum[t], sc0),
                                                             _mm256_madd_epi16(hi_sum[t], sc1)));
    }
    const __m256i mp[4] = {_mm256_shuffle_epi8(m_lo, mins_of[0]), _mm256_shuffle_epi8(m_lo, mins_of[1]),
                           _mm256_shuffle_epi8(m_hi, mins_of[0]), _mm256_shuffle_epi8(m_hi, mins_of[1])};
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].d)));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].dmin)));
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) {
      // Σ_j m_j S_j, S_j = Σ of the activations of sub-block j (two bsums), as int16 pairs.
      const __m256i bs = load256(a[t][b].bsums);
      const __m256i s = _mm256_broadcastsi128_si256(
          _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1)));
      __m256i summ = _mm256_madd_epi16(mp[0], _mm256_shuffle_epi32(s, 0x00));
      summ = _mm256_add_epi32(summ, _mm256_madd_epi16(mp[1], _mm256_shuffle_epi32(s, 0x55)));
      summ = _mm256_add_epi32(summ, _mm256_madd_epi16(mp[2], _mm256_shuffle_epi32(s, 0xaa)));
      summ = _mm256_add_epi32(summ, _mm256_madd_epi16(mp[3], _mm256_shuffle_epi32(s, 0xff)));
      const __m256 da = _mm256_set1_ps(a[t][b].d);
      // Each block's value, then the sum, in the scalar reference's order (scale and min terms
      // apart would cancel in float).
      const __m256 block = _mm256_sub_ps(_mm256_mul_ps(_mm256_mul_ps(d, da), _mm256_cvtepi32_ps(sumi[t])),
                                         _mm256_mul_ps(_mm256_mul_ps(dmin, da), _mm256_cvtepi32_ps(summ)));
      acc[t] = _mm256_add_ps(acc[t], block);
    }
  }
#pragma GCC unroll 4
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

// Q6_K: the 8 rows' int8 scales of groups 2k and 2k+1 widened once per block into the three madd
// operands the kernel needs: (s_2k, s_2k), (s_2k+1, s_2k+1) and (s_2k, s_2k+1) in each row's lane.
EXAONE_AVX2 inline void q6_k_scale_operands(const int8_t* scales16x8, __m256i* same, __m256i* pairs) {
  // Within each 128-bit lane: rows' int16 of group 2k in qword 0, of group 2k+1 in qword 1.
  const __m256i dup_lo = _mm256_setr_epi8(0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7, 0, 1, 0, 1, 2, 3, 2, 3, 4, 5,
                                          4, 5, 6, 7, 6, 7);
  const __m256i dup_hi = _mm256_setr_epi8(8, 9, 8, 9, 10, 11, 10, 11, 12, 13, 12, 13, 14, 15, 14, 15, 8, 9, 8, 9, 10,
                                          11, 10, 11, 12, 13, 12, 13, 14, 15, 14, 15);
  const __m256i zip = _mm256_setr_epi8(0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15, 0, 1, 8, 9, 2, 3, 10, 11,
                                       4, 5, 12, 13, 6, 7, 14, 15);
  for (int k = 0; k < 8; ++k) {
    const __m256i v = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales16x8 + 16 * k)));
    const __m256i rows = _mm256_permute4x64_epi64(v, 0xd8);  // lane 0: rows 0-3, lane 1: rows 4-7
    same[2 * k] = _mm256_shuffle_epi8(rows, dup_lo);
    same[2 * k + 1] = _mm256_shuffle_epi8(rows, dup_hi);
    pairs[k] = _mm256_shuffle_epi8(rows, zip);
  }
}

template <int NT>
EXAONE_AVX2 void gemv_q6_k_avx2(const BlockQ6_Kx8* w, int64_t nb, const void* act, size_t stride, float* y,
                                int64_t ldy) {
  __m256 acc[NT];
  const BlockQ8K* a[NT];
  start_rows<NT>(act, stride, acc, a);
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_ahead<kPrefetchDistanceQ6K>(w + b, sizeof(BlockQ6_Kx8));
    __m256i same[16], pairs[8];
    q6_k_scale_operands(w[b].scales, same, pairs);
    __m256i sumi[NT];
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      // Two groups of 4 per int16 sum: 2 * 2 * 63 * 128 = 32256 stays below 32768.
#pragma GCC unroll 4
      for (int mp = 0; mp < 4; ++mp) {
        __m256i s16[NT][4];
#pragma GCC unroll 2
        for (int mm = 0; mm < 2; ++mm) {
          const int m = 2 * mp + mm;
          const __m256i ql0 = load256(w[b].ql + 512 * h + 32 * m), ql1 = load256(w[b].ql + 512 * h + 256 + 32 * m);
          const __m256i qh = load256(w[b].qh + 256 * h + 32 * m);
          // Quarter i: elements 128h + 32i + 4m .. +3 of the 8 rows, 6-bit unsigned.
          __m256i q[4];
          simd::q6_k_quarters(ql0, ql1, qh, q);
#pragma GCC unroll 4
          for (int t = 0; t < NT; ++t)
#pragma GCC unroll 4
            for (int i = 0; i < 4; ++i) {
              const __m256i p = _mm256_maddubs_epi16(q[i], broadcast4(a[t][b].qs + 128 * h + 32 * i + 4 * m));
              s16[t][i] = mm == 0 ? p : _mm256_add_epi16(s16[t][i], p);
            }
        }
        // Elements 16..31 of a quarter (groups m >= 4) take the next scale.
#pragma GCC unroll 4
        for (int t = 0; t < NT; ++t)
#pragma GCC unroll 4
          for (int i = 0; i < 4; ++i)
            sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(s16[t][i], same[8 * h + 2 * i + (mp >= 2)]));
      }
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].d)));
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) {
      // The -32 offset of the quants: 32 Σ_g s_g (Σ of the activations of group g) per row.
      __m256i offset = _mm256_setzero_si256();
      const int16_t* bsums = a[t][b].bsums;
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) {
        int32_t two;
        std::memcpy(&two, bsums + 2 * k, 4);
        offset = _mm256_add_epi32(offset, _mm256_madd_epi16(pairs[k], _mm256_set1_epi32(two)));
      }
      const __m256i p = _mm256_sub_epi32(sumi[t], _mm256_slli_epi32(offset, 5));
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(a[t][b].d)), _mm256_cvtepi32_ps(p), acc[t]);
    }
  }
#pragma GCC unroll 4
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

// ---------------------------------------------------------------- AVX-512 VNNI (256-bit vpdpbusd)
//
// The same layouts and the same per-block float steps as the AVX2 kernels above; only the
// integer block sums change: one vpdpbusd (u8 x s8, 4 products summed into each int32 lane) stands
// for maddubs + madd + add. The integer sums are exact in both, so the outputs are bit-identical.
// ymm only: Zen 4 splits zmm ops in two, and the win here is the instruction count.

#define EXAONE_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")))

// Q4_0: nibbles are u8 already; the -8 offset starts the sum (-8 Σx), as the AVX2 kernel subtracts it.
// Low and high nibbles go to separate chains so dpbusd latency does not serialise a block.
template <int NT>
EXAONE_VNNI void gemv_q4_0_vnni(const BlockQ4_0x8* w, int64_t nb, const void* act, size_t stride, float* y,
                                int64_t ldy) {
  __m256 acc[NT];
  const BlockQ8A* a[NT];
  start_rows<NT>(act, stride, acc, a);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_ahead(w + b, sizeof(BlockQ4_0x8));
    __m256i s[NT], s_hi[NT];
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) {
      s[t] = _mm256_set1_epi32(-8 * a[t][b].sum);
      s_hi[t] = _mm256_setzero_si256();
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m256i v = load256(w[b].qs + 32 * c);
      const __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
#pragma GCC unroll 4
      for (int t = 0; t < NT; ++t) {
        s[t] = _mm256_dpbusd_epi32(s[t], lo, broadcast4(a[t][b].qs + 4 * c));
        s_hi[t] = _mm256_dpbusd_epi32(s_hi[t], hi, broadcast4(a[t][b].qs + 16 + 4 * c));
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].d)));
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) {
      const __m256i p = _mm256_add_epi32(s[t], s_hi[t]);
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(a[t][b].d)), _mm256_cvtepi32_ps(p), acc[t]);
    }
  }
#pragma GCC unroll 4
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

// Q8_0: w + 128 (one xor, shared by the NT rows) is u8, so Σ w x = Σ (w + 128) x - 128 Σ x with the
// activation sum the block carries: cheaper than moving the sign onto every activation row.
// |Σ (w + 128) x| <= 32 * 255 * 127, far inside int32.
template <int NT>
EXAONE_VNNI void gemv_q8_0_vnni(const BlockQ8_0x8* w, int64_t nb, const void* act, size_t stride, float* y,
                                int64_t ldy) {
  __m256 acc[NT];
  const BlockQ8A* a[NT];
  start_rows<NT>(act, stride, acc, a);
  const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_ahead(w + b, sizeof(BlockQ8_0x8));
    __m256i s[NT], s_odd[NT];
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) {
      s[t] = _mm256_set1_epi32(-128 * a[t][b].sum);
      s_odd[t] = _mm256_setzero_si256();
    }
#pragma GCC unroll 8
    for (int c = 0; c < 8; ++c) {
      const __m256i u = _mm256_xor_si256(load256(w[b].qs + 32 * c), bias);
#pragma GCC unroll 4
      for (int t = 0; t < NT; ++t) {
        __m256i& dst = c % 2 ? s_odd[t] : s[t];
        dst = _mm256_dpbusd_epi32(dst, u, broadcast4(a[t][b].qs + 4 * c));
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].d)));
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(a[t][b].d)),
                               _mm256_cvtepi32_ps(_mm256_add_epi32(s[t], s_odd[t])), acc[t]);
  }
#pragma GCC unroll 4
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

// pshufb control that, in every 32-bit lane, zero-extends byte j of that lane to the whole lane.
EXAONE_VNNI inline __m256i lane_byte_to_dword(int j) {
  alignas(32) uint8_t c[32];
  for (int i = 0; i < 32; ++i) c[i] = i % 4 ? 0x80 : static_cast<uint8_t>((i % 16) / 4 * 4 + j);
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(c));
}

// Q4_K: each sub-block's sum comes out of vpdpbusd in int32, so its 6-bit scale multiplies it as an
// int32 (vpmulld) instead of an int16 pair; the mins use vpdpwssd (madd + add in one).
template <int NT>
EXAONE_VNNI void gemv_q4_k_vnni(const BlockQ4_Kx8* w, int64_t nb, const void* act, size_t stride, float* y,
                                int64_t ldy) {
  __m256 acc[NT];
  const BlockQ8K* a[NT];
  start_rows<NT>(act, stride, acc, a);
  const __m256i low4 = _mm256_set1_epi8(0x0f), k6 = _mm256_set1_epi8(0x3f), k2 = _mm256_set1_epi8(0x03);
  __m256i scale_of[4], mins_of[2];  // byte j of a lane -> dword; bytes (2i, 2i+1) -> int16 pair
  for (int j = 0; j < 4; ++j) scale_of[j] = lane_byte_to_dword(j);
  for (int i = 0; i < 2; ++i) mins_of[i] = lane_bytes_to_pair(2 * i, 2 * i + 1);
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_ahead(w + b, sizeof(BlockQ4_Kx8));
    const __m256i u0 = load256(w[b].scales), u1 = load256(w[b].scales + 32), u2 = load256(w[b].scales + 64);
    const __m256i s_lo = _mm256_and_si256(u0, k6), m_lo = _mm256_and_si256(u1, k6);
    const __m256i s_hi = _mm256_or_si256(_mm256_and_si256(u2, low4),
                                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(u0, 6), k2), 4));
    const __m256i m_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(u2, 4), low4),
                                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(u1, 6), k2), 4));
    __m256i sumi[NT];
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      __m256i lo_sum[NT], hi_sum[NT];
#pragma GCC unroll 4
      for (int t = 0; t < NT; ++t) lo_sum[t] = hi_sum[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
      for (int m = 0; m < 8; ++m) {
        const __m256i v = load256(w[b].qs + 256 * c + 32 * m);
        const __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
#pragma GCC unroll 4
        for (int t = 0; t < NT; ++t) {
          lo_sum[t] = _mm256_dpbusd_epi32(lo_sum[t], lo, broadcast4(a[t][b].qs + 64 * c + 4 * m));
          hi_sum[t] = _mm256_dpbusd_epi32(hi_sum[t], hi, broadcast4(a[t][b].qs + 64 * c + 32 + 4 * m));
        }
      }
      const __m256i src = c < 2 ? s_lo : s_hi;
      const __m256i sc0 = _mm256_shuffle_epi8(src, scale_of[(2 * c) % 4]);
      const __m256i sc1 = _mm256_shuffle_epi8(src, scale_of[(2 * c + 1) % 4]);
#pragma GCC unroll 4
      for (int t = 0; t < NT; ++t)
        sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(_mm256_mullo_epi32(lo_sum[t], sc0),
                                                             _mm256_mullo_epi32(hi_sum[t], sc1)));
    }
    const __m256i mp[4] = {_mm256_shuffle_epi8(m_lo, mins_of[0]), _mm256_shuffle_epi8(m_lo, mins_of[1]),
                           _mm256_shuffle_epi8(m_hi, mins_of[0]), _mm256_shuffle_epi8(m_hi, mins_of[1])};
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].d)));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].dmin)));
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) {
      const __m256i bs = load256(a[t][b].bsums);
      const __m256i s = _mm256_broadcastsi128_si256(
          _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1)));
      __m256i summ = _mm256_madd_epi16(mp[0], _mm256_shuffle_epi32(s, 0x00));
      summ = _mm256_dpwssd_epi32(summ, mp[1], _mm256_shuffle_epi32(s, 0x55));
      summ = _mm256_dpwssd_epi32(summ, mp[2], _mm256_shuffle_epi32(s, 0xaa));
      summ = _mm256_dpwssd_epi32(summ, mp[3], _mm256_shuffle_epi32(s, 0xff));
      const __m256 da = _mm256_set1_ps(a[t][b].d);
      // The AVX2 kernel's float steps, in its order.
      const __m256 block = _mm256_sub_ps(_mm256_mul_ps(_mm256_mul_ps(d, da), _mm256_cvtepi32_ps(sumi[t])),
                                         _mm256_mul_ps(_mm256_mul_ps(dmin, da), _mm256_cvtepi32_ps(summ)));
      acc[t] = _mm256_add_ps(acc[t], block);
    }
  }
#pragma GCC unroll 4
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

// Q6_K: the four groups m of a 16-element scale group accumulate in one int32 chain (vpdpbusd of
// the 6-bit quants), then one vpmulld by the rows' int8 scale; the -32 offset as in the AVX2
// kernel, with vpdpwssd.
template <int NT>
EXAONE_VNNI void gemv_q6_k_vnni(const BlockQ6_Kx8* w, int64_t nb, const void* act, size_t stride, float* y,
                                int64_t ldy) {
  __m256 acc[NT];
  const BlockQ8K* a[NT];
  start_rows<NT>(act, stride, acc, a);
  // Groups 2k and 2k+1 of the 8 rows (bytes 16k..16k+15) as int16, zipped to (s_2k, s_2k+1) per row lane.
  const __m256i zip = _mm256_setr_epi16(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_ahead<kPrefetchDistanceQ6K>(w + b, sizeof(BlockQ6_Kx8));
    __m256i sumi[NT];
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
#pragma GCC unroll 2
      for (int half = 0; half < 2; ++half) {  // groups m = 4 half .. 4 half + 3 share a scale
        __m256i s32[NT][4];
#pragma GCC unroll 4
        for (int mm = 0; mm < 4; ++mm) {
          const int m = 4 * half + mm;
          const __m256i ql0 = load256(w[b].ql + 512 * h + 32 * m), ql1 = load256(w[b].ql + 512 * h + 256 + 32 * m);
          const __m256i qh = load256(w[b].qh + 256 * h + 32 * m);
          __m256i q[4];
          simd::q6_k_quarters(ql0, ql1, qh, q);
#pragma GCC unroll 4
          for (int t = 0; t < NT; ++t)
#pragma GCC unroll 4
            for (int i = 0; i < 4; ++i)
              s32[t][i] = _mm256_dpbusd_epi32(mm == 0 ? _mm256_setzero_si256() : s32[t][i], q[i],
                                              broadcast4(a[t][b].qs + 128 * h + 32 * i + 4 * m));
        }
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) {
          const __m256i sc = _mm256_cvtepi8_epi32(
              _mm_loadl_epi64(reinterpret_cast<const __m128i*>(w[b].scales + 8 * (8 * h + 2 * i + half))));
#pragma GCC unroll 4
          for (int t = 0; t < NT; ++t) sumi[t] = _mm256_add_epi32(sumi[t], _mm256_mullo_epi32(s32[t][i], sc));
        }
      }
    }
    __m256i pairs[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k)
      pairs[k] = _mm256_permutexvar_epi16(
          zip, _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales + 16 * k))));
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].d)));
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) {
      __m256i offset = _mm256_setzero_si256();
      const int16_t* bsums = a[t][b].bsums;
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) {
        int32_t two;
        std::memcpy(&two, bsums + 2 * k, 4);
        offset = _mm256_dpwssd_epi32(offset, pairs[k], _mm256_set1_epi32(two));
      }
      const __m256i p = _mm256_sub_epi32(sumi[t], _mm256_slli_epi32(offset, 5));
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(a[t][b].d)), _mm256_cvtepi32_ps(p), acc[t]);
    }
  }
#pragma GCC unroll 4
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

template <typename Block, int64_t kElems, void (*K1)(const Block*, int64_t, const void*, size_t, float*, int64_t),
          void (*K2)(const Block*, int64_t, const void*, size_t, float*, int64_t),
          void (*K3)(const Block*, int64_t, const void*, size_t, float*, int64_t),
          void (*K4)(const Block*, int64_t, const void*, size_t, float*, int64_t)>
void dispatch(const void* packed, int64_t cols, int64_t g, const void* act, size_t stride, int nt, float* y,
              int64_t ldy) {
  const int64_t nb = cols / kElems;
  const Block* w = static_cast<const Block*>(packed) + g * nb;
  switch (nt) {
    case 1: K1(w, nb, act, stride, y, ldy); break;
    case 2: K2(w, nb, act, stride, y, ldy); break;
    case 3: K3(w, nb, act, stride, y, ldy); break;
    default: K4(w, nb, act, stride, y, ldy); break;
  }
}

}  // namespace

namespace {

// Copies the fields of row r's file block to (kPack) or from their places in a packed block: the
// one definition of each layout (kernels/interleaved.h), used both to pack and to unpack.
template <bool kPack>
void map_block(DType t, int r, uint8_t* file, void* packed_block) {
  auto copy = [&](void* in_packed, size_t file_offset, size_t n) {
    if constexpr (kPack) std::memcpy(in_packed, file + file_offset, n);
    else std::memcpy(file + file_offset, in_packed, n);
  };
  auto copy4 = [&](void* in_packed, size_t file_offset) { copy(in_packed, file_offset, 4); };
  switch (t) {
    case DType::Q4_0: {
      auto& b = *static_cast<BlockQ4_0x8*>(packed_block);
      copy(&b.d[r], offsetof(BlockQ4_0, d), 2);
      for (int c = 0; c < 4; ++c) copy4(b.qs + 32 * c + 4 * r, offsetof(BlockQ4_0, qs) + 4 * c);
      break;
    }
    case DType::Q8_0: {
      auto& b = *static_cast<BlockQ8_0x8*>(packed_block);
      copy(&b.d[r], offsetof(BlockQ8_0, d), 2);
      for (int c = 0; c < 8; ++c) copy4(reinterpret_cast<uint8_t*>(b.qs) + 32 * c + 4 * r, offsetof(BlockQ8_0, qs) + 4 * c);
      break;
    }
    case DType::Q4_K: {
      auto& b = *static_cast<BlockQ4_Kx8*>(packed_block);
      copy(&b.d[r], offsetof(BlockQ4_K, d), 2);
      copy(&b.dmin[r], offsetof(BlockQ4_K, dmin), 2);
      for (int w = 0; w < 3; ++w) copy4(b.scales + 32 * w + 4 * r, offsetof(BlockQ4_K, scales) + 4 * w);
      for (int c = 0; c < 4; ++c)
        for (int m = 0; m < 8; ++m) copy4(b.qs + 256 * c + 32 * m + 4 * r, offsetof(BlockQ4_K, qs) + 32 * c + 4 * m);
      break;
    }
    case DType::Q6_K: {
      auto& b = *static_cast<BlockQ6_Kx8*>(packed_block);
      copy(&b.d[r], offsetof(BlockQ6_K, d), 2);
      for (int g = 0; g < 16; ++g) copy(&b.scales[8 * g + r], offsetof(BlockQ6_K, scales) + g, 1);
      for (int h = 0; h < 2; ++h)
        for (int m = 0; m < 8; ++m) {
          for (int part = 0; part < 2; ++part)
            copy4(b.ql + 512 * h + 256 * part + 32 * m + 4 * r, offsetof(BlockQ6_K, ql) + 64 * h + 32 * part + 4 * m);
          copy4(b.qh + 256 * h + 32 * m + 4 * r, offsetof(BlockQ6_K, qh) + 32 * h + 4 * m);
        }
      break;
    }
    case DType::Q5_K: {
      auto& b = *static_cast<BlockQ5_Kx8*>(packed_block);
      copy(&b.d[r], offsetof(BlockQ5_K, d), 2);
      copy(&b.dmin[r], offsetof(BlockQ5_K, dmin), 2);
      for (int w = 0; w < 3; ++w) copy4(b.scales + 32 * w + 4 * r, offsetof(BlockQ5_K, scales) + 4 * w);
      for (int m = 0; m < 8; ++m) copy4(b.qh + 32 * m + 4 * r, offsetof(BlockQ5_K, qh) + 4 * m);
      for (int c = 0; c < 4; ++c)
        for (int m = 0; m < 8; ++m) copy4(b.qs + 256 * c + 32 * m + 4 * r, offsetof(BlockQ5_K, qs) + 32 * c + 4 * m);
      break;
    }
    case DType::IQ4_XS: {
      auto& b = *static_cast<BlockIQ4_XSx8*>(packed_block);
      copy(&b.d[r], offsetof(BlockIQ4_XS, d), 2);
      copy(&b.scales_h[r], offsetof(BlockIQ4_XS, scales_h), 2);
      copy4(b.scales_l + 4 * r, offsetof(BlockIQ4_XS, scales_l));
      for (int j = 0; j < 8; ++j)
        for (int c = 0; c < 4; ++c) copy4(b.qs + 128 * j + 32 * c + 4 * r, offsetof(BlockIQ4_XS, qs) + 16 * j + 4 * c);
      break;
    }
    default: fail(std::string("interleaved layout: no layout for ") + dtype_name(t));
  }
}

size_t file_block_bytes(DType t) { return dtype_bytes_for(t, dtype_block_elems(t)); }

// Row r's file blocks [b0, b1) rebuilt from the packed matrix into `out`.
void unpack_row_blocks(DType t, const void* packed, int64_t cols, int64_t r, int64_t b0, int64_t b1, uint8_t* out) {
  const int64_t nb = cols / dtype_block_elems(t);
  const size_t fb = file_block_bytes(t), pb = kInterleaveRows * fb;
  const auto* base = static_cast<const uint8_t*>(packed) + static_cast<size_t>(r / kInterleaveRows * nb) * pb;
  for (int64_t b = b0; b < b1; ++b, out += fb)
    map_block<false>(t, static_cast<int>(r % kInterleaveRows), out,
                     const_cast<uint8_t*>(base + static_cast<size_t>(b) * pb));
}

}  // namespace

bool interleavable(DType t, int64_t rows, int64_t cols) {
  if (t != DType::Q4_0 && t != DType::Q8_0 && t != DType::Q4_K && t != DType::Q6_K && t != DType::Q5_K &&
      t != DType::IQ4_XS)
    return false;
  return rows > 0 && cols > 0 && rows % kInterleaveRows == 0 && cols % dtype_block_elems(t) == 0;
}

size_t interleaved_bytes(DType t, int64_t rows, int64_t cols) {
  return static_cast<size_t>(rows / kInterleaveRows) * static_cast<size_t>(cols / dtype_block_elems(t)) *
         kInterleaveRows * file_block_bytes(t);
}

void interleave_rows(DType t, const void* file_rows, int64_t cols, int64_t r0, int64_t r1, void* out) {
  const int64_t nb = cols / dtype_block_elems(t);
  const size_t fb = file_block_bytes(t), pb = kInterleaveRows * fb;
  const auto* src = static_cast<const uint8_t*>(file_rows);
  auto* dst = static_cast<uint8_t*>(out);
  for (int64_t g = r0 / kInterleaveRows; g < r1 / kInterleaveRows; ++g)
    for (int64_t b = 0; b < nb; ++b)
      for (int r = 0; r < kInterleaveRows; ++r)
        map_block<true>(t, r, const_cast<uint8_t*>(src + static_cast<size_t>((g * kInterleaveRows + r) * nb + b) * fb),
                        dst + static_cast<size_t>(g * nb + b) * pb);
}

void dequantize_interleaved(DType t, const void* packed, int64_t cols, int64_t r, int64_t k0, int64_t len,
                            float* out) {
  // The row's blocks as stored in the file, widened by the (SIMD) file-layout code.
  const int64_t be = dtype_block_elems(t);
  uint8_t file[sizeof(BlockQ6_K)];
  for (int64_t b = k0 / be; b < (k0 + len) / be; ++b, out += be) {
    unpack_row_blocks(t, packed, cols, r, b, b + 1, file);
    switch (t) {
      case DType::Q4_0: dequantize_row_q4_0(file, out, be); break;
      case DType::Q8_0: dequantize_row_q8_0(file, out, be); break;
      case DType::Q4_K: dequantize_row_q4_k(file, out, be); break;
      case DType::Q6_K: dequantize_row_q6_k(file, out, be); break;
      default: dequantize_row_any(t, file, out, be); break;
    }
  }
}

// Reference: each row rebuilt in the file layout and dotted by the scalar file-layout kernel.
void gemv_interleaved_scalar(DType t, const void* packed, int64_t cols, int64_t g, const void* act, size_t act_stride,
                             int nt, float* y, int64_t ldy) {
  std::vector<uint8_t> row(dtype_bytes_for(t, cols));
  const QuantDotFn dot = quant_dot_scalar(t);
  for (int r = 0; r < kInterleaveRows; ++r) {
    unpack_row_blocks(t, packed, cols, g * kInterleaveRows + r, 0, cols / dtype_block_elems(t), row.data());
    float out[4];
    dot(row.data(), act, act_stride, nt, cols, out);
    for (int tk = 0; tk < nt; ++tk) y[tk * ldy + r] = out[tk];
  }
}

void gemv_interleaved_avx2(DType t, const void* packed, int64_t cols, int64_t g, const void* act, size_t act_stride,
                           int nt, float* y, int64_t ldy) {
  switch (t) {
    case DType::Q4_0:
      return dispatch<BlockQ4_0x8, kQBlock, gemv_q4_0_avx2<1>, gemv_q4_0_avx2<2>, gemv_q4_0_avx2<3>, gemv_q4_0_avx2<4>>(
          packed, cols, g, act, act_stride, nt, y, ldy);
    case DType::Q8_0:
      return dispatch<BlockQ8_0x8, kQBlock, gemv_q8_0_avx2<1>, gemv_q8_0_avx2<2>, gemv_q8_0_avx2<3>, gemv_q8_0_avx2<4>>(
          packed, cols, g, act, act_stride, nt, y, ldy);
    case DType::Q4_K:
      return dispatch<BlockQ4_Kx8, kQKBlock, gemv_q4_k_avx2<1>, gemv_q4_k_avx2<2>, gemv_q4_k_avx2<3>,
                      gemv_q4_k_avx2<4>>(packed, cols, g, act, act_stride, nt, y, ldy);
    case DType::Q6_K:
      return dispatch<BlockQ6_Kx8, kQKBlock, gemv_q6_k_avx2<1>, gemv_q6_k_avx2<2>, gemv_q6_k_avx2<3>,
                      gemv_q6_k_avx2<4>>(packed, cols, g, act, act_stride, nt, y, ldy);
    default:
      if (!gemv_interleaved_ext(t, false, packed, cols, g, act, act_stride, nt, y, ldy))
        fail(std::string("interleaved GEMV: no kernel for ") + dtype_name(t));
  }
}

void gemv_interleaved_avx512vnni(DType t, const void* packed, int64_t cols, int64_t g, const void* act,
                                 size_t act_stride, int nt, float* y, int64_t ldy) {
  switch (t) {
    case DType::Q4_0:
      return dispatch<BlockQ4_0x8, kQBlock, gemv_q4_0_vnni<1>, gemv_q4_0_vnni<2>, gemv_q4_0_vnni<3>, gemv_q4_0_vnni<4>>(
          packed, cols, g, act, act_stride, nt, y, ldy);
    case DType::Q8_0:
      return dispatch<BlockQ8_0x8, kQBlock, gemv_q8_0_vnni<1>, gemv_q8_0_vnni<2>, gemv_q8_0_vnni<3>, gemv_q8_0_vnni<4>>(
          packed, cols, g, act, act_stride, nt, y, ldy);
    case DType::Q4_K:
      return dispatch<BlockQ4_Kx8, kQKBlock, gemv_q4_k_vnni<1>, gemv_q4_k_vnni<2>, gemv_q4_k_vnni<3>,
                      gemv_q4_k_vnni<4>>(packed, cols, g, act, act_stride, nt, y, ldy);
    case DType::Q6_K:
      return dispatch<BlockQ6_Kx8, kQKBlock, gemv_q6_k_vnni<1>, gemv_q6_k_vnni<2>, gemv_q6_k_vnni<3>,
                      gemv_q6_k_vnni<4>>(packed, cols, g, act, act_stride, nt, y, ldy);
    default:
      if (!gemv_interleaved_ext(t, true, packed, cols, g, act, act_stride, nt, y, ldy))
        fail(std::string("interleaved GEMV: no kernel for ") + dtype_name(t));
  }
}

InterleavedGemvFn interleaved_gemv() {
  if (force_scalar_kernels()) return gemv_interleaved_scalar;
  if (use_avx512vnni()) return gemv_interleaved_avx512vnni;
  const CpuFeatures& f = cpu_features();
  if (f.avx2 && f.fma && f.f16c) return gemv_interleaved_avx2;
  return gemv_interleaved_scalar;
}

const char* interleaved_gemv_name() {
  const InterleavedGemvFn fn = interleaved_gemv();
  return fn == gemv_interleaved_avx512vnni ? "avx512-vnni" : fn == gemv_interleaved_avx2 ? "avx2" : "scalar";
}

}  // namespace exaone
