#include "kernels/quant.h"

#include <cmath>
#include <cstring>
#include <string>

#include <immintrin.h>

#include "kernels/cpu_features.h"
#include "util/error.h"
#include "util/half.h"

namespace exaone {

namespace {

void check_len(int64_t n, const char* what) {
  if (n < 0 || n % kQBlock != 0)
    fail(std::string(what) + ": length " + std::to_string(n) + " is not a multiple of the block size 32");
}

}  // namespace

void quantize_row_q8_0(const float* x, void* out, int64_t n) {
  check_len(n, "quantize Q8_0");
  auto* b = static_cast<BlockQ8_0*>(out);
  for (int64_t i = 0; i < n / kQBlock; ++i, x += kQBlock) {
    float amax = 0;
    for (int j = 0; j < kQBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    for (int j = 0; j < kQBlock; ++j) b[i].qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
  }
}

void quantize_row_q4_0(const float* x, void* out, int64_t n) {
  check_len(n, "quantize Q4_0");
  auto* b = static_cast<BlockQ4_0*>(out);
  for (int64_t i = 0; i < n / kQBlock; ++i, x += kQBlock) {
    // The signed value of largest magnitude maps to -8, so the full 4-bit range is used.
    float amax = 0, max = 0;
    for (int j = 0; j < kQBlock; ++j)
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    const float d = max / -8.0f;
    const float id = d ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    for (int j = 0; j < kQBlock / 2; ++j) {
      const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
      const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(x[j + 16] * id + 8.5f)));
      b[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

namespace {

#define EXAONE_AVX2 __attribute__((target("avx2,fma,f16c")))

bool dequant_avx2() {
  return !force_scalar_kernels() && cpu_features().avx2 && cpu_features().fma && cpu_features().f16c;
}

// Same products as the scalar loops (int to float is exact, one multiply each), 8 at a time:
// prefill widens every weight once per call, and the scalar loop cost as much as the GEMM's
// bookkeeping.
EXAONE_AVX2 void dequantize_q8_0_avx2(const BlockQ8_0* b, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, y += kQBlock) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[i].d));
    for (int j = 0; j < 4; ++j) {
      const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b[i].qs + 8 * j));
      _mm256_storeu_ps(y + 8 * j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
    }
  }
}

// 16 bytes of Q4_0 nibbles (element j low, j + 16 high) and their F16 scale into 32 floats.
EXAONE_AVX2 void dequantize_q4_0_bytes_avx2(__m128i q, uint16_t d16, float* y) {
  const __m256 d = _mm256_set1_ps(_cvtsh_ss(d16));
  const __m128i low4 = _mm_set1_epi8(0x0f);
  const __m128i v[2] = {_mm_and_si128(q, low4), _mm_and_si128(_mm_srli_epi16(q, 4), low4)};
  const __m256i eight = _mm256_set1_epi32(8);
  for (int h = 0; h < 2; ++h) {
    const __m128i halves[2] = {v[h], _mm_srli_si128(v[h], 8)};  // byte shifts take constants only
    for (int j = 0; j < 2; ++j) {
      const __m256i e = _mm256_sub_epi32(_mm256_cvtepu8_epi32(halves[j]), eight);
      _mm256_storeu_ps(y + 16 * h + 8 * j, _mm256_mul_ps(_mm256_cvtepi32_ps(e), d));
    }
  }
}

}  // namespace

void dequantize_row_q8_0(const void* in, float* y, int64_t n) {
  check_len(n, "dequantize Q8_0");
  const auto* b = static_cast<const BlockQ8_0*>(in);
  if (dequant_avx2()) return dequantize_q8_0_avx2(b, n / kQBlock, y);
  for (int64_t i = 0; i < n / kQBlock; ++i, y += kQBlock) {
    const float d = f16_to_f32(b[i].d);
    for (int j = 0; j < kQBlock; ++j) y[j] = b[i].qs[j] * d;
  }
}

void dequantize_row_q4_0(const void* in, float* y, int64_t n) {
  check_len(n, "dequantize Q4_0");
  const auto* b = static_cast<const BlockQ4_0*>(in);
  if (dequant_avx2()) {
    for (int64_t i = 0; i < n / kQBlock; ++i, y += kQBlock)
      dequantize_q4_0_bytes_avx2(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].qs)), b[i].d, y);
    return;
  }
  for (int64_t i = 0; i < n / kQBlock; ++i, y += kQBlock) {
    const float d = f16_to_f32(b[i].d);
    for (int j = 0; j < kQBlock / 2; ++j) {
      y[j] = ((b[i].qs[j] & 0x0f) - 8) * d;
      y[j + 16] = ((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}

namespace {

void check_len_k(int64_t n, const char* what) {
  if (n < 0 || n % kQKBlock != 0)
    fail(std::string(what) + ": length " + std::to_string(n) + " is not a multiple of the block size 256");
}


// 8 unsigned bytes (low 64 bits of q) to 8 floats scale * q + bias: one FMA, so within an ulp of
// the scalar multiply-then-subtract (prefill panels only; the int8 kernels use the bytes).
EXAONE_AVX2 inline void widen8_affine(__m128i q, __m256 scale, __m256 bias, float* y) {
  _mm256_storeu_ps(y, _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q)), bias));
}

EXAONE_AVX2 void dequantize_q4_k_avx2(const BlockQ4_K* b, int64_t nb, float* y) {
  const __m128i low4 = _mm_set1_epi8(0x0f);
  for (int64_t i = 0; i < nb; ++i) {
    const float d = _cvtsh_ss(b[i].d), dmin = _cvtsh_ss(b[i].dmin);
    for (int chunk = 0; chunk < 4; ++chunk, y += 64) {
      uint8_t sc, m;
      scale_min_k4(2 * chunk, b[i].scales, sc, m);
      const __m256 d1 = _mm256_set1_ps(d * sc), m1 = _mm256_set1_ps(-(dmin * m));
      scale_min_k4(2 * chunk + 1, b[i].scales, sc, m);
      const __m256 d2 = _mm256_set1_ps(d * sc), m2 = _mm256_set1_ps(-(dmin * m));
      for (int h = 0; h < 2; ++h) {
        const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].qs + 32 * chunk + 16 * h));
        const __m128i lo = _mm_and_si128(q, low4), hi = _mm_and_si128(_mm_srli_epi16(q, 4), low4);
        widen8_affine(lo, d1, m1, y + 16 * h);
        widen8_affine(_mm_srli_si128(lo, 8), d1, m1, y + 16 * h + 8);
        widen8_affine(hi, d2, m2, y + 32 + 16 * h);
        widen8_affine(_mm_srli_si128(hi, 8), d2, m2, y + 32 + 16 * h + 8);
      }
    }
  }
}

}  // namespace

void dequantize_row_q4_k(const void* in, float* y, int64_t n) {
  check_len_k(n, "dequantize Q4_K");
  const auto* b = static_cast<const BlockQ4_K*>(in);
  if (dequant_avx2()) return dequantize_q4_k_avx2(b, n / kQKBlock, y);
  for (int64_t i = 0; i < n / kQKBlock; ++i) {
    const float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
    const uint8_t* q = b[i].qs;
    for (int chunk = 0; chunk < 4; ++chunk, q += 32) {
      uint8_t sc, m;
      scale_min_k4(2 * chunk, b[i].scales, sc, m);
      const float d1 = d * sc, m1 = dmin * m;
      scale_min_k4(2 * chunk + 1, b[i].scales, sc, m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0x0f) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    }
  }
}

void dequantize_row_q6_k(const void* in, float* y, int64_t n) {
  check_len_k(n, "dequantize Q6_K");
  const auto* b = static_cast<const BlockQ6_K*>(in);
  for (int64_t i = 0; i < n / kQKBlock; ++i) {
    const float d = f16_to_f32(b[i].d);
    const uint8_t* ql = b[i].ql;
    const uint8_t* qh = b[i].qh;
    const int8_t* sc = b[i].scales;
    for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}

std::vector<uint8_t> quantize_matrix(DType type, const float* x, int64_t rows, int64_t cols) {
  if (cols % dtype_block_elems(type) != 0)
    fail(std::string("quantize ") + dtype_name(type) + ": row length " + std::to_string(cols) +
         " is not a multiple of the block size");
  const size_t row_bytes = dtype_bytes_for(type, cols);
  std::vector<uint8_t> out(row_bytes * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = x + r * cols;
    uint8_t* dst = out.data() + r * row_bytes;
    switch (type) {
      case DType::F32: std::memcpy(dst, src, row_bytes); break;
      case DType::F16:
        for (int64_t c = 0; c < cols; ++c) {
          const uint16_t h = f32_to_f16(src[c]);
          std::memcpy(dst + 2 * c, &h, 2);
        }
        break;
      case DType::BF16:
        for (int64_t c = 0; c < cols; ++c) {
          const uint16_t h = f32_to_bf16(src[c]);
          std::memcpy(dst + 2 * c, &h, 2);
        }
        break;
      case DType::Q8_0: quantize_row_q8_0(src, dst, cols); break;
      case DType::Q4_0: quantize_row_q4_0(src, dst, cols); break;
      default: fail(std::string("quantize: type ") + dtype_name(type) + " is not supported for writing");
    }
  }
  return out;
}

}  // namespace exaone
