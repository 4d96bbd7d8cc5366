// y = x · Wᵀ for a batch of activation rows (PyTorch Linear layout: W is [N, K]).
// Activations are float32; weights may be stored in any DType and are widened on the fly.
#pragma once
#include <cstdint>

#include "util/dtype.h"

namespace exaone {

struct MatrixRef {
  DType dtype = DType::F32;
  const void* data = nullptr;
  int64_t rows = 0;  // N (output features)
  int64_t cols = 0;  // K (input features)
};

// x: [T, K] row-major, y: [T, N]. Threads over output features (OpenMP).
void matmul(const float* x, int64_t T, const MatrixRef& w, float* y);

// Plain reference (double accumulation, one thread): the ground truth for kernel tests.
void matmul_reference(const float* x, int64_t T, const MatrixRef& w, float* y);

// Widens row `r` of `w` into `out` (cols floats).
void dequantize_row(const MatrixRef& w, int64_t r, float* out);

// Dot product of two float vectors with the best available SIMD.
float dot_f32(const float* a, const float* b, int64_t n);

}  // namespace exaone
