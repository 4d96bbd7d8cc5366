// Storage types of weights and caches. Block-quantised types use llama.cpp's block layouts
// so GGUF files load as they are.
#pragma once
#include <cstddef>
#include <cstdint>

namespace exaone {

// Q4_1 .. IQ4_XS: read from community GGUF files (kernels/quant_ext.h); appended so existing
// values keep their numbers.
enum class DType { F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q5_K, IQ4_NL, IQ4_XS };

const char* dtype_name(DType t);
// Elements per block and bytes per block (1 and the element size for plain types).
int64_t dtype_block_elems(DType t);
int64_t dtype_block_bytes(DType t);
// Bytes needed for `n` elements (n must be a multiple of the block size).
size_t dtype_bytes_for(DType t, int64_t n);

}  // namespace exaone
