#include "kernels/matmul.h"

#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/quant.h"
#include "util/error.h"
#include "util/half.h"

namespace exaone {

namespace {

float dot_scalar(const float* a, const float* b, int64_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

__attribute__((target("avx2,fma"))) float hsum256(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(),
         acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  float s = hsum256(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

__attribute__((target("avx2,fma"))) void bf16_row_avx2(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(w));
  }
  for (; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

__attribute__((target("avx2,fma,f16c"))) void f16_row_avx2(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

bool use_avx2() {
  static const bool v = !force_scalar_kernels() && cpu_features().avx2 && cpu_features().fma;
  return v;
}

void check_plain(const MatrixRef& w) {
  if (w.dtype == DType::Q8_0 || w.dtype == DType::Q4_0 || w.dtype == DType::Q4_K || w.dtype == DType::Q6_K) {
    if (w.cols % dtype_block_elems(w.dtype) != 0)
      fail(std::string("matmul: ") + dtype_name(w.dtype) + " weight row length " + std::to_string(w.cols) +
           " is not a multiple of its block size " + std::to_string(dtype_block_elems(w.dtype)));
    return;
  }
  if (w.dtype != DType::F32 && w.dtype != DType::F16 && w.dtype != DType::BF16)
    fail(std::string("matmul: weight type ") + dtype_name(w.dtype) + " has no kernel yet");
}

}  // namespace

float dot_f32(const float* a, const float* b, int64_t n) { return use_avx2() ? dot_avx2(a, b, n) : dot_scalar(a, b, n); }

void dequantize_row(const MatrixRef& w, int64_t r, float* out) {
  const int64_t K = w.cols;
  switch (w.dtype) {
    case DType::F32: std::copy_n(static_cast<const float*>(w.data) + r * K, K, out); return;
    case DType::BF16: {
      const uint16_t* src = static_cast<const uint16_t*>(w.data) + r * K;
      if (use_avx2()) bf16_row_avx2(src, out, K);
      else for (int64_t i = 0; i < K; ++i) out[i] = bf16_to_f32(src[i]);
      return;
    }
    case DType::F16: {
      const uint16_t* src = static_cast<const uint16_t*>(w.data) + r * K;
      if (use_avx2()) f16_row_avx2(src, out, K);
      else for (int64_t i = 0; i < K; ++i) out[i] = f16_to_f32(src[i]);
      return;
    }
    case DType::Q8_0: {
      check_plain(w);
      const auto* src = static_cast<const uint8_t*>(w.data) + r * static_cast<int64_t>(dtype_bytes_for(w.dtype, K));
      dequantize_row_q8_0(src, out, K);
      return;
    }
    case DType::Q4_0: {
      check_plain(w);
      const auto* src = static_cast<const uint8_t*>(w.data) + r * static_cast<int64_t>(dtype_bytes_for(w.dtype, K));
      dequantize_row_q4_0(src, out, K);
      return;
    }
    case DType::Q4_K:
    case DType::Q6_K: {
      check_plain(w);
      const auto* src = static_cast<const uint8_t*>(w.data) + r * static_cast<int64_t>(dtype_bytes_for(w.dtype, K));
      if (w.dtype == DType::Q4_K) dequantize_row_q4_k(src, out, K);
      else dequantize_row_q6_k(src, out, K);
      return;
    }
    default: check_plain(w);
  }
}

void matmul(const float* x, int64_t T, const MatrixRef& w, float* y) {
  check_plain(w);
  const int64_t N = w.rows, K = w.cols;
  // Rows are processed in blocks: a block of weights is widened once (L2-resident) and
  // reused for every activation row, so prefill reads the weights once per block.
  constexpr int64_t kBlock = 16;
  const int64_t nblocks = (N + kBlock - 1) / kBlock;
#pragma omp parallel
  {
    std::vector<float> buf(w.dtype == DType::F32 ? 0 : static_cast<size_t>(kBlock * K));
#pragma omp for schedule(static)
    for (int64_t b = 0; b < nblocks; ++b) {
      const int64_t r0 = b * kBlock, r1 = std::min(N, r0 + kBlock);
      const float* rows;
      if (w.dtype == DType::F32) {
        rows = static_cast<const float*>(w.data) + r0 * K;
      } else {
        for (int64_t r = r0; r < r1; ++r) dequantize_row(w, r, buf.data() + (r - r0) * K);
        rows = buf.data();
      }
      for (int64_t t = 0; t < T; ++t) {
        const float* xt = x + t * K;
        float* yt = y + t * N;
        for (int64_t r = r0; r < r1; ++r) yt[r] = dot_f32(xt, rows + (r - r0) * K, K);
      }
    }
  }
}

void matmul_reference(const float* x, int64_t T, const MatrixRef& w, float* y) {
  check_plain(w);
  const int64_t N = w.rows, K = w.cols;
  std::vector<float> row(K);
  for (int64_t n = 0; n < N; ++n) {
    // Reference widening is scalar on purpose (independent of the SIMD paths).
    switch (w.dtype) {
      case DType::F32: std::copy_n(static_cast<const float*>(w.data) + n * K, K, row.data()); break;
      case DType::BF16:
        for (int64_t k = 0; k < K; ++k) row[k] = bf16_to_f32(static_cast<const uint16_t*>(w.data)[n * K + k]);
        break;
      case DType::F16:
        for (int64_t k = 0; k < K; ++k) row[k] = f16_to_f32(static_cast<const uint16_t*>(w.data)[n * K + k]);
        break;
      default: dequantize_row(w, n, row.data());
    }
    for (int64_t t = 0; t < T; ++t) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += static_cast<double>(x[t * K + k]) * row[k];
      y[t * N + n] = static_cast<float>(s);
    }
  }
}

}  // namespace exaone
