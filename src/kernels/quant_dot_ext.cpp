// Integer dot products for the community GGUF types (kernels/quant_ext.h), the way the existing
// ones work (kernels/quant_dot.h): Q4_1, Q5_0, Q5_1 and IQ4_NL take 32-element int8 activation
// blocks (BlockQ8A, whose sum carries the offsets of Q4_1/Q5_1), the 256-element types BlockQ8K
// (whose 16-element sums carry the mins of Q2_K and Q5_K). Each block's integer sum is exact; the
// block values are scaled and summed in float.
//
// Every type has a scalar reference. Q5_K and IQ4_XS, the common types of community files (Q5_K_M,
// IQ4_XS), have AVX2 and AVX-512 VNNI (256-bit vpdpbusd) kernels too; Q4_1, Q5_0, Q5_1 and IQ4_NL (the
// fallbacks of 128-wide rows) AVX2 ones; Q2_K and Q3_K run the scalar kernels for decode and
// dequantised float panels from 16 tokens.
#include <immintrin.h>

#include <cstring>

#include "kernels/quant_dot.h"
#include "kernels/quant_ext.h"
#include "kernels/simd_avx2.h"
#include "util/half.h"

namespace exaone {

namespace {

uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// ---------------------------------------------------------------- scalar references

void dot_q4_1_scalar(const void* w_row, const void* act, size_t stride, int nt, int64_t K, float* out) {
  const auto* w = static_cast<const BlockQ4_1*>(w_row);
  for (int t = 0; t < nt; ++t) {
    const BlockQ8A* a = act_row<BlockQ8A>(act, stride, t);
    float s = 0;
    for (int64_t b = 0; b < K / kQBlock; ++b) {
      int32_t isum = 0;
      for (int j = 0; j < 16; ++j) isum += (w[b].qs[j] & 0x0f) * a[b].qs[j] + (w[b].qs[j] >> 4) * a[b].qs[j + 16];
      // Σ (d q + m) x = d Σ q x + m Σ x
      s += f16_to_f32(w[b].d) * a[b].d * static_cast<float>(isum) +
           f16_to_f32(w[b].m) * a[b].d * static_cast<float>(a[b].sum);
    }
    out[t] = s;
  }
}

// Q5_0/Q5_1 unsigned 5-bit quants of one block.
void q5_values(const uint8_t* qs, const uint8_t* qh4, int* q) {
  const uint32_t qh = load_u32(qh4);
  for (int j = 0; j < 16; ++j) {
    q[j] = (qs[j] & 0x0f) | (((qh >> j) & 1) << 4);
    q[j + 16] = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
  }
}

void dot_q5_0_scalar(const void* w_row, const void* act, size_t stride, int nt, int64_t K, float* out) {
  const auto* w = static_cast<const BlockQ5_0*>(w_row);
  for (int t = 0; t < nt; ++t) {
    const BlockQ8A* a = act_row<BlockQ8A>(act, stride, t);
    float s = 0;
    for (int64_t b = 0; b < K / kQBlock; ++b) {
      int q[32];
      q5_values(w[b].qs, w[b].qh, q);
      int32_t isum = 0;
      for (int j = 0; j < 32; ++j) isum += q[j] * a[b].qs[j];
      isum -= 16 * a[b].sum;
      s += f16_to_f32(w[b].d) * a[b].d * static_cast<float>(isum);
    }
    out[t] = s;
  }
}

void dot_q5_1_scalar(const void* w_row, const void* act, size_t stride, int nt, int64_t K, float* out) {
  const auto* w = static_cast<const BlockQ5_1*>(w_row);
  for (int t = 0; t < nt; ++t) {
    const BlockQ8A* a = act_row<BlockQ8A>(act, stride, t);
    float s = 0;
    for (int64_t b = 0; b < K / kQBlock; ++b) {
      int q[32];
      q5_values(w[b].qs, w[b].qh, q);
      int32_t isum = 0;
      for (int j = 0; j < 32; ++j) isum += q[j] * a[b].qs[j];
      s += f16_to_f32(w[b].d) * a[b].d * static_cast<float>(isum) +
           f16_to_f32(w[b].m) * a[b].d * static_cast<float>(a[b].sum);
    }
    out[t] = s;
  }
}

void dot_iq4_nl_scalar(const void* w_row, const void* act, size_t stride, int nt, int64_t K, float* out) {
  const auto* w = static_cast<const BlockIQ4_NL*>(w_row);
  for (int t = 0; t < nt; ++t) {
    const BlockQ8A* a = act_row<BlockQ8A>(act, stride, t);
    float s = 0;
    for (int64_t b = 0; b < K / kQBlock; ++b) {
      int32_t isum = 0;
      for (int j = 0; j < 16; ++j)
        isum += kIQ4NLValues[w[b].qs[j] & 0x0f] * a[b].qs[j] + kIQ4NLValues[w[b].qs[j] >> 4] * a[b].qs[j + 16];
      s += f16_to_f32(w[b].d) * a[b].d * static_cast<float>(isum);
    }
    out[t] = s;
  }
}

void dot_q2_k_scalar(const void* w_row, const void* act, size_t stride, int nt, int64_t K, float* out) {
  const auto* w = static_cast<const BlockQ2_K*>(w_row);
  for (int t = 0; t < nt; ++t) {
    const BlockQ8K* a = act_row<BlockQ8K>(act, stride, t);
    float s = 0;
    for (int64_t b = 0; b < K / kQKBlock; ++b) {
      int32_t group[16] = {};
      for (int h = 0; h < 2; ++h)  // element 128 h + 32 j + l: bits 2j of qs[32 h + l]
        for (int j = 0; j < 4; ++j) {
          const uint8_t* q = w[b].qs + 32 * h;
          const int8_t* y = a[b].qs + 128 * h + 32 * j;
          int32_t lo = 0, hi = 0;
          for (int l = 0; l < 16; ++l) lo += ((q[l] >> (2 * j)) & 3) * y[l];
          for (int l = 16; l < 32; ++l) hi += ((q[l] >> (2 * j)) & 3) * y[l];
          group[8 * h + 2 * j] = lo;
          group[8 * h + 2 * j + 1] = hi;
        }
      int32_t sumi = 0, summ = 0;
      for (int g = 0; g < 16; ++g) {
        sumi += (w[b].scales[g] & 0x0f) * group[g];
        summ += (w[b].scales[g] >> 4) * a[b].bsums[g];
      }
      s += f16_to_f32(w[b].d) * a[b].d * static_cast<float>(sumi) -
           f16_to_f32(w[b].dmin) * a[b].d * static_cast<float>(summ);
    }
    out[t] = s;
  }
}

void dot_q3_k_scalar(const void* w_row, const void* act, size_t stride, int nt, int64_t K, float* out) {
  const auto* w = static_cast<const BlockQ3_K*>(w_row);
  for (int t = 0; t < nt; ++t) {
    const BlockQ8K* a = act_row<BlockQ8K>(act, stride, t);
    float s = 0;
    for (int64_t b = 0; b < K / kQKBlock; ++b) {
      int32_t group[16] = {};
      for (int h = 0; h < 2; ++h)  // element 128 h + 32 j + l: bits 2j of qs[32 h + l], bit 4h + j of hmask[l]
        for (int j = 0; j < 4; ++j) {
          const uint8_t* q = w[b].qs + 32 * h;
          const uint8_t* hm = w[b].hmask;
          const int8_t* y = a[b].qs + 128 * h + 32 * j;
          const int shift = 2 * j, bit = 4 * h + j;
          int32_t lo = 0, hi = 0;
          for (int l = 0; l < 16; ++l) lo += (((q[l] >> shift) & 3) - (((hm[l] >> bit) & 1) ^ 1) * 4) * y[l];
          for (int l = 16; l < 32; ++l) hi += (((q[l] >> shift) & 3) - (((hm[l] >> bit) & 1) ^ 1) * 4) * y[l];
          group[8 * h + 2 * j] = lo;
          group[8 * h + 2 * j + 1] = hi;
        }
      int32_t sumi = 0;
      for (int g = 0; g < 16; ++g) sumi += (q3_k_scale(w[b].scales, g) - 32) * group[g];
      s += f16_to_f32(w[b].d) * a[b].d * static_cast<float>(sumi);
    }
    out[t] = s;
  }
}

void dot_q5_k_scalar(const void* w_row, const void* act, size_t stride, int nt, int64_t K, float* out) {
  const auto* w = static_cast<const BlockQ5_K*>(w_row);
  for (int t = 0; t < nt; ++t) {
    const BlockQ8K* a = act_row<BlockQ8K>(act, stride, t);
    float s = 0;
    for (int64_t b = 0; b < K / kQKBlock; ++b) {
      int32_t sumi = 0, summ = 0;
      for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        scale_min_k4(j, w[b].scales, sc, m);
        const uint8_t* q = w[b].qs + 32 * (j / 2);
        const int8_t* y = a[b].qs + 32 * j;
        int32_t part = 0;
        for (int l = 0; l < 32; ++l)
          part += ((j % 2 ? q[l] >> 4 : q[l] & 0x0f) | (((w[b].qh[l] >> j) & 1) << 4)) * y[l];
        sumi += sc * part;
        summ += m * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
      }
      s += f16_to_f32(w[b].d) * a[b].d * static_cast<float>(sumi) -
           f16_to_f32(w[b].dmin) * a[b].d * static_cast<float>(summ);
    }
    out[t] = s;
  }
}

void dot_iq4_xs_scalar(const void* w_row, const void* act, size_t stride, int nt, int64_t K, float* out) {
  const auto* w = static_cast<const BlockIQ4_XS*>(w_row);
  for (int t = 0; t < nt; ++t) {
    const BlockQ8K* a = act_row<BlockQ8K>(act, stride, t);
    float s = 0;
    for (int64_t b = 0; b < K / kQKBlock; ++b) {
      int32_t sumi = 0;
      for (int j = 0; j < 8; ++j) {
        const uint8_t* q = w[b].qs + 16 * j;
        const int8_t* y = a[b].qs + 32 * j;
        int32_t part = 0;
        for (int l = 0; l < 16; ++l) part += kIQ4NLValues[q[l] & 0x0f] * y[l] + kIQ4NLValues[q[l] >> 4] * y[l + 16];
        sumi += (iq4_xs_scale(w[b], j) - 32) * part;
      }
      s += f16_to_f32(w[b].d) * a[b].d * static_cast<float>(sumi);
    }
    out[t] = s;
  }
}

// ---------------------------------------------------------------- AVX2

#define EXAONE_AVX2 __attribute__((target("avx2,fma,f16c")))
#define EXAONE_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")))

using simd::hsum;
using simd::load256;

// Prefetch distance for the streamed weight rows (as kernels/quant_dot.cpp).
constexpr int kPrefetchBytes = 1152;
EXAONE_AVX2 inline void prefetch_block(const void* block, size_t bytes) {
  const char* p = static_cast<const char*>(block) + kPrefetchBytes;
  for (size_t off = 0; off < bytes; off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
}

// The 8 six-bit scales (int16 lanes 0-7) and mins (8-15) of a Q4_K/Q5_K super-block, from whole
// 32-bit words (the packing scale_min_k4 reads).
EXAONE_AVX2 inline __m256i k4_scales_mins(const uint8_t* packed) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  constexpr uint32_t k6 = 0x3f3f3f3f, k4 = 0x0f0f0f0f, k2 = 0x03030303;
  const uint32_t s_lo = u[0] & k6, s_hi = (u[2] & k4) | (((u[0] >> 6) & k2) << 4);
  const uint32_t m_lo = u[1] & k6, m_hi = ((u[2] >> 4) & k4) | (((u[1] >> 6) & k2) << 4);
  return _mm256_cvtepu8_epi16(_mm_set_epi32(static_cast<int>(m_hi), static_cast<int>(m_lo), static_cast<int>(s_hi),
                                            static_cast<int>(s_lo)));
}

// pshufb control broadcasting int16 lane j (of each 128-bit lane) to all 8 int16 lanes.
EXAONE_AVX2 inline __m256i broadcast16_ctrl(int j) {
  return _mm256_set1_epi16(static_cast<int16_t>((2 * j) | ((2 * j + 1) << 8)));
}

// Chunk c (64 elements) of a Q5_K super-block as two vectors of 5-bit unsigned quants: sub-block
// 2c (low nibbles + bit 2c of qh) and 2c+1 (high nibbles + bit 2c+1).
EXAONE_AVX2 inline void q5_k_chunk(const BlockQ5_K& w, __m256i qh, int c, __m256i& lo, __m256i& hi) {
  const __m256i low4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
  const __m256i qv = load256(w.qs + 32 * c);
  // Shifts by 16-bit lanes: the bits pulled in from the neighbouring byte are masked off.
  const __m256i b0 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one);
  const __m256i b1 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one);
  lo = _mm256_or_si256(_mm256_and_si256(qv, low4), _mm256_slli_epi16(b0, 4));
  hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qv, 4), low4), _mm256_slli_epi16(b1, 4));
}

// Σ_j m_j (Σ of the activations of sub-block j) for a Q4_K/Q5_K super-block: bsums are per 16.
EXAONE_AVX2 inline __m128i k4_min_products(__m128i mins, const int16_t* bsums) {
  const __m256i bs = load256(bsums);
  const __m128i pair = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
  return _mm_madd_epi16(mins, pair);
}

// AVX2: 5-bit quants (<= 31) times int8 activations in pmaddubsw pairs (<= 2 * 31 * 127), then pmaddwd
// by the sub-block's scale.
template <int NT>
EXAONE_AVX2 void dot_q5_k_avx2_nt(const BlockQ5_K* w, const void* act, size_t stride, int64_t nb, float* out) {
  __m256 acc[NT], acc_min[NT];
  const BlockQ8K* a[NT];
  for (int t = 0; t < NT; ++t) {
    acc[t] = acc_min[t] = _mm256_setzero_ps();
    a[t] = act_row<BlockQ8K>(act, stride, t);
  }
  __m256i ctrl[8];
  for (int j = 0; j < 8; ++j) ctrl[j] = broadcast16_ctrl(j);
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_block(w + b, sizeof(BlockQ5_K));
    const __m256i sm = k4_scales_mins(w[b].scales);
    const __m256i scales = _mm256_permute2x128_si256(sm, sm, 0x00);
    const __m128i mins = _mm256_extracti128_si256(sm, 1);
    const __m256i qh = load256(w[b].qh);
    const float d = _cvtsh_ss(w[b].d), dmin = _cvtsh_ss(w[b].dmin);
    __m256i sumi[NT];
    for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      __m256i lo, hi;
      q5_k_chunk(w[b], qh, c, lo, hi);
      const __m256i s_lo = _mm256_shuffle_epi8(scales, ctrl[2 * c]);
      const __m256i s_hi = _mm256_shuffle_epi8(scales, ctrl[2 * c + 1]);
      for (int t = 0; t < NT; ++t) {
        const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(a[t][b].qs + 64 * c)), s_lo);
        const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(a[t][b].qs + 64 * c + 32)), s_hi);
        sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(p_lo, p_hi));
      }
    }
    for (int t = 0; t < NT; ++t) {
      const __m128i m = k4_min_products(mins, a[t][b].bsums);
      const float da = a[t][b].d;
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * da), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
      acc_min[t] = _mm256_fmadd_ps(_mm256_set1_ps(dmin * da), _mm256_zextps128_ps256(_mm_cvtepi32_ps(m)), acc_min[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum(_mm256_sub_ps(acc[t], acc_min[t]));
}

// VNNI: each sub-block's Σ q y in one vpdpbusd, then one vpmulld by its scale.
template <int NT>
EXAONE_VNNI void dot_q5_k_vnni_nt(const BlockQ5_K* w, const void* act, size_t stride, int64_t nb, float* out) {
  __m256 acc[NT], acc_min[NT];
  const BlockQ8K* a[NT];
  for (int t = 0; t < NT; ++t) {
    acc[t] = acc_min[t] = _mm256_setzero_ps();
    a[t] = act_row<BlockQ8K>(act, stride, t);
  }
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_block(w + b, sizeof(BlockQ5_K));
    const __m256i sm = k4_scales_mins(w[b].scales);
    const __m128i mins = _mm256_extracti128_si256(sm, 1);
    alignas(32) int16_t sc[16];
    _mm256_store_si256(reinterpret_cast<__m256i*>(sc), sm);
    const __m256i qh = load256(w[b].qh);
    const float d = _cvtsh_ss(w[b].d), dmin = _cvtsh_ss(w[b].dmin);
    __m256i sumi[NT];
    for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      __m256i lo, hi;
      q5_k_chunk(w[b], qh, c, lo, hi);
      const __m256i s_lo = _mm256_set1_epi32(sc[2 * c]), s_hi = _mm256_set1_epi32(sc[2 * c + 1]);
      for (int t = 0; t < NT; ++t) {
        const __m256i p_lo = _mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, load256(a[t][b].qs + 64 * c));
        const __m256i p_hi = _mm256_dpbusd_epi32(_mm256_setzero_si256(), hi, load256(a[t][b].qs + 64 * c + 32));
        sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(_mm256_mullo_epi32(p_lo, s_lo), _mm256_mullo_epi32(p_hi, s_hi)));
      }
    }
    for (int t = 0; t < NT; ++t) {
      const __m128i m = k4_min_products(mins, a[t][b].bsums);
      const float da = a[t][b].d;
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * da), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
      acc_min[t] = _mm256_fmadd_ps(_mm256_set1_ps(dmin * da), _mm256_zextps128_ps256(_mm_cvtepi32_ps(m)), acc_min[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum(_mm256_sub_ps(acc[t], acc_min[t]));
}

// Q2_K and Q3_K. Per half h of a super-block, the 32 bytes qs[32h..] hold four 32-element runs
// (bits 2j..2j+1 for elements 128h + 32j + l); each run is two 16-element groups, one per 128-bit
// lane, so after pmaddubsw a lane's int16 pair sums belong to one group and one pmaddwd by a
// per-lane scale vector gives that group's scaled sums. Quants are unsigned (Q2_K 0..3, Q3_K 0..7
// with the high bit), so pmaddubsw cannot saturate; the offsets (Q2_K's mins, Q3_K's -4 where the
// high bit is clear, i.e. -4 for all and +4 back through the bit) go through the activation sums.

// pshufb control: int16 lane 2j of each 128-bit lane to the low lane's 8 int16s, lane 2j+1 to the
// high lane's (the scales of the run's two groups).
EXAONE_AVX2 inline __m256i run_scale_ctrl(int j) {
  const __m128i lo = _mm_set1_epi16(static_cast<int16_t>((4 * j) | ((4 * j + 1) << 8)));
  const __m128i hi = _mm_set1_epi16(static_cast<int16_t>((4 * j + 2) | ((4 * j + 3) << 8)));
  return _mm256_set_m128i(hi, lo);
}

// The 16 6-bit Q3_K scales (stored + 32) as bytes in group order (q3_k_scale for all g at once),
// built in registers: through a byte array, two 8-byte stores read back by one 16-byte load missed
// store forwarding and stalled every block.
EXAONE_AVX2 inline __m128i q3_k_scales16(const uint8_t* packed) {
  uint32_t a[3];
  std::memcpy(a, packed, 12);
  constexpr uint32_t k4 = 0x0f0f0f0f, k2 = 0x03030303;
  const uint32_t hi = a[2];
  const uint32_t s3 = ((a[1] >> 4) & k4) | (((hi >> 6) & k2) << 4);
  const uint32_t s2 = ((a[0] >> 4) & k4) | (((hi >> 4) & k2) << 4);
  const uint32_t s1 = (a[1] & k4) | (((hi >> 2) & k2) << 4);
  const uint32_t s0 = (a[0] & k4) | ((hi & k2) << 4);
  return _mm_set_epi32(static_cast<int>(s3), static_cast<int>(s2), static_cast<int>(s1), static_cast<int>(s0));
}

template <int NT, bool kQ3>
EXAONE_AVX2 void dot_q2q3_k_avx2_nt(const void* w_row, const void* act, size_t stride, int64_t nb, float* out) {
  __m256 acc[NT], acc_off[NT];
  const BlockQ8K* a[NT];
  for (int t = 0; t < NT; ++t) {
    acc[t] = acc_off[t] = _mm256_setzero_ps();
    a[t] = act_row<BlockQ8K>(act, stride, t);
  }
  __m256i ctrl[4];
  for (int j = 0; j < 4; ++j) ctrl[j] = run_scale_ctrl(j);
  const __m256i three = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  constexpr size_t kBytes = kQ3 ? sizeof(BlockQ3_K) : sizeof(BlockQ2_K);
  const auto* base = static_cast<const uint8_t*>(w_row);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = base + b * kBytes;
    prefetch_block(blk, kBytes);
    const uint8_t* qs;
    __m256i scales16, offsets16, hmask = _mm256_setzero_si256();
    float d, d_off;
    if constexpr (kQ3) {
      const auto& w = *reinterpret_cast<const BlockQ3_K*>(blk);
      // Signed scales (stored - 32); the offset term is 4 Σ_g sc_g bsum_g, subtracted.
      scales16 = _mm256_sub_epi16(_mm256_cvtepu8_epi16(q3_k_scales16(w.scales)), _mm256_set1_epi16(32));
      offsets16 = _mm256_slli_epi16(scales16, 2);
      hmask = load256(w.hmask);
      qs = w.qs;
      d = d_off = _cvtsh_ss(w.d);
    } else {
      const auto& w = *reinterpret_cast<const BlockQ2_K*>(blk);
      const __m256i sm = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales)));
      scales16 = _mm256_and_si256(sm, _mm256_set1_epi16(0x0f));
      offsets16 = _mm256_srli_epi16(sm, 4);  // the mins, weighted by dmin
      qs = w.qs;
      d = _cvtsh_ss(w.d);
      d_off = _cvtsh_ss(w.dmin);
    }
    __m256i sumi[NT];
    for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const __m256i qv = load256(qs + 32 * h);
      // Scales of groups 8h..8h+7 in both 128-bit lanes.
      const __m256i sc_h = h == 0 ? _mm256_permute4x64_epi64(scales16, 0x44) : _mm256_permute4x64_epi64(scales16, 0xee);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {  // unrolled: the shifts become immediates
        __m256i q = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * j), three);
        if constexpr (kQ3) {
          const __m256i bit = _mm256_and_si256(_mm256_srli_epi16(hmask, 4 * h + j), one);
          q = _mm256_or_si256(q, _mm256_slli_epi16(bit, 2));
        }
        const __m256i s = _mm256_shuffle_epi8(sc_h, ctrl[j]);
        for (int t = 0; t < NT; ++t) {
          const __m256i p = _mm256_maddubs_epi16(q, load256(a[t][b].qs + 128 * h + 32 * j));
          sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(p, s));
        }
      }
    }
    for (int t = 0; t < NT; ++t) {
      const __m256i off = _mm256_madd_epi16(offsets16, load256(a[t][b].bsums));
      const float da = a[t][b].d;
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * da), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
      acc_off[t] = _mm256_fmadd_ps(_mm256_set1_ps(d_off * da), _mm256_cvtepi32_ps(off), acc_off[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum(_mm256_sub_ps(acc[t], acc_off[t]));
}

// IQ4_XS: two 32-element groups per step. The 32 bytes of quants hold group 2p in bytes 0-15 and
// group 2p+1 in bytes 16-31, so the low nibbles are elements 0-15 of each group (one per 128-bit
// lane) and the high nibbles elements 16-31; the activations are loaded to match. Grid values are
// looked up with pshufb; signed x signed products use |w| and the sign moved onto the activations.
EXAONE_AVX2 inline void iq4_xs_pair(const BlockIQ4_XS& w, int p, __m256i& lo, __m256i& hi) {
  const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLValues)));
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i q = load256(w.qs + 32 * p);
  lo = _mm256_shuffle_epi8(table, _mm256_and_si256(q, low4));
  hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(q, 4), low4));
}

// The activations of a group pair matching iq4_xs_pair's lo / hi.
EXAONE_AVX2 inline void iq4_xs_acts(const int8_t* y, __m256i& ylo, __m256i& yhi) {
  auto at = [&](int off) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(y + off)); };
  ylo = _mm256_set_m128i(at(32), at(0));
  yhi = _mm256_set_m128i(at(48), at(16));
}

// The 8 group scales of an IQ4_XS super-block minus 32, as int16 (stored array).
inline void iq4_xs_scales(const BlockIQ4_XS& w, int16_t* sc) {
  for (int j = 0; j < 8; ++j) sc[j] = static_cast<int16_t>(iq4_xs_scale(w, j) - 32);
}

template <int NT>
EXAONE_AVX2 void dot_iq4_xs_avx2_nt(const BlockIQ4_XS* w, const void* act, size_t stride, int64_t nb, float* out) {
  __m256 acc[NT];
  const BlockQ8K* a[NT];
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm256_setzero_ps();
    a[t] = act_row<BlockQ8K>(act, stride, t);
  }
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_block(w + b, sizeof(BlockIQ4_XS));
    int16_t sc[8];
    iq4_xs_scales(w[b], sc);
    __m256i sumi[NT];
    for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
    for (int p = 0; p < 4; ++p) {
      __m256i lo, hi;
      iq4_xs_pair(w[b], p, lo, hi);
      const __m256i alo = _mm256_sign_epi8(lo, lo), ahi = _mm256_sign_epi8(hi, hi);
      const __m256i scale = _mm256_set_m128i(_mm_set1_epi16(sc[2 * p + 1]), _mm_set1_epi16(sc[2 * p]));
      for (int t = 0; t < NT; ++t) {
        __m256i ylo, yhi;
        iq4_xs_acts(a[t][b].qs + 64 * p, ylo, yhi);
        // Pairs of |w| |y| <= 2 * 127 * 127 fit int16.
        const __m256i p_lo = _mm256_maddubs_epi16(alo, _mm256_sign_epi8(ylo, lo));
        const __m256i p_hi = _mm256_maddubs_epi16(ahi, _mm256_sign_epi8(yhi, hi));
        sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(_mm256_madd_epi16(p_lo, scale), _mm256_madd_epi16(p_hi, scale)));
      }
    }
    const float d = _cvtsh_ss(w[b].d);
    for (int t = 0; t < NT; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * a[t][b].d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum(acc[t]);
}

template <int NT>
EXAONE_VNNI void dot_iq4_xs_vnni_nt(const BlockIQ4_XS* w, const void* act, size_t stride, int64_t nb, float* out) {
  __m256 acc[NT];
  const BlockQ8K* a[NT];
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm256_setzero_ps();
    a[t] = act_row<BlockQ8K>(act, stride, t);
  }
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_block(w + b, sizeof(BlockIQ4_XS));
    int16_t sc[8];
    iq4_xs_scales(w[b], sc);
    __m256i sumi[NT];
    for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
    for (int p = 0; p < 4; ++p) {
      __m256i lo, hi;
      iq4_xs_pair(w[b], p, lo, hi);
      const __m256i alo = _mm256_sign_epi8(lo, lo), ahi = _mm256_sign_epi8(hi, hi);
      const __m256i scale = _mm256_set_m128i(_mm_set1_epi32(sc[2 * p + 1]), _mm_set1_epi32(sc[2 * p]));
      for (int t = 0; t < NT; ++t) {
        __m256i ylo, yhi;
        iq4_xs_acts(a[t][b].qs + 64 * p, ylo, yhi);
        __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), alo, _mm256_sign_epi8(ylo, lo));
        s = _mm256_dpbusd_epi32(s, ahi, _mm256_sign_epi8(yhi, hi));
        sumi[t] = _mm256_add_epi32(sumi[t], _mm256_mullo_epi32(s, scale));
      }
    }
    const float d = _cvtsh_ss(w[b].d);
    for (int t = 0; t < NT; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * a[t][b].d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum(acc[t]);
}

// ---------------------------------------------------------------- AVX2, 32-element types
//
// One block per step, the weight block unpacked once for the NT activation rows: 32 unsigned
// quants (Q4_1, Q5_0, Q5_1) or signed grid values (IQ4_NL) against the 32 int8 activations.

// Σ u8 * s8 over 32 bytes into 8 int32 lanes (pairs stay below 2 * 31 * 127).
EXAONE_AVX2 inline __m256i dot_u8s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// The 32 nibbles of a block in element order (low nibbles elements 0-15, high 16-31).
EXAONE_AVX2 inline __m256i nibbles32(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
}

// Bit j of the little-endian qh word as 0x10 in byte j (the fifth bit of element j).
EXAONE_AVX2 inline __m256i fifth_bits(const uint8_t* qh4) {
  uint32_t qh;
  std::memcpy(&qh, qh4, 4);
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(qh)),
                                            _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit), _mm256_set1_epi8(0x10));
}

// kOffset: Q4_1/Q5_1 (x = d q + m: the m Σx term from the activation sum); else Q5_0 (q - 16).
template <typename Block, int NT, bool kFifth, bool kOffset>
EXAONE_AVX2 void dot_q4q5_avx2_nt(const Block* w, const void* act, size_t stride, int64_t nb, float* out) {
  __m256 acc[NT];
  float acc_m[NT];
  const BlockQ8A* a[NT];
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm256_setzero_ps();
    acc_m[t] = 0;
    a[t] = act_row<BlockQ8A>(act, stride, t);
  }
  for (int64_t b = 0; b < nb; ++b) {
    __m256i q = nibbles32(w[b].qs);
    if constexpr (kFifth) q = _mm256_or_si256(q, fifth_bits(w[b].qh));
    const float d = _cvtsh_ss(w[b].d);
    for (int t = 0; t < NT; ++t) {
      __m256i p = dot_u8s8(q, load256(a[t][b].qs));
      if constexpr (!kOffset) p = _mm256_sub_epi32(p, _mm256_zextsi128_si256(_mm_cvtsi32_si128(16 * a[t][b].sum)));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * a[t][b].d), _mm256_cvtepi32_ps(p), acc[t]);
      if constexpr (kOffset) acc_m[t] += _cvtsh_ss(w[b].m) * a[t][b].d * static_cast<float>(a[t][b].sum);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum(acc[t]) + acc_m[t];
}

template <int NT>
EXAONE_AVX2 void dot_iq4_nl_avx2_nt(const BlockIQ4_NL* w, const void* act, size_t stride, int64_t nb, float* out) {
  __m256 acc[NT];
  const BlockQ8A* a[NT];
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm256_setzero_ps();
    a[t] = act_row<BlockQ8A>(act, stride, t);
  }
  const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLValues)));
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i v = _mm256_shuffle_epi8(table, nibbles32(w[b].qs));
    const __m256i av = _mm256_sign_epi8(v, v);  // |w|; the sign moves onto the activations
    const float d = _cvtsh_ss(w[b].d);
    for (int t = 0; t < NT; ++t) {
      const __m256i p = dot_u8s8(av, _mm256_sign_epi8(load256(a[t][b].qs), v));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * a[t][b].d), _mm256_cvtepi32_ps(p), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum(acc[t]);
}

template <int NT> struct Q4_1Avx2 { static void run(const BlockQ4_1* w, const void* a, size_t s, int64_t nb, float* o) { dot_q4q5_avx2_nt<BlockQ4_1, NT, false, true>(w, a, s, nb, o); } };
template <int NT> struct Q5_0Avx2 { static void run(const BlockQ5_0* w, const void* a, size_t s, int64_t nb, float* o) { dot_q4q5_avx2_nt<BlockQ5_0, NT, true, false>(w, a, s, nb, o); } };
template <int NT> struct Q5_1Avx2 { static void run(const BlockQ5_1* w, const void* a, size_t s, int64_t nb, float* o) { dot_q4q5_avx2_nt<BlockQ5_1, NT, true, true>(w, a, s, nb, o); } };
template <int NT> struct IQ4_NLAvx2 { static void run(const BlockIQ4_NL* w, const void* a, size_t s, int64_t nb, float* o) { dot_iq4_nl_avx2_nt<NT>(w, a, s, nb, o); } };

// nt (1..4) -> template instantiation; kElems: the weight block (32 or 256).
template <typename Block, template <int> class Kernel, int64_t kElems = kQKBlock>
void dispatch_nt(const void* w_row, const void* act, size_t stride, int nt, int64_t K, float* out) {
  const auto* w = static_cast<const Block*>(w_row);
  const int64_t nb = K / kElems;
  switch (nt) {
    case 1: Kernel<1>::run(w, act, stride, nb, out); break;
    case 2: Kernel<2>::run(w, act, stride, nb, out); break;
    case 3: Kernel<3>::run(w, act, stride, nb, out); break;
    default: Kernel<4>::run(w, act, stride, nb, out); break;
  }
}

template <int NT> struct Q5_KAvx2 { static void run(const BlockQ5_K* w, const void* a, size_t s, int64_t nb, float* o) { dot_q5_k_avx2_nt<NT>(w, a, s, nb, o); } };
template <int NT> struct Q5_KVnni { static void run(const BlockQ5_K* w, const void* a, size_t s, int64_t nb, float* o) { dot_q5_k_vnni_nt<NT>(w, a, s, nb, o); } };
template <int NT> struct IQ4_XSAvx2 { static void run(const BlockIQ4_XS* w, const void* a, size_t s, int64_t nb, float* o) { dot_iq4_xs_avx2_nt<NT>(w, a, s, nb, o); } };
template <int NT> struct Q2_KAvx2 { static void run(const BlockQ2_K* w, const void* a, size_t s, int64_t nb, float* o) { dot_q2q3_k_avx2_nt<NT, false>(w, a, s, nb, o); } };
template <int NT> struct Q3_KAvx2 { static void run(const BlockQ3_K* w, const void* a, size_t s, int64_t nb, float* o) { dot_q2q3_k_avx2_nt<NT, true>(w, a, s, nb, o); } };
template <int NT> struct IQ4_XSVnni { static void run(const BlockIQ4_XS* w, const void* a, size_t s, int64_t nb, float* o) { dot_iq4_xs_vnni_nt<NT>(w, a, s, nb, o); } };

}  // namespace

QuantDotFn quant_dot_scalar_ext(DType t) {
  switch (t) {
    case DType::Q4_1: return dot_q4_1_scalar;
    case DType::Q5_0: return dot_q5_0_scalar;
    case DType::Q5_1: return dot_q5_1_scalar;
    case DType::IQ4_NL: return dot_iq4_nl_scalar;
    case DType::Q2_K: return dot_q2_k_scalar;
    case DType::Q3_K: return dot_q3_k_scalar;
    case DType::Q5_K: return dot_q5_k_scalar;
    case DType::IQ4_XS: return dot_iq4_xs_scalar;
    default: return nullptr;
  }
}

QuantDotFn quant_dot_avx2_ext(DType t) {
  switch (t) {
    case DType::Q4_1: return dispatch_nt<BlockQ4_1, Q4_1Avx2, kQBlock>;
    case DType::Q5_0: return dispatch_nt<BlockQ5_0, Q5_0Avx2, kQBlock>;
    case DType::Q5_1: return dispatch_nt<BlockQ5_1, Q5_1Avx2, kQBlock>;
    case DType::IQ4_NL: return dispatch_nt<BlockIQ4_NL, IQ4_NLAvx2, kQBlock>;
    case DType::Q5_K: return dispatch_nt<BlockQ5_K, Q5_KAvx2>;
    case DType::IQ4_XS: return dispatch_nt<BlockIQ4_XS, IQ4_XSAvx2>;
    case DType::Q2_K: return dispatch_nt<BlockQ2_K, Q2_KAvx2>;
    case DType::Q3_K: return dispatch_nt<BlockQ3_K, Q3_KAvx2>;
    default: return nullptr;
  }
}

QuantDotFn quant_dot_avx512vnni_ext(DType t) {
  switch (t) {
    case DType::Q5_K: return dispatch_nt<BlockQ5_K, Q5_KVnni>;
    case DType::IQ4_XS: return dispatch_nt<BlockIQ4_XS, IQ4_XSVnni>;
    default: return nullptr;
  }
}

}  // namespace exaone
