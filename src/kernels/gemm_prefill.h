// Prefill GEMM for weights multiplied as floats (F32, F16, BF16, and the quantised types that take
// dequantised panels): y[T, N] = x[T, K] · Wᵀ, W stored [N, K].
//
// Why not the dot-product panels of kernels/matmul.cpp: there every (row, token) pair ends in a
// horizontal sum, and each tile of tokens streams its activations from L3 again; that kernel stays
// near 50 % of the FMA peak. Here weights are widened once per (32 rows, 256 columns) block and
// packed k-major, so a micro-kernel multiplies MR tokens by 32 rows as outer products: one packed
// load serves MR broadcasts, no horizontal sums, and the tokens' activations are read in place.
//
// Summation order: every output is a fused multiply-add chain over k in order within fixed depth
// blocks of kPrefillDepth, added to y block after block, so a token's result does not depend on how
// many tokens the call has or on the thread count.
#pragma once
#include <cstdint>
#include <functional>

namespace exaone {

constexpr int64_t kPrefillDepth = 256;

// Writes rows [r0, r1) of W, columns [k0, k0 + len), as floats to dst (row r at dst + (r - r0) * ld).
// k0 is a multiple of kPrefillDepth, len at most that (quantised types: whole blocks, as the caller
// ensures by their block size dividing kPrefillDepth).
using WidenRowsFn = std::function<void(int64_t r0, int64_t r1, int64_t k0, int64_t len, float* dst, int64_t ld)>;

// True when this CPU has a kernel for it (AVX-512F, or AVX2 with FMA), unless scalar kernels are forced.
bool gemm_prefill_available();

// "avx512 12x32", "avx2 6x16" or "scalar": the micro-kernel gemm_prefill uses here.
const char* gemm_prefill_name();

// y = x · Wᵀ with W read through `widen`. x: [T, K] row-major, y: [T, N] row-major.
void gemm_prefill(const float* x, int64_t T, int64_t N, int64_t K, const WidenRowsFn& widen, float* y);

}  // namespace exaone
