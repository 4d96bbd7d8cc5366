// Blocked, packed float GEMM for training: C[M,N] (=, or += when `accumulate`) A[M,K] · B[K,N],
// where each operand is read in place as row-major or transposed, so the three products of a
// linear layer (y = x·Wᵀ, dx = dy·W, dW += dyᵀ·x) need no materialised transpose.
//
// Determinism: the output is cut into fixed tiles (independent of the thread count), each computed
// by one task; every element is one fused multiply-add chain over k in order within fixed depth
// blocks of kGemmDepth, added to C block after block. The result is therefore the same for any
// thread count, and the AVX-512, AVX2 and scalar paths give bit-identical results (each lane is the
// same chain of fmaf).
//
// BF16: A and B are rounded to bfloat16 (round to nearest even) and multiplied in pairs with float
// accumulation (vdpbf16ps on AVX512_BF16 CPUs). gemm_bf16_supported() says whether this CPU has it;
// callers refuse the bf16 mode otherwise.
#pragma once
#include <cstdint>

namespace exaone {

enum class GemmPrecision { F32, BF16 };

struct GemmOperand {
  const float* data = nullptr;
  int64_t ld = 0;       // row stride of the stored matrix
  bool trans = false;   // false: element (r, c) at data[r*ld + c]; true: at data[c*ld + r]
};

// C[M,N] with row stride ldc.
void gemm_train(int64_t M, int64_t N, int64_t K, const GemmOperand& a, const GemmOperand& b, float* c, int64_t ldc,
                bool accumulate, GemmPrecision precision = GemmPrecision::F32);

// Depth of one block of the k loop (the summation order depends on it, not on threads).
constexpr int64_t kGemmDepth = 256;

bool gemm_bf16_supported();

// The micro-kernel gemm_train uses here for a precision ("avx512 8x32", ...; "unavailable" for BF16 without vdpbf16ps).
const char* gemm_train_name(GemmPrecision precision);

// Round to bfloat16 (nearest even) and back, as the bf16 path rounds its inputs.
float round_to_bf16(float x);

// probe_peak (kernels/peak_probe.h) of F32 or BF16: the MFU figures divide by it.
double probe_peak_gflops(GemmPrecision precision, int threads, double seconds = 0.05);

}  // namespace exaone
