#include "kernels/interleaved.h"

#include <immintrin.h>

#include <cstring>

#include "kernels/quant.h"
#include "kernels/quant_dot.h"
#include "util/half.h"

namespace exaone {

namespace {

template <typename Block>
const Block* group_blocks(const void* packed, int64_t cols, int64_t g) {
  return static_cast<const Block*>(packed) + g * (cols / kQBlock);
}

const BlockQ8A* act_row(const void* act, size_t stride, int t) {
  return reinterpret_cast<const BlockQ8A*>(static_cast<const uint8_t*>(act) + stride * static_cast<size_t>(t));
}

#define EXAONE_AVX2 __attribute__((target("avx2,fma,f16c")))

// Software prefetch of the lines one block will need, this far ahead of it: measured on the
// 2-thread decode GEMV (kernels_bench, packed path), closer distances left 10-25% of the
// bandwidth unused.
constexpr int kPrefetchDistance = 1152;
EXAONE_AVX2 inline void prefetch_ahead(const void* block, size_t bytes) {
  const char* p = static_cast<const char*>(block) + kPrefetchDistance;
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
#pragma GCC unroll 4
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm256_setzero_ps();
    a[t] = act_row(act, stride, t);
  }
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
#pragma GCC unroll 4
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm256_setzero_ps();
    a[t] = act_row(act, stride, t);
  }
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

template <typename Block, void (*K1)(const Block*, int64_t, const void*, size_t, float*, int64_t),
          void (*K2)(const Block*, int64_t, const void*, size_t, float*, int64_t),
          void (*K3)(const Block*, int64_t, const void*, size_t, float*, int64_t),
          void (*K4)(const Block*, int64_t, const void*, size_t, float*, int64_t)>
void dispatch(const void* packed, int64_t cols, int64_t g, const void* act, size_t stride, int nt, float* y,
              int64_t ldy) {
  const Block* w = group_blocks<Block>(packed, cols, g);
  const int64_t nb = cols / kQBlock;
  switch (nt) {
    case 1: K1(w, nb, act, stride, y, ldy); break;
    case 2: K2(w, nb, act, stride, y, ldy); break;
    case 3: K3(w, nb, act, stride, y, ldy); break;
    default: K4(w, nb, act, stride, y, ldy); break;
  }
}

}  // namespace

bool interleavable(DType t, int64_t rows, int64_t cols) {
  return (t == DType::Q4_0 || t == DType::Q8_0) && rows > 0 && cols > 0 && rows % kInterleaveRows == 0 &&
         cols % kQBlock == 0;
}

size_t interleaved_bytes(DType t, int64_t rows, int64_t cols) {
  const size_t groups = static_cast<size_t>(rows / kInterleaveRows) * static_cast<size_t>(cols / kQBlock);
  return groups * (t == DType::Q4_0 ? sizeof(BlockQ4_0x8) : sizeof(BlockQ8_0x8));
}

void interleave_rows(DType t, const void* file_rows, int64_t cols, int64_t r0, int64_t r1, void* out) {
  const int64_t nb = cols / kQBlock;
  for (int64_t g = r0 / kInterleaveRows; g < r1 / kInterleaveRows; ++g)
    for (int64_t b = 0; b < nb; ++b)
      for (int r = 0; r < kInterleaveRows; ++r) {
        const int64_t src_block = (g * kInterleaveRows + r) * nb + b;
        if (t == DType::Q4_0) {
          const BlockQ4_0& s = static_cast<const BlockQ4_0*>(file_rows)[src_block];
          BlockQ4_0x8& blk = static_cast<BlockQ4_0x8*>(out)[g * nb + b];
          blk.d[r] = s.d;
          for (int c = 0; c < 4; ++c) std::memcpy(blk.qs + 32 * c + 4 * r, s.qs + 4 * c, 4);
        } else {
          const BlockQ8_0& s = static_cast<const BlockQ8_0*>(file_rows)[src_block];
          BlockQ8_0x8& blk = static_cast<BlockQ8_0x8*>(out)[g * nb + b];
          blk.d[r] = s.d;
          for (int c = 0; c < 8; ++c) std::memcpy(blk.qs + 32 * c + 4 * r, s.qs + 4 * c, 4);
        }
      }
}

void dequantize_interleaved(DType t, const void* packed, int64_t cols, int64_t r, int64_t k0, int64_t len,
                            float* out) {
  const int i = static_cast<int>(r % kInterleaveRows);
  for (int64_t b = k0 / kQBlock; b < (k0 + len) / kQBlock; ++b, out += kQBlock) {
    // The row's block as stored in the file, widened by the (SIMD) file-layout code.
    if (t == DType::Q4_0) {
      const BlockQ4_0x8& blk = group_blocks<BlockQ4_0x8>(packed, cols, r / kInterleaveRows)[b];
      BlockQ4_0 file;
      file.d = blk.d[i];
      for (int c = 0; c < 4; ++c) std::memcpy(file.qs + 4 * c, blk.qs + 32 * c + 4 * i, 4);
      dequantize_row_q4_0(&file, out, kQBlock);
    } else {
      const BlockQ8_0x8& blk = group_blocks<BlockQ8_0x8>(packed, cols, r / kInterleaveRows)[b];
      BlockQ8_0 file;
      file.d = blk.d[i];
      for (int c = 0; c < 8; ++c) std::memcpy(file.qs + 4 * c, blk.qs + 32 * c + 4 * i, 4);
      dequantize_row_q8_0(&file, out, kQBlock);
    }
  }
}

void gemv_interleaved_scalar(DType t, const void* packed, int64_t cols, int64_t g, const void* act, size_t act_stride,
                             int nt, float* y, int64_t ldy) {
  for (int tk = 0; tk < nt; ++tk) {
    const BlockQ8A* a = act_row(act, act_stride, tk);
    for (int r = 0; r < kInterleaveRows; ++r) {
      float s = 0;
      for (int64_t b = 0; b < cols / kQBlock; ++b) {
        int32_t isum = 0;
        uint16_t d;
        if (t == DType::Q4_0) {
          const BlockQ4_0x8& w = group_blocks<BlockQ4_0x8>(packed, cols, g)[b];
          for (int c = 0; c < 4; ++c)
            for (int m = 0; m < 4; ++m) {
              const uint8_t q = w.qs[32 * c + 4 * r + m];
              isum += (q & 0x0f) * a[b].qs[4 * c + m] + (q >> 4) * a[b].qs[16 + 4 * c + m];
            }
          isum -= 8 * a[b].sum;
          d = w.d[r];
        } else {
          const BlockQ8_0x8& w = group_blocks<BlockQ8_0x8>(packed, cols, g)[b];
          for (int c = 0; c < 8; ++c)
            for (int m = 0; m < 4; ++m) isum += w.qs[32 * c + 4 * r + m] * a[b].qs[4 * c + m];
          d = w.d[r];
        }
        s += f16_to_f32(d) * a[b].d * static_cast<float>(isum);
      }
      y[tk * ldy + r] = s;
    }
  }
}

void gemv_interleaved_avx2(DType t, const void* packed, int64_t cols, int64_t g, const void* act, size_t act_stride,
                           int nt, float* y, int64_t ldy) {
  if (t == DType::Q4_0)
    dispatch<BlockQ4_0x8, gemv_q4_0_avx2<1>, gemv_q4_0_avx2<2>, gemv_q4_0_avx2<3>, gemv_q4_0_avx2<4>>(
        packed, cols, g, act, act_stride, nt, y, ldy);
  else
    dispatch<BlockQ8_0x8, gemv_q8_0_avx2<1>, gemv_q8_0_avx2<2>, gemv_q8_0_avx2<3>, gemv_q8_0_avx2<4>>(
        packed, cols, g, act, act_stride, nt, y, ldy);
}

}  // namespace exaone
