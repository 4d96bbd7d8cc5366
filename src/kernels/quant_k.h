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

// Q5_K as ggml's quantize_row_q5_K_ref (Q4_K's search with levels 0..31); Q2_K and Q3_K following
// quantize_row_q{2,3}_K_ref (make_qkx2_quants with absolute errors; make_q3_quants). Layouts in
// kernels/quant_ext.h.
void quantize_row_q5_k(const float* x, void* out, int64_t n);
void quantize_row_q2_k(const float* x, void* out, int64_t n);
void quantize_row_q3_k(const float* x, void* out, int64_t n);

// Whole [rows, cols] float matrix into any type: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, and those of
// kernels/quant_ext.h.
// Rows are quantised in parallel (each row is independent, so results do not depend on threads).
std::vector<uint8_t> quantize_matrix_any(DType type, const float* x, int64_t rows, int64_t cols);

}  // namespace exaone
