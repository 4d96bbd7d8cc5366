#include "kernels/quant_dot.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/cpu_features.h"
#include "kernels/quant.h"
#include "kernels/quant_ext.h"
#include "kernels/simd_avx2.h"
#include "util/error.h"
#include "util/half.h"

namespace exaone {

bool is_quantized(DType t) { return t != DType::F32 && t != DType::F16 && t != DType::BF16; }

int64_t activation_block_elems(DType weight_type) {
  // The weight's block size: 32-element types take BlockQ8A, super-block types BlockQ8K.
  if (is_quantized(weight_type)) return dtype_block_elems(weight_type) == kQBlock ? kQBlock : kQKBlock;
  fail(std::string("no int8 activation format for weight type ") + dtype_name(weight_type));
}

size_t activation_row_bytes(DType weight_type, int64_t K) {
  const int64_t nb = K / activation_block_elems(weight_type);
  return static_cast<size_t>(nb) * (activation_block_elems(weight_type) == kQBlock ? sizeof(BlockQ8A) : sizeof(BlockQ8K));
}

namespace {

// Scale and quants of one block of n values; returns the scale.
float quantize_block(const float* x, int n, int8_t* qs) {
  float amax = 0;
  for (int j = 0; j < n; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d ? 127.0f / amax : 0.0f;
  for (int j = 0; j < n; ++j) qs[j] = static_cast<int8_t>(std::nearbyint(x[j] * id));
  return d;
}

}  // namespace

namespace {

#define EXAONE_AVX2_Q __attribute__((target("avx2,fma,f16c")))

// Same quants as quantize_block (amax/127 scale, round half to even), 8 floats at a time.
// Returns the block's scale; writes n (a multiple of 32) int8 quants and, per 16 quants, their sums.
EXAONE_AVX2_Q float quantize_block_avx2(const float* x, int n, int8_t* qs, int32_t* sums16) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 vmax = _mm256_setzero_ps();
  for (int j = 0; j < n; j += 8) vmax = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), vmax);
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  const float amax = _mm_cvtss_f32(m);
  const float d = amax / 127.0f;
  const __m256 id = _mm256_set1_ps(d ? 127.0f / amax : 0.0f);
  for (int j = 0; j < n; j += 32) {
    __m256i q[4];
    for (int i = 0; i < 4; ++i)
      q[i] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * i), id),
                                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (int h = 0; h < 2; ++h) {
      const __m256i s = _mm256_add_epi32(q[2 * h], q[2 * h + 1]);
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      s4 = _mm_hadd_epi32(s4, s4);
      sums16[(j / 16) + h] = _mm_cvtsi128_si32(_mm_hadd_epi32(s4, s4));
    }
    // packs interleaves 128-bit lanes; the permute restores element order.
    const __m256i p16a = _mm256_packs_epi32(q[0], q[1]), p16b = _mm256_packs_epi32(q[2], q[3]);
    const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + j),
                        _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  }
  return d;
}

bool activation_avx2() {
  return !force_scalar_kernels() && cpu_features().avx2 && cpu_features().fma && cpu_features().f16c;
}

}  // namespace

void quantize_activation_row(DType weight_type, const float* x, int64_t K, void* out) {
  const int64_t bs = activation_block_elems(weight_type);
  if (K % bs != 0)
    fail("quantize activations: row length " + std::to_string(K) + " is not a multiple of " + std::to_string(bs));
  const bool simd = activation_avx2();
  if (bs == kQBlock) {
    auto* b = static_cast<BlockQ8A*>(out);
    for (int64_t i = 0; i < K / bs; ++i, x += bs) {
      if (simd) {
        int32_t sums[2];
        b[i].d = quantize_block_avx2(x, kQBlock, b[i].qs, sums);
        b[i].sum = sums[0] + sums[1];
        continue;
      }
      b[i].d = quantize_block(x, kQBlock, b[i].qs);
      int32_t s = 0;
      for (int j = 0; j < kQBlock; ++j) s += b[i].qs[j];
      b[i].sum = s;
    }
  } else {
    auto* b = static_cast<BlockQ8K*>(out);
    for (int64_t i = 0; i < K / bs; ++i, x += bs) {
      if (simd) {
        int32_t sums[16];
        b[i].d = quantize_block_avx2(x, kQKBlock, b[i].qs, sums);
        for (int g = 0; g < 16; ++g) b[i].bsums[g] = static_cast<int16_t>(sums[g]);
        continue;
      }
      b[i].d = quantize_block(x, kQKBlock, b[i].qs);
      for (int g = 0; g < 16; ++g) {
        int s = 0;
        for (int j = 0; j < 16; ++j) s += b[i].qs[16 * g + j];
        b[i].bsums[g] = static_cast<int16_t>(s);
      }
    }
  }
}

namespace {

// ---------------------------------------------------------------- scalar references

void dot_q8_0_scalar(const void* w_row, const void* act, size_t stride, int nt, int64_t K, float* out) {
  const auto* w = static_cast<const BlockQ8_0*>(w_row);
  for (int t = 0; t < nt; ++t) {
    const BlockQ8A* a = act_row<BlockQ8A>(act, stride, t);
    float s = 0;
    for (int64_t b = 0; b < K / kQBlock; ++b) {
      int32_t isum = 0;
      for (int j = 0; j < 32; ++j) isum += w[b].qs[j] * a[b].qs[j];
      s += f16_to_f32(w[b].d) * a[b].d * static_cast<float>(isum);
    }
    out[t] = s;
  }
}

void dot_q4_0_scalar(const void* w_row, const void* act, size_t stride, int nt, int64_t K, float* out) {
  const auto* w = static_cast<const BlockQ4_0*>(w_row);
  for (int t = 0; t < nt; ++t) {
    const BlockQ8A* a = act_row<BlockQ8A>(act, stride, t);
    float s = 0;
    for (int64_t b = 0; b < K / kQBlock; ++b) {
      int32_t isum = 0;
      for (int j = 0; j < 16; ++j)
        isum += (w[b].qs[j] & 0x0f) * a[b].qs[j] + (w[b].qs[j] >> 4) * a[b].qs[j + 16];
      isum -= 8 * a[b].sum;
      s += f16_to_f32(w[b].d) * a[b].d * static_cast<float>(isum);
    }
    out[t] = s;
  }
}


void dot_q4_k_scalar(const void* w_row, const void* act, size_t stride, int nt, int64_t K, float* out) {
  const auto* w = static_cast<const BlockQ4_K*>(w_row);
  for (int t = 0; t < nt; ++t) {
    const BlockQ8K* a = act_row<BlockQ8K>(act, stride, t);
    float s = 0;
    for (int64_t b = 0; b < K / kQKBlock; ++b) {
      int32_t sumi = 0, summ = 0;
      for (int c = 0; c < 4; ++c) {
        uint8_t sc0, m0, sc1, m1;
        scale_min_k4(2 * c, w[b].scales, sc0, m0);
        scale_min_k4(2 * c + 1, w[b].scales, sc1, m1);
        const uint8_t* q = w[b].qs + 32 * c;
        const int8_t* y = a[b].qs + 64 * c;
        int32_t lo = 0, hi = 0;
        for (int l = 0; l < 32; ++l) {
          lo += (q[l] & 0x0f) * y[l];
          hi += (q[l] >> 4) * y[l + 32];
        }
        sumi += sc0 * lo + sc1 * hi;
        summ += m0 * (a[b].bsums[4 * c] + a[b].bsums[4 * c + 1]) + m1 * (a[b].bsums[4 * c + 2] + a[b].bsums[4 * c + 3]);
      }
      s += f16_to_f32(w[b].d) * a[b].d * static_cast<float>(sumi) -
           f16_to_f32(w[b].dmin) * a[b].d * static_cast<float>(summ);
    }
    out[t] = s;
  }
}

void dot_q6_k_scalar(const void* w_row, const void* act, size_t stride, int nt, int64_t K, float* out) {
  const auto* w = static_cast<const BlockQ6_K*>(w_row);
  for (int t = 0; t < nt; ++t) {
    const BlockQ8K* a = act_row<BlockQ8K>(act, stride, t);
    float s = 0;
    for (int64_t b = 0; b < K / kQKBlock; ++b) {
      int32_t group[16] = {};  // Σ q6 * y per 16 elements (q6 unsigned 0..63)
      for (int h = 0; h < 2; ++h) {
        const uint8_t* ql = w[b].ql + 64 * h;
        const uint8_t* qh = w[b].qh + 32 * h;
        const int8_t* y = a[b].qs + 128 * h;
        for (int l = 0; l < 32; ++l) {
          const int g = 8 * h + l / 16;
          group[g] += ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) * y[l];
          group[g + 2] += ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) * y[l + 32];
          group[g + 4] += ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) * y[l + 64];
          group[g + 6] += ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) * y[l + 96];
        }
      }
      int32_t sumi = 0, offset = 0;
      for (int g = 0; g < 16; ++g) {
        sumi += w[b].scales[g] * group[g];
        offset += w[b].scales[g] * a[b].bsums[g];
      }
      s += f16_to_f32(w[b].d) * a[b].d * static_cast<float>(sumi - 32 * offset);
    }
    out[t] = s;
  }
}

template <bool kBF16>
void half_dot_scalar_impl(const uint16_t* w, const float* x, int nt, int64_t K, float* out) {
  for (int t = 0; t < nt; ++t) {
    const float* xt = x + t * K;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t k = 0;
    auto wf = [&](int64_t i) { return kBF16 ? bf16_to_f32(w[i]) : f16_to_f32(w[i]); };
    for (; k + 4 <= K; k += 4) {
      s0 += wf(k) * xt[k];
      s1 += wf(k + 1) * xt[k + 1];
      s2 += wf(k + 2) * xt[k + 2];
      s3 += wf(k + 3) * xt[k + 3];
    }
    for (; k < K; ++k) s0 += wf(k) * xt[k];
    out[t] = (s0 + s1) + (s2 + s3);
  }
}

// ---------------------------------------------------------------- AVX2

#define EXAONE_AVX2 __attribute__((target("avx2,fma,f16c")))

using simd::hsum;

using simd::load256;

// Σ u8 * s8 over 32 bytes into 8 int32 lanes (pairs cannot saturate: callers keep |u| * |s| * 2 < 32768).
EXAONE_AVX2 inline __m256i dot_u8s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// F16 scale through the F16C unit: the software conversion (branches on subnormals) cost as much
// as the whole block's integer work.
EXAONE_AVX2 inline float f16c(uint16_t h) { return _cvtsh_ss(h); }

// Software prefetch distance for streamed weight rows (the next row's start included); as in
// kernels/interleaved.cpp, shorter distances left bandwidth unused.
constexpr int kPrefetchBytes = 1152;
EXAONE_AVX2 inline void prefetch_block(const void* block, size_t bytes) {
  const char* p = static_cast<const char*>(block) + kPrefetchBytes;
  for (size_t off = 0; off < bytes; off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
}

// Two blocks per step with separate accumulators: one FMA chain per block would wait on the
// FMA latency; 2 chains keep the integer units busy while memory streams in.
template <int NT>
EXAONE_AVX2 void dot_q8_0_avx2_nt(const BlockQ8_0* w, const void* act, size_t stride, int64_t nb, float* out) {
  __m256 acc0[NT], acc1[NT];
  const BlockQ8A* a[NT];
  for (int t = 0; t < NT; ++t) {
    acc0[t] = acc1[t] = _mm256_setzero_ps();
    a[t] = act_row<BlockQ8A>(act, stride, t);
  }
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    _mm_prefetch(reinterpret_cast<const char*>(w + b) + kPrefetchBytes, _MM_HINT_T0);
    const __m256i w0 = load256(w[b].qs), w1 = load256(w[b + 1].qs);
    const __m256i aw0 = _mm256_sign_epi8(w0, w0), aw1 = _mm256_sign_epi8(w1, w1);  // |w|; the sign moves onto x
    const float d0 = f16c(w[b].d), d1 = f16c(w[b + 1].d);
    for (int t = 0; t < NT; ++t) {
      const __m256i p0 = dot_u8s8(aw0, _mm256_sign_epi8(load256(a[t][b].qs), w0));
      const __m256i p1 = dot_u8s8(aw1, _mm256_sign_epi8(load256(a[t][b + 1].qs), w1));
      acc0[t] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * a[t][b].d), _mm256_cvtepi32_ps(p0), acc0[t]);
      acc1[t] = _mm256_fmadd_ps(_mm256_set1_ps(d1 * a[t][b + 1].d), _mm256_cvtepi32_ps(p1), acc1[t]);
    }
  }
  for (; b < nb; ++b) {
    const __m256i wv = load256(w[b].qs);
    const __m256i aw = _mm256_sign_epi8(wv, wv);
    const float dw = f16c(w[b].d);
    for (int t = 0; t < NT; ++t) {
      const __m256i p = dot_u8s8(aw, _mm256_sign_epi8(load256(a[t][b].qs), wv));
      acc0[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * a[t][b].d), _mm256_cvtepi32_ps(p), acc0[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum(_mm256_add_ps(acc0[t], acc1[t]));
}

// Nibbles of one Q4_0 block as 32 unsigned bytes 0..15 (element j low nibble, j+16 high).
EXAONE_AVX2 inline __m256i q4_0_nibbles(const BlockQ4_0& blk, __m256i low4) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), low4);
}

// Σ (q - 8) x = Σ q x - 8 Σ x: the offset goes into lane 0 so the block sum stays exact.
EXAONE_AVX2 inline __m256i q4_0_block_dot(const BlockQ8A& a, __m256i nibbles) {
  const __m256i p = dot_u8s8(nibbles, load256(a.qs));
  return _mm256_sub_epi32(p, _mm256_zextsi128_si256(_mm_cvtsi32_si128(8 * a.sum)));
}

template <int NT>
EXAONE_AVX2 void dot_q4_0_avx2_nt(const BlockQ4_0* w, const void* act, size_t stride, int64_t nb, float* out) {
  __m256 acc0[NT], acc1[NT];
  const BlockQ8A* a[NT];
  for (int t = 0; t < NT; ++t) {
    acc0[t] = acc1[t] = _mm256_setzero_ps();
    a[t] = act_row<BlockQ8A>(act, stride, t);
  }
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m256i w0 = q4_0_nibbles(w[b], low4), w1 = q4_0_nibbles(w[b + 1], low4);
    const float d0 = f16c(w[b].d), d1 = f16c(w[b + 1].d);
    for (int t = 0; t < NT; ++t) {
      acc0[t] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * a[t][b].d), _mm256_cvtepi32_ps(q4_0_block_dot(a[t][b], w0)), acc0[t]);
      acc1[t] = _mm256_fmadd_ps(_mm256_set1_ps(d1 * a[t][b + 1].d), _mm256_cvtepi32_ps(q4_0_block_dot(a[t][b + 1], w1)), acc1[t]);
    }
  }
  for (; b < nb; ++b) {
    const __m256i wv = q4_0_nibbles(w[b], low4);
    const float dw = f16c(w[b].d);
    for (int t = 0; t < NT; ++t)
      acc0[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * a[t][b].d), _mm256_cvtepi32_ps(q4_0_block_dot(a[t][b], wv)), acc0[t]);
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum(_mm256_add_ps(acc0[t], acc1[t]));
}

// The 8 six-bit scales (lanes 0-7) and mins (lanes 8-15) of a Q4_K super-block as int16, unpacked
// with whole-word masks instead of 16 scalar extractions (the layout of get_scale_min_k4).
EXAONE_AVX2 inline __m256i q4_k_scales_mins(const uint8_t* packed) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  constexpr uint32_t k6 = 0x3f3f3f3f, k4 = 0x0f0f0f0f, k2 = 0x03030303;
  const uint32_t s_lo = u[0] & k6, s_hi = (u[2] & k4) | (((u[0] >> 6) & k2) << 4);
  const uint32_t m_lo = u[1] & k6, m_hi = ((u[2] >> 4) & k4) | (((u[1] >> 6) & k2) << 4);
  return _mm256_cvtepu8_epi16(_mm_set_epi32(static_cast<int>(m_hi), static_cast<int>(m_lo), static_cast<int>(s_hi),
                                            static_cast<int>(s_lo)));
}

// pshufb controls that broadcast int16 lane j (of a 128-bit lane) to all 8 int16 lanes.
EXAONE_AVX2 inline __m256i broadcast16_ctrl(int j) {
  return _mm256_set1_epi16(static_cast<int16_t>((2 * j) | ((2 * j + 1) << 8)));
}

template <int NT>
EXAONE_AVX2 void dot_q4_k_avx2_nt(const BlockQ4_K* w, const void* act, size_t stride, int64_t nb, float* out) {
  __m256 acc[NT], acc_min[NT];
  const BlockQ8K* a[NT];
  for (int t = 0; t < NT; ++t) {
    acc[t] = acc_min[t] = _mm256_setzero_ps();
    a[t] = act_row<BlockQ8K>(act, stride, t);
  }
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  __m256i ctrl[8];
  for (int j = 0; j < 8; ++j) ctrl[j] = broadcast16_ctrl(j);
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_block(w + b, sizeof(BlockQ4_K));
    const __m256i sm = q4_k_scales_mins(w[b].scales);
    const __m256i scales = _mm256_permute2x128_si256(sm, sm, 0x00);  // scales in both 128-bit lanes
    const __m128i mins = _mm256_extracti128_si256(sm, 1);
    const float d = f16c(w[b].d), dmin = f16c(w[b].dmin);
    __m256i sumi[NT];
    for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i qv = load256(w[b].qs + 32 * c);
      const __m256i lo = _mm256_and_si256(qv, low4), hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), low4);
      const __m256i s_lo = _mm256_shuffle_epi8(scales, ctrl[2 * c]);
      const __m256i s_hi = _mm256_shuffle_epi8(scales, ctrl[2 * c + 1]);
      for (int t = 0; t < NT; ++t) {
        const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(a[t][b].qs + 64 * c)), s_lo);
        const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(a[t][b].qs + 64 * c + 32)), s_hi);
        sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(p_lo, p_hi));
      }
    }
    for (int t = 0; t < NT; ++t) {
      // Σ_j m_j Σ(y over sub-block j): bsums are per 16, sub-blocks 32 wide.
      const __m256i bs = load256(a[t][b].bsums);
      const __m128i pair = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
      const __m128i m = _mm_madd_epi16(mins, pair);
      const float da = a[t][b].d;
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * da), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
      acc_min[t] = _mm256_fmadd_ps(_mm256_set1_ps(dmin * da), _mm256_zextps128_ps256(_mm_cvtepi32_ps(m)), acc_min[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum(_mm256_sub_ps(acc[t], acc_min[t]));
}

template <int NT>
EXAONE_AVX2 void dot_q6_k_avx2_nt(const BlockQ6_K* w, const void* act, size_t stride, int64_t nb, float* out) {
  __m256 acc[NT];
  const BlockQ8K* a[NT];
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm256_setzero_ps();
    a[t] = act_row<BlockQ8K>(act, stride, t);
  }
  // Quarter i of a half: its low 16 elements use scale 2i, its high 16 scale 2i+1 (of the half's 8).
  __m256i ctrl[4];
  for (int i = 0; i < 4; ++i)
    ctrl[i] = _mm256_set_m128i(_mm256_castsi256_si128(broadcast16_ctrl(2 * i + 1)),
                               _mm256_castsi256_si128(broadcast16_ctrl(2 * i)));
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_block(w + b, sizeof(BlockQ6_K));
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales)));
    __m256i sumi[NT];
    for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = load256(w[b].ql + 64 * h), ql1 = load256(w[b].ql + 64 * h + 32);
      const __m256i qh = load256(w[b].qh + 32 * h);
      // The four 32-element quarters of this half, 6-bit unsigned values.
      __m256i q[4];
      simd::q6_k_quarters(ql0, ql1, qh, q);
      const __m256i half_scales = h == 0 ? _mm256_permute2x128_si256(sc16, sc16, 0x00)
                                         : _mm256_permute2x128_si256(sc16, sc16, 0x11);
      __m256i scale[4];
      for (int i = 0; i < 4; ++i) scale[i] = _mm256_shuffle_epi8(half_scales, ctrl[i]);
      for (int t = 0; t < NT; ++t) {
        const int8_t* y = a[t][b].qs + 128 * h;
        for (int i = 0; i < 4; ++i)
          sumi[t] = _mm256_add_epi32(sumi[t],
                                     _mm256_madd_epi16(_mm256_maddubs_epi16(q[i], load256(y + 32 * i)), scale[i]));
      }
    }
    const float d = f16c(w[b].d);
    for (int t = 0; t < NT; ++t) {
      // The -32 bias of the 6-bit quants: Σ_g sc_g * 32 * (Σ y over group g), in the same lanes.
      const __m256i offset = _mm256_madd_epi16(sc16, load256(a[t][b].bsums));
      const __m256i p = _mm256_sub_epi32(sumi[t], _mm256_slli_epi32(offset, 5));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * a[t][b].d), _mm256_cvtepi32_ps(p), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum(acc[t]);
}

template <bool kBF16>
EXAONE_AVX2 inline __m256 widen8(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if constexpr (kBF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  else return _mm256_cvtph_ps(h);
}

template <bool kBF16, int NT>
EXAONE_AVX2 void half_dot_avx2_nt(const uint16_t* w, const float* x, int64_t K, float* out) {
  __m256 acc0[NT], acc1[NT];
  for (int t = 0; t < NT; ++t) acc0[t] = acc1[t] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {  // one 64-byte line of weights per step, prefetched ahead
    _mm_prefetch(reinterpret_cast<const char*>(w + k) + kPrefetchBytes, _MM_HINT_T0);
    const __m256 w0 = widen8<kBF16>(w + k), w1 = widen8<kBF16>(w + k + 8);
    const __m256 w2 = widen8<kBF16>(w + k + 16), w3 = widen8<kBF16>(w + k + 24);
    for (int t = 0; t < NT; ++t) {
      acc0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + t * K + k), acc0[t]);
      acc1[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + t * K + k + 8), acc1[t]);
      acc0[t] = _mm256_fmadd_ps(w2, _mm256_loadu_ps(x + t * K + k + 16), acc0[t]);
      acc1[t] = _mm256_fmadd_ps(w3, _mm256_loadu_ps(x + t * K + k + 24), acc1[t]);
    }
  }
  for (; k + 16 <= K; k += 16) {
    const __m256 w0 = widen8<kBF16>(w + k), w1 = widen8<kBF16>(w + k + 8);
    for (int t = 0; t < NT; ++t) {
      acc0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + t * K + k), acc0[t]);
      acc1[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + t * K + k + 8), acc1[t]);
    }
  }
  for (; k + 8 <= K; k += 8) {
    const __m256 w0 = widen8<kBF16>(w + k);
    for (int t = 0; t < NT; ++t) acc0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + t * K + k), acc0[t]);
  }
  for (int t = 0; t < NT; ++t) {
    float s = hsum(_mm256_add_ps(acc0[t], acc1[t]));
    for (int64_t i = k; i < K; ++i) s += (kBF16 ? bf16_to_f32(w[i]) : f16_to_f32(w[i])) * x[t * K + i];
    out[t] = s;
  }
}

// nt (1..4) -> template instantiation.
template <typename Block, int64_t kElems, template <int> class Kernel>
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

template <int NT> struct Q8_0Avx2 { static void run(const BlockQ8_0* w, const void* a, size_t s, int64_t nb, float* o) { dot_q8_0_avx2_nt<NT>(w, a, s, nb, o); } };
template <int NT> struct Q4_0Avx2 { static void run(const BlockQ4_0* w, const void* a, size_t s, int64_t nb, float* o) { dot_q4_0_avx2_nt<NT>(w, a, s, nb, o); } };
template <int NT> struct Q4_KAvx2 { static void run(const BlockQ4_K* w, const void* a, size_t s, int64_t nb, float* o) { dot_q4_k_avx2_nt<NT>(w, a, s, nb, o); } };
template <int NT> struct Q6_KAvx2 { static void run(const BlockQ6_K* w, const void* a, size_t s, int64_t nb, float* o) { dot_q6_k_avx2_nt<NT>(w, a, s, nb, o); } };

template <bool kBF16>
void half_dot_avx2(const uint16_t* w, const float* x, int nt, int64_t K, float* out) {
  switch (nt) {
    case 1: half_dot_avx2_nt<kBF16, 1>(w, x, K, out); break;
    case 2: half_dot_avx2_nt<kBF16, 2>(w, x, K, out); break;
    case 3: half_dot_avx2_nt<kBF16, 3>(w, x, K, out); break;
    default: half_dot_avx2_nt<kBF16, 4>(w, x, K, out); break;
  }
}

// ---------------------------------------------------------------- AVX-512 VNNI (256-bit vpdpbusd)

#define EXAONE_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")))

template <int NT>
EXAONE_VNNI void dot_q8_0_vnni_nt(const BlockQ8_0* w, const void* act, size_t stride, int64_t nb, float* out) {
  __m256 acc[NT];
  const BlockQ8A* a[NT];
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm256_setzero_ps();
    a[t] = act_row<BlockQ8A>(act, stride, t);
  }
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs));
    const __m256i aw = _mm256_sign_epi8(wv, wv);
    const float dw = _cvtsh_ss(w[b].d);
    for (int t = 0; t < NT; ++t) {
      const __m256i sx = _mm256_sign_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t][b].qs)), wv);
      const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, sx);
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * a[t][b].d), _mm256_cvtepi32_ps(p), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) {
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(acc[t]), _mm256_extractf128_ps(acc[t], 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    out[t] = _mm_cvtss_f32(lo);
  }
}

template <int NT>
EXAONE_VNNI void dot_q4_0_vnni_nt(const BlockQ4_0* w, const void* act, size_t stride, int64_t nb, float* out) {
  __m256 acc[NT];
  const BlockQ8A* a[NT];
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm256_setzero_ps();
    a[t] = act_row<BlockQ8A>(act, stride, t);
  }
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  for (int64_t b = 0; b < nb; ++b) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
    const __m256i wv = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), low4);
    const float dw = _cvtsh_ss(w[b].d);
    for (int t = 0; t < NT; ++t) {
      const __m256i init = _mm256_zextsi128_si256(_mm_cvtsi32_si128(-8 * a[t][b].sum));
      const __m256i p = _mm256_dpbusd_epi32(init, wv, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t][b].qs)));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * a[t][b].d), _mm256_cvtepi32_ps(p), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) {
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(acc[t]), _mm256_extractf128_ps(acc[t], 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    out[t] = _mm_cvtss_f32(lo);
  }
}

template <int NT> struct Q8_0Vnni { static void run(const BlockQ8_0* w, const void* a, size_t s, int64_t nb, float* o) { dot_q8_0_vnni_nt<NT>(w, a, s, nb, o); } };
template <int NT> struct Q4_0Vnni { static void run(const BlockQ4_0* w, const void* a, size_t s, int64_t nb, float* o) { dot_q4_0_vnni_nt<NT>(w, a, s, nb, o); } };

}  // namespace

QuantDotFn quant_dot_scalar(DType t) {
  switch (t) {
    case DType::Q8_0: return dot_q8_0_scalar;
    case DType::Q4_0: return dot_q4_0_scalar;
    case DType::Q4_K: return dot_q4_k_scalar;
    case DType::Q6_K: return dot_q6_k_scalar;
    default: return quant_dot_scalar_ext(t);
  }
}

QuantDotFn quant_dot_avx2(DType t) {
  switch (t) {
    case DType::Q8_0: return dispatch_nt<BlockQ8_0, kQBlock, Q8_0Avx2>;
    case DType::Q4_0: return dispatch_nt<BlockQ4_0, kQBlock, Q4_0Avx2>;
    case DType::Q4_K: return dispatch_nt<BlockQ4_K, kQKBlock, Q4_KAvx2>;
    case DType::Q6_K: return dispatch_nt<BlockQ6_K, kQKBlock, Q6_KAvx2>;
    default: return quant_dot_avx2_ext(t);
  }
}

QuantDotFn quant_dot_avx512vnni(DType t) {
  switch (t) {
    case DType::Q8_0: return dispatch_nt<BlockQ8_0, kQBlock, Q8_0Vnni>;
    case DType::Q4_0: return dispatch_nt<BlockQ4_0, kQBlock, Q4_0Vnni>;
    default: return quant_dot_avx512vnni_ext(t);
  }
}

HalfDotFn half_dot_scalar(DType t) {
  if (t == DType::BF16) return half_dot_scalar_impl<true>;
  if (t == DType::F16) return half_dot_scalar_impl<false>;
  return nullptr;
}

HalfDotFn half_dot_avx2(DType t) {
  if (t == DType::BF16) return half_dot_avx2<true>;
  if (t == DType::F16) return half_dot_avx2<false>;
  return nullptr;
}

}  // namespace exaone
