#include "kernels/ops.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/simd_avx2.h"
#include "util/parallel.h"

namespace exaone {

namespace {

bool ops_avx2() { return !force_scalar_kernels() && cpu_features().avx2 && cpu_features().fma; }

// silu(g) * u = g / (1 + e^-g) * u, 8 at a time with the vector exp (within 2 ulp of std::exp).
__attribute__((target("avx2,fma"))) int64_t silu_mul_avx2(float* gate, const float* up, int64_t b, int64_t e) {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  int64_t i = b;
  for (; i + 8 <= e; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 den = _mm256_add_ps(one, simd::exp8(_mm256_xor_ps(g, sign)));
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, den), _mm256_loadu_ps(up + i)));
  }
  return i;
}

}  // namespace

void rmsnorm(const float* x, const float* w, float eps, int64_t rows, int64_t dim, float* out) {
  const auto row = [&](int64_t r) {
    const float* xr = x + r * dim;
    float* o = out + r * dim;
    double ss = 0;
    for (int64_t i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    const float inv = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(dim)) + eps);
    // HF order: normalise in float32, (cast to the activation dtype), then scale by weight.
    for (int64_t i = 0; i < dim; ++i) o[i] = (xr[i] * inv) * w[i];
  };
  // Small norms (decode's per-head q/k norms) cost less than waking the pool.
  if (rows <= 4 || rows * dim <= 16384) {
    for (int64_t r = 0; r < rows; ++r) row(r);
    return;
  }
  parallel_for(rows, balanced_chunk(rows, 1, 4), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) row(r);
  });
}

void silu_mul(float* gate, const float* up, int64_t n) {
  const bool simd = ops_avx2();
  const auto span = [&](int64_t b, int64_t e) {
    int64_t i = simd ? silu_mul_avx2(gate, up, b, e) : b;
    if (simd && i < e) {
      // The tail goes through the vector exp too (in a padded copy): every element is computed
      // the same way wherever it sits, so a row's result does not depend on the batch around it.
      float g8[8] = {0}, u8[8] = {0};
      std::copy(gate + i, gate + e, g8);
      std::copy(up + i, up + e, u8);
      silu_mul_avx2(g8, u8, 0, 8);
      std::copy(g8, g8 + (e - i), gate + i);
      return;
    }
    for (; i < e; ++i) {
      const float g = gate[i];
      gate[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
  };
  if (n <= 65536) return span(0, n);
  parallel_for(n, (balanced_chunk(n, 16384, 2) + 7) / 8 * 8, span);
}

void add_inplace(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void rope_neox(float* x, int64_t T, int64_t n_heads, int64_t head_dim, const int32_t* positions,
               const float* inv_freq) {
  const int64_t half = head_dim / 2;
  const auto token = [&](int64_t t) {
    std::vector<float> cs(half), sn(half);
    const float pos = static_cast<float>(positions[t]);
    for (int64_t j = 0; j < half; ++j) {
      const float angle = pos * inv_freq[j];  // float32 product, as HF computes freqs
      cs[j] = static_cast<float>(std::cos(static_cast<double>(angle)));
      sn[j] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_dim;
      for (int64_t j = 0; j < half; ++j) {
        const float a = v[j], b = v[j + half];
        v[j] = a * cs[j] - b * sn[j];
        v[j + half] = b * cs[j] + a * sn[j];
      }
    }
  };
  parallel_for(T, balanced_chunk(T, 1, 4), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) token(t);
  });
}

}  // namespace exaone
