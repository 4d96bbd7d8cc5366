// Small AVX2 helpers shared by the kernel files. Each is compiled for AVX2+FMA only where a
// caller with those target features inlines it, so the binary stays portable.
#pragma once
#include <immintrin.h>

namespace exaone::simd {

// Sum of the 8 lanes.
__attribute__((target("avx2,fma"))) inline float hsum(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
  return _mm_cvtss_f32(h);
}

}  // namespace exaone::simd
