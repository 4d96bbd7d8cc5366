#include "kernels/q4_0_packed.h"

#include <immintrin.h>

#include <cstring>

#include "kernels/quant.h"
#include "kernels/quant_dot.h"
#include "util/half.h"

namespace exaone {

namespace {

const BlockQ4_0x8* group_blocks(const void* packed, int64_t cols, int64_t g) {
  return static_cast<const BlockQ4_0x8*>(packed) + g * (cols / kQBlock);
}

const BlockQ8A* act_row(const void* act, size_t stride, int t) {
  return reinterpret_cast<const BlockQ8A*>(static_cast<const uint8_t*>(act) + stride * static_cast<size_t>(t));
}

#define EXAONE_AVX2 __attribute__((target("avx2,fma,f16c")))

// Four activations broadcast to every 32-bit lane (one vpbroadcastd from memory).
EXAONE_AVX2 inline __m256i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

template <int NT>
EXAONE_AVX2 void gemv_avx2_nt(const BlockQ4_0x8* w, int64_t nb, const void* act, size_t stride, float* y,
                              int64_t ldy) {
  __m256 acc[NT];
  const BlockQ8A* a[NT];
#pragma GCC unroll 4
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm256_setzero_ps();
    a[t] = act_row(act, stride, t);
  }
  const __m256i low4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    _mm_prefetch(reinterpret_cast<const char*>(w + b) + 576, _MM_HINT_T0);
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

}  // namespace

bool q4_0x8_packable(int64_t rows, int64_t cols) {
  return rows > 0 && cols > 0 && rows % kQ4x8Rows == 0 && cols % kQBlock == 0;
}

size_t q4_0x8_bytes(int64_t rows, int64_t cols) {
  return static_cast<size_t>(rows / kQ4x8Rows) * static_cast<size_t>(cols / kQBlock) * sizeof(BlockQ4_0x8);
}

void pack_q4_0x8(const void* q4_0, int64_t cols, int64_t r0, int64_t r1, void* out) {
  const int64_t nb = cols / kQBlock;
  const auto* src = static_cast<const BlockQ4_0*>(q4_0);
  auto* dst = static_cast<BlockQ4_0x8*>(out);
  for (int64_t g = r0 / kQ4x8Rows; g < r1 / kQ4x8Rows; ++g)
    for (int64_t b = 0; b < nb; ++b) {
      BlockQ4_0x8& blk = dst[g * nb + b];
      for (int r = 0; r < kQ4x8Rows; ++r) {
        const BlockQ4_0& s = src[(g * kQ4x8Rows + r) * nb + b];
        blk.d[r] = s.d;
        for (int c = 0; c < 4; ++c) std::memcpy(blk.qs + 32 * c + 4 * r, s.qs + 4 * c, 4);
      }
    }
}

void dequantize_q4_0x8(const void* packed, int64_t cols, int64_t r, int64_t k0, int64_t len, float* out) {
  const BlockQ4_0x8* w = group_blocks(packed, cols, r / kQ4x8Rows);
  const int i = static_cast<int>(r % kQ4x8Rows);
  for (int64_t b = k0 / kQBlock; b < (k0 + len) / kQBlock; ++b, out += kQBlock) {
    BlockQ4_0 file;  // the row's block as stored in the file, widened by the (SIMD) file-layout code
    file.d = w[b].d[i];
    for (int c = 0; c < 4; ++c) std::memcpy(file.qs + 4 * c, w[b].qs + 32 * c + 4 * i, 4);
    dequantize_row_q4_0(&file, out, kQBlock);
  }
}

void gemv_q4_0x8_scalar(const void* packed, int64_t cols, int64_t g, const void* act, size_t act_stride, int nt,
                        float* y, int64_t ldy) {
  const BlockQ4_0x8* w = group_blocks(packed, cols, g);
  for (int t = 0; t < nt; ++t) {
    const BlockQ8A* a = act_row(act, act_stride, t);
    for (int r = 0; r < kQ4x8Rows; ++r) {
      float s = 0;
      for (int64_t b = 0; b < cols / kQBlock; ++b) {
        int32_t isum = 0;
        for (int c = 0; c < 4; ++c)
          for (int m = 0; m < 4; ++m) {
            const uint8_t q = w[b].qs[32 * c + 4 * r + m];
            isum += (q & 0x0f) * a[b].qs[4 * c + m] + (q >> 4) * a[b].qs[16 + 4 * c + m];
          }
        isum -= 8 * a[b].sum;
        s += f16_to_f32(w[b].d[r]) * a[b].d * static_cast<float>(isum);
      }
      y[t * ldy + r] = s;
    }
  }
}

void gemv_q4_0x8_avx2(const void* packed, int64_t cols, int64_t g, const void* act, size_t act_stride, int nt,
                      float* y, int64_t ldy) {
  const BlockQ4_0x8* w = group_blocks(packed, cols, g);
  const int64_t nb = cols / kQBlock;
  switch (nt) {
    case 1: gemv_avx2_nt<1>(w, nb, act, act_stride, y, ldy); break;
    case 2: gemv_avx2_nt<2>(w, nb, act, act_stride, y, ldy); break;
    case 3: gemv_avx2_nt<3>(w, nb, act, act_stride, y, ldy); break;
    default: gemv_avx2_nt<4>(w, nb, act, act_stride, y, ldy); break;
  }
}

}  // namespace exaone
