// y = x · Wᵀ for a batch of activation rows (PyTorch Linear layout: W is [N, K]).
// Activations are float32; weights may be stored in any DType.
//
// Paths (chosen at run time from cpu_features(); EXAONE_KERNELS=scalar forces the references):
//  - Q8_0/Q4_0/Q4_K/Q6_K: activations are quantised to int8 once per call (32-blocks, or 256-blocks
//    with sums for the K-quants) and multiplied with integer dot products, up to 4 tokens per weight
//    row so each unpacked weight block is reused (decode = 1 token, prefill = tiles of 4 tokens
//    inside tiles of 64 that stay in L2). With the 8-row interleaved copy (MatrixRef::packed, AVX2/VNNI)
//    8 rows share each step too, and this path serves every T.
//  - F16/BF16, few tokens: fused dots that widen in registers (no buffer pass).
//    On CPUs without AVX-512 VNNI, file-layout quantised weights with T >= 16 tokens take the float
//    GEMM below instead (dequantised panels): faster there than one-row maddubs-based int8 dots.
//  - F32/F16/BF16, 4 <= T < 48: panels of weights widened once into an L1/L2-sized buffer, then a
//    register-blocked 4 rows x 3 tokens micro-kernel (and at every T in batch-invariant mode).
//  - F32/F16/BF16 and dequantised-panel types, T >= 48: the outer-product prefill GEMM of
//    kernels/gemm_prefill.h (weights widened and packed per 32 x 256 block).
#pragma once
#include <cstdint>
#include <span>

#include "util/dtype.h"

namespace exaone {

struct MatrixRef {
  DType dtype = DType::F32;
  const void* data = nullptr;
  int64_t rows = 0;  // N (output features)
  int64_t cols = 0;  // K (input features)
  // Optional copy of a Q4_0/Q8_0/Q4_K/Q5_K/Q6_K/IQ4_XS matrix in the 8-row interleaved layout of kernels/interleaved.h,
  // built at load; the AVX2 and AVX-512 VNNI kernels read it instead of `data` (same values).
  const void* packed = nullptr;
};

// x: [T, K] row-major, y: [T, N]. Threads over output features (util/parallel.h).
void matmul(const float* x, int64_t T, const MatrixRef& w, float* y);

// Several matrices applied to the same input (q/k/v, gate/up), ys[i] = x · ws[i]ᵀ: one activation
// quantisation and one parallel loop for all of them where their kernels allow. 1 to 4 matrices,
// all with the same number of columns.
void matmul_multi(const float* x, int64_t T, std::span<const MatrixRef> ws, std::span<float* const> ys);

// Plain reference (double accumulation, one thread): the ground truth for kernel tests.
void matmul_reference(const float* x, int64_t T, const MatrixRef& w, float* y);

// Reference for the quantised paths: activations quantised exactly as matmul() does, scalar
// integer block sums, float accumulation. matmul() matches it up to float summation order.
void matmul_reference_int8(const float* x, int64_t T, const MatrixRef& w, float* y);

// The previous kernel (widen 16 weight rows to float, then one float dot per row and token):
// kept as the baseline for benchmarks.
void matmul_widen_baseline(const float* x, int64_t T, const MatrixRef& w, float* y);

// Token count from which file-layout quantised weights (no packed copy) use dequantised float
// panels instead of int8 dots on CPUs without VNNI (default 16). Tests and benchmarks use it to
// reach both paths.
void set_quantized_prefill_min_tokens(int64_t tokens);

// Whether a type's file-layout int8 dots are kept for many tokens on a VNNI CPU (where the int8 path
// is otherwise taken at every T): not for types with scalar dots only, nor for Q2_K and Q3_K, whose
// AVX2 dots (a shift and mask per 32 quants, pmaddubsw) lose to the float panels for prefill.
bool int8_prefill_pays(DType t);

// Batch-invariant mode (the server turns it on): each activation row's result no longer depends
// on how many rows the call has, so a sequence's output is the same alone or in any batch.
// Float weights then take the panel GEMM at every T (decode's fused dots sum in another order),
// quantised weights the int8 dots at every T. Off by default (decode of F16/BF16 is a little faster).
void set_batch_invariant(bool on);
bool batch_invariant();

// Widens row `r` of `w` into `out` (cols floats).
void dequantize_row(const MatrixRef& w, int64_t r, float* out);

// Dot product of two float vectors with the best available SIMD.
float dot_f32(const float* a, const float* b, int64_t n);

}  // namespace exaone
