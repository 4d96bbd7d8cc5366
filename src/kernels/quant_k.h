// K-quant encoders (llama.cpp Q4_K and Q6_K, 256-element super-blocks) following ggml's reference
// algorithms (quantize_row_q4_K_ref / quantize_row_q6_K_ref, no importance matrix), so files we write
// hold the blocks llama-quantize would write for the same floats. Block layouts and decoders are in
// kernels/quant.h.
#pragma once
#include <cstdint>
#include <vector>

#include "util/dtype.h"

namespace exaone {

// n must be a multiple of 256 (Error otherwise); `out` receives n/256 blocks.
void quantize_row_q4_k(const float* x, void* out, int64_t n);
void quantize_row_q6_k(const float* x, void* out, int64_t n);

// Whole [rows, cols] float matrix into any writable type: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K.
// Rows are quantised in parallel (each row is independent, so results do not depend on threads).
std::vector<uint8_t> quantize_matrix_any(DType type, const float* x, int64_t rows, int64_t cols);

}  // namespace exaone
