// Q4_0 weights re-laid out 8 rows at a time ("Q4_0x8"), built once at load for decode.
//
// Why: with the file layout a Q4_0 block dot ends in one int-to-float conversion, scale and FMA per
// row and block, which makes AVX2 decode compute-bound at about half the memory roofline. With 8
// rows interleaved in 4-byte groups, one pmaddubsw multiplies a broadcast group of 4 activations
// with the same 4 elements of all 8 rows; a block's products stay in int16 lanes (at most
// 8 * 2 * 15 * 127 = 30480), and the conversion, scale and FMA are shared by the 8 rows, whose
// results come out in the 8 lanes of one vector.
//
// Layout per group of 8 rows and per block of 32 columns (144 bytes, as 8 file blocks):
//   d[8]            F16 scales of the 8 rows' blocks
//   qs[4][8][4]     chunk c, row r: the row's file bytes 4c..4c+3, whose low nibbles are
//                   elements 4c..4c+3 and high nibbles elements 16+4c..16+4c+3
#pragma once
#include <cstddef>
#include <cstdint>

namespace exaone {

constexpr int64_t kQ4x8Rows = 8;

struct BlockQ4_0x8 {
  uint16_t d[8];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_0x8) == 144, "Q4_0x8 layout");

// True when a [rows, cols] Q4_0 matrix can be packed (rows a multiple of 8, cols of 32).
bool q4_0x8_packable(int64_t rows, int64_t cols);
size_t q4_0x8_bytes(int64_t rows, int64_t cols);
// Packs rows [r0, r1) (multiples of 8) of a Q4_0 matrix; out is the whole packed matrix.
void pack_q4_0x8(const void* q4_0, int64_t cols, int64_t r0, int64_t r1, void* out);
// Row r, columns [k0, k0 + len) (multiples of 32) widened to float, as dequantize_row_q4_0 would.
void dequantize_q4_0x8(const void* packed, int64_t cols, int64_t r, int64_t k0, int64_t len, float* out);

// y[t * ldy + i] = row (8 g + i) · x_t for the 8 rows of group g and nt (1..4) activation rows
// (BlockQ8A, act_stride bytes apart; quant_dot.h). AVX2; scalar reference below.
void gemv_q4_0x8_avx2(const void* packed, int64_t cols, int64_t g, const void* act, size_t act_stride, int nt,
                      float* y, int64_t ldy);
void gemv_q4_0x8_scalar(const void* packed, int64_t cols, int64_t g, const void* act, size_t act_stride, int nt,
                        float* y, int64_t ldy);

}  // namespace exaone
