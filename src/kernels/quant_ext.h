// The other block types of community GGUF files: Q4_1, Q5_0, Q5_1 and IQ4_NL (32 elements per
// block) and Q2_K, Q3_K, Q5_K and IQ4_XS (256-element super-blocks), byte for byte as llama.cpp lays
// them out (ggml-common.h), with dequantisation that gives the same floats as ggml's reference
// (checked bit for bit against the gguf Python package: tests/fixtures/quants/).
//
// Values, for element i of a block (q the unsigned field as stored, d/dmin/m F16):
//   Q4_1   x = d q + m                          q 4 bits: qs[j] low = element j, high = j + 16
//   Q5_0   x = d (q - 16)                       q 5 bits: nibble as Q4_0, bit j of qh (LE uint32) = bit 4
//   Q5_1   x = d q + m                          as Q5_0, with an offset instead of the -16
//   IQ4_NL x = d kIQ4NLValues[q]                nibbles as Q4_0, looked up in a 16-value table
//   Q2_K   x = d (sc & 15) q - dmin (sc >> 4)   16 groups of 16, q 2 bits
//   Q3_K   x = d (sc - 32) (q - 4 [hbit = 0])   16 groups of 16, q 2 bits + hmask bit, 6-bit scales
//   Q5_K   x = d sc q - dmin m                  Q4_K with a fifth bit per element in qh
//   IQ4_XS x = d (ls - 32) kIQ4NLValues[q]      8 groups of 32, 6-bit scales
// Element e = 128 h + 32 j + l of a Q2_K/Q3_K super-block (h 0..1, j 0..3, l 0..31) is bits 2j..2j+1
// of qs[32 h + l]; its group is e / 16. Q3_K's high bit is bit 4 h + j of hmask[l].
#pragma once
#include <cstdint>

#include "kernels/quant.h"
#include "kernels/quant_dot.h"

namespace exaone {

struct BlockQ4_1 {
  uint16_t d, m;       // F16 scale and offset
  uint8_t qs[16];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];       // fifth bits, element j = bit j of the little-endian uint32
  uint8_t qs[16];
};
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[16];
};
struct BlockQ2_K {
  uint8_t scales[16];  // low nibble scale, high nibble min, per 16 elements
  uint8_t qs[64];
  uint16_t d, dmin;
};
struct BlockQ3_K {
  uint8_t hmask[32];   // high bit of each quant (set: no -4 offset)
  uint8_t qs[64];      // low 2 bits
  uint8_t scales[12];  // 16 scales of 6 bits (stored + 32)
  uint16_t d;
};
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];  // as Q4_K (scale_min_k4)
  uint8_t qh[32];      // bit j of qh[l] = fifth bit of element 32 j + l
  uint8_t qs[128];     // low nibbles as Q4_K
};
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;   // bits 2j..2j+1: high bits of group j's scale
  uint8_t scales_l[4]; // nibble j (low first): low bits of group j's scale
  uint8_t qs[128];     // 16 bytes per group: low nibble = element l, high = l + 16
};
static_assert(sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24 &&
                  sizeof(BlockIQ4_NL) == 18,
              "ggml 32-element block layouts");
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ5_K) == 176 &&
                  sizeof(BlockIQ4_XS) == 136,
              "ggml 256-element block layouts");

// The non-linear 4-bit grid of IQ4_NL and IQ4_XS (ggml's kvalues_iq4nl).
inline constexpr int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// Q3_K group g's 6-bit scale as stored (0..63; the value is that minus 32).
inline int q3_k_scale(const uint8_t* s, int g) {
  const int low = g < 8 ? s[g] & 0x0f : s[g - 8] >> 4;
  const int high = (s[8 + g % 4] >> (2 * (g / 4))) & 3;
  return low | (high << 4);
}
// IQ4_XS group j's 6-bit scale as stored (0..63; the value is that minus 32).
inline int iq4_xs_scale(const BlockIQ4_XS& b, int j) {
  return ((b.scales_l[j / 2] >> (4 * (j % 2))) & 0x0f) | (((b.scales_h >> (2 * j)) & 3) << 4);
}

// n must be a multiple of the type's block (Error otherwise). Scalar: these are the reference.
void dequantize_row_q4_1(const void* in, float* y, int64_t n);
void dequantize_row_q5_0(const void* in, float* y, int64_t n);
void dequantize_row_q5_1(const void* in, float* y, int64_t n);
void dequantize_row_iq4_nl(const void* in, float* y, int64_t n);
void dequantize_row_q2_k(const void* in, float* y, int64_t n);
void dequantize_row_q3_k(const void* in, float* y, int64_t n);
void dequantize_row_q5_k(const void* in, float* y, int64_t n);
void dequantize_row_iq4_xs(const void* in, float* y, int64_t n);

// Any block-quantised type (Q8_0 .. IQ4_XS) or F32/F16/BF16, n elements from `in` as stored.
void dequantize_row_any(DType t, const void* in, float* y, int64_t n);

// Encoders for the types above, n a multiple of the block. Q4_1, Q5_0 and Q5_1 follow ggml's
// reference quantisers (quantize_row_q{4_1,5_0,5_1}_ref); the others (Q5_K, Q2_K, Q3_K, IQ4_*) are
// in kernels/quant_k.h or are plain round-to-nearest fits meant for tests and mixed files.
void quantize_row_q4_1(const float* x, void* out, int64_t n);
void quantize_row_q5_0(const float* x, void* out, int64_t n);
void quantize_row_q5_1(const float* x, void* out, int64_t n);
void quantize_row_iq4_nl(const float* x, void* out, int64_t n);
void quantize_row_iq4_xs(const float* x, void* out, int64_t n);

// Integer dot kernels of these types (kernels/quant_dot_ext.cpp), reached through quant_dot_scalar /
// quant_dot_avx2 / quant_dot_avx512vnni (quant_dot.h); nullptr for types they do not cover.
QuantDotFn quant_dot_scalar_ext(DType t);
QuantDotFn quant_dot_avx2_ext(DType t);        // Q5_K, IQ4_XS, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K
QuantDotFn quant_dot_avx512vnni_ext(DType t);  // Q5_K, IQ4_XS

}  // namespace exaone
