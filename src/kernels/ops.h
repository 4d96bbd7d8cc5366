// Element-wise and normalisation kernels of the EXAONE decoder, float32 activations.
// Forward only for now; backward passes for training will sit beside each one.
#pragma once
#include <cstdint>

namespace exaone {

// out[r] = x[r] * rsqrt(mean(x[r]^2) + eps) * w, for `rows` rows of `dim` (out may alias x).
void rmsnorm(const float* x, const float* w, float eps, int64_t rows, int64_t dim, float* out);

// x[i] = silu(gate[i]) * up[i] written into gate (SwiGLU).
void silu_mul(float* gate, const float* up, int64_t n);

// y[i] += x[i]
void add_inplace(float* y, const float* x, int64_t n);

// NeoX (rotate-half) rotary embedding in place on `x` = [T, n_heads, head_dim]; row t sits at
// position positions[t]; inv_freq has head_dim/2 entries.
void rope_neox(float* x, int64_t T, int64_t n_heads, int64_t head_dim, const int32_t* positions,
               const float* inv_freq);

}  // namespace exaone
