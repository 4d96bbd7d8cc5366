// Integer dot products between block-quantised weights and int8-quantised activations, the
// way ggml's vec_dot_{q8_0,q4_0}_q8_0 / vec_dot_{q4_K,q6_K}_q8_K work: activations are quantised
// once per matmul (per 32-element block for Q8_0/Q4_0, per 256-element super-block for the
// K-quants), each block's products are summed exactly in int32, then scaled in float.
//
// Every kernel has a scalar reference and an AVX2 version; both compute the same integer block
// sums, so they differ only by the order of the float summation across blocks.
#pragma once
#include <cstdint>
#include <vector>

#include "util/dtype.h"

namespace exaone {

// Activation block for Q8_0/Q4_0 weights: float scale (x ≈ qs * d) and the sum of qs, which
// lets unsigned-weight kernels (Q4_0 nibbles) drop their offset with one multiply.
struct BlockQ8A {
  float d;
  int32_t sum;
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8A) == 40, "BlockQ8A layout");

// Activation super-block for Q4_K/Q6_K weights (ggml's block_q8_K): bsums[j] = sum of qs[16j..16j+15].
struct BlockQ8K {
  float d;
  int8_t qs[256];
  int16_t bsums[16];
};
static_assert(sizeof(BlockQ8K) == 292, "BlockQ8K layout");

// Row t of a batch of quantised activation rows `stride` bytes apart (Block: BlockQ8A or BlockQ8K).
template <typename Block>
const Block* act_row(const void* act, size_t stride, int t) {
  return reinterpret_cast<const Block*>(static_cast<const uint8_t*>(act) + stride * static_cast<size_t>(t));
}

// Which activation format a weight type's integer kernels take: BlockQ8A (32) or BlockQ8K (256).
bool is_quantized(DType t);
int64_t activation_block_elems(DType weight_type);
size_t activation_row_bytes(DType weight_type, int64_t K);

// Quantises one activation row of K floats (K a multiple of the block) for `weight_type`.
// Round-to-nearest with scale amax/127, as ggml does; an all-zero block gets d = 0.
void quantize_activation_row(DType weight_type, const float* x, int64_t K, void* out);

// Dot products of one weight row (K elements, row_bytes as stored) with `nt` (1..4) activation
// rows, `act_stride` bytes apart: out[t] = Σ_blocks d_w d_x Σ q_w q_x. The weight blocks are
// unpacked once and reused for all nt rows.
using QuantDotFn = void (*)(const void* w_row, const void* act, size_t act_stride, int nt, int64_t K, float* out);
QuantDotFn quant_dot_scalar(DType weight_type);
QuantDotFn quant_dot_avx2(DType weight_type);  // nullptr if the type has none
QuantDotFn quant_dot_avx512vnni(DType weight_type);  // nullptr if the type has none

// Fused 16-bit float dot products (convert in registers): out[t] = Σ_k w[k] x[t*K + k], nt in 1..4.
using HalfDotFn = void (*)(const uint16_t* w_row, const float* x, int nt, int64_t K, float* out);
HalfDotFn half_dot_scalar(DType weight_type);  // F16 or BF16
HalfDotFn half_dot_avx2(DType weight_type);

}  // namespace exaone
