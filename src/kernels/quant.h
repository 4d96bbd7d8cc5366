// llama.cpp block formats Q8_0 and Q4_0 (ggml-common.h layouts, 32 elements per block with
// an F16 scale): quantisation as ggml's reference functions do it, and dequantisation.
#pragma once
#include <cstdint>
#include <vector>

#include "util/dtype.h"

namespace exaone {

constexpr int64_t kQBlock = 32;

struct BlockQ8_0 {
  uint16_t d;        // F16 scale
  int8_t qs[32];     // x = qs * d
};
struct BlockQ4_0 {
  uint16_t d;        // F16 scale
  uint8_t qs[16];    // element j in the low nibble of qs[j], element j+16 in the high; x = (q - 8) * d
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18, "ggml block layouts");

// K-quants (256-element super-blocks), read-only: llama.cpp files quantised with Q4_K_M etc.
constexpr int64_t kQKBlock = 256;
struct BlockQ4_K {
  uint16_t d, dmin;      // F16 super-block scales for the 6-bit sub-block scales and mins
  uint8_t scales[12];    // 8 (scale, min) pairs of 6 bits
  uint8_t qs[128];       // 4-bit quants: 64-element chunks, low nibbles then high nibbles
};
struct BlockQ6_K {
  uint8_t ql[128];       // low 4 bits
  uint8_t qh[64];        // high 2 bits
  int8_t scales[16];     // one 8-bit scale per 16 elements
  uint16_t d;            // F16 super-block scale
};
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ6_K) == 210, "ggml K-quant layouts");
void dequantize_row_q4_k(const void* in, float* y, int64_t n);  // n multiple of 256
// Sub-block j (0..7) of a Q4_K super-block: its 6-bit scale and min, packed as in ggml's get_scale_min_k4.
inline void scale_min_k4(int j, const uint8_t* q, uint8_t& d, uint8_t& m) {
  if (j < 4) {
    d = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    d = static_cast<uint8_t>((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
    m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}
void dequantize_row_q6_k(const void* in, float* y, int64_t n);

// n must be a multiple of 32 (Error otherwise). `out` holds n/32 blocks.
void quantize_row_q8_0(const float* x, void* out, int64_t n);
void quantize_row_q4_0(const float* x, void* out, int64_t n);
void dequantize_row_q8_0(const void* in, float* y, int64_t n);
void dequantize_row_q4_0(const void* in, float* y, int64_t n);

// Whole [rows, cols] float matrix into `type` (F32, F16, BF16, Q8_0, Q4_0), row by row.
std::vector<uint8_t> quantize_matrix(DType type, const float* x, int64_t rows, int64_t cols);

}  // namespace exaone
