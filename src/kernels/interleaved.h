// Q4_0, Q8_0, Q4_K, Q5_K, Q6_K and IQ4_XS weights re-laid out 8 rows at a time, built once at load for the AVX2
// and AVX-512 VNNI kernels (the VNNI ones read the same layout: vpdpbusd on ymm takes the same
// broadcast group of 4 activations as pmaddubsw).
//
// Why: with the file layout a block dot ends in one int-to-float conversion, scale and FMA per
// row and block, and every row re-derives its own operands, which makes AVX2 decode about as
// compute-bound as it is memory-bound. With 8 rows interleaved in 4-byte groups, one pmaddubsw
// multiplies a broadcast group of 4 activations with the same 4 elements of all 8 rows; the
// conversion, scale and FMA are shared by the 8 rows, whose results come out in the 8 lanes of
// one vector (no horizontal sums).
//
// The K-quants (256-element super-blocks) gain less per block than Q4_0 (their float work is
// already per 256), but their per-row scale shuffles, horizontal sums and activation reloads go.
//
// Layout per group of 8 rows and per block (as many bytes as the 8 file blocks; every field of
// the file block kept as it is, only regrouped so one 32-byte load holds the same bytes of 8 rows):
//   Q4_0: d[8]; qs[4][8][4]       chunk c, row r: the row's file bytes qs[4c..4c+3], whose low
//                                 nibbles are elements 4c..4c+3 and high nibbles 16+4c..16+4c+3
//   Q8_0: d[8]; qs[8][8][4]       chunk c, row r: the row's elements 4c..4c+3
//   Q4_K: d[8]; dmin[8]; scales[3][8][4]   word w, row r: the row's file scales[4w..4w+3]
//         qs[4][8][8][4]          chunk c, group m, row r: file qs[32c+4m..+3] (elements 64c+4m..
//                                 in the low nibbles, 64c+32+4m.. in the high)
//   Q5_K: d[8]; dmin[8]; scales[3][8][4]   as Q4_K
//         qh[8][8][4]             group m, row r: file qh[4m..4m+3] (fifth bits of elements 4m.. of
//                                 every 32-element sub-block)
//         qs[4][8][8][4]          as Q4_K
//   IQ4_XS: d[8]; scales_h[8]; scales_l[8][4]   row r: its file fields
//         qs[8][4][8][4]          group j, chunk c, row r: file qs[16j+4c..+3] (elements 32j+4c.. in the
//                                 low nibbles, 32j+16+4c.. in the high)
//   Q6_K: d[8]; scales[16][8]     group g, row r: the row's file scales[g]
//         ql[2][2][8][8][4]       half h, part p, group m, row r: file ql[64h+32p+4m..+3]
//         qh[2][8][8][4]          half h, group m, row r: file qh[32h+4m..+3]
#pragma once
#include <cstddef>
#include <cstdint>

#include "util/dtype.h"

namespace exaone {

constexpr int64_t kInterleaveRows = 8;

struct BlockQ4_0x8 {
  uint16_t d[8];
  uint8_t qs[128];
};
struct BlockQ8_0x8 {
  uint16_t d[8];
  int8_t qs[256];
};
struct BlockQ4_Kx8 {
  uint16_t d[8], dmin[8];
  uint8_t scales[96];
  uint8_t qs[1024];
};
struct BlockQ6_Kx8 {
  uint16_t d[8];
  int8_t scales[128];
  uint8_t ql[1024];
  uint8_t qh[512];
};
struct BlockQ5_Kx8 {
  uint16_t d[8], dmin[8];
  uint8_t scales[96];
  uint8_t qh[256];
  uint8_t qs[1024];
};
struct BlockIQ4_XSx8 {
  uint16_t d[8];
  uint16_t scales_h[8];
  uint8_t scales_l[32];
  uint8_t qs[1024];
};
static_assert(sizeof(BlockQ5_Kx8) == 8 * 176 && sizeof(BlockIQ4_XSx8) == 8 * 136, "interleaved layouts: 8 file blocks each");
static_assert(sizeof(BlockQ4_0x8) == 144 && sizeof(BlockQ8_0x8) == 272 && sizeof(BlockQ4_Kx8) == 1152 &&
                  sizeof(BlockQ6_Kx8) == 1680,
              "interleaved layouts: 8 file blocks each");

// True when a [rows, cols] matrix of type t has an interleaved layout (Q4_0, Q8_0, Q4_K, Q5_K, Q6_K or IQ4_XS,
// rows a multiple of 8, cols of the type's block).
bool interleavable(DType t, int64_t rows, int64_t cols);
size_t interleaved_bytes(DType t, int64_t rows, int64_t cols);
// Re-lays out rows [r0, r1) (multiples of 8) of a matrix in its file layout; out is the whole
// interleaved matrix.
void interleave_rows(DType t, const void* file_rows, int64_t cols, int64_t r0, int64_t r1, void* out);
// Row r, columns [k0, k0 + len) (multiples of the block) widened to float, exactly as the file layout's
// dequantisation gives them.
void dequantize_interleaved(DType t, const void* packed, int64_t cols, int64_t r, int64_t k0, int64_t len, float* out);

// y[t * ldy + i] = row (8 g + i) · x_t for the 8 rows of group g and nt (1..4) activation rows
// (BlockQ8A or BlockQ8K, act_stride bytes apart; quant_dot.h). AVX2; scalar reference below.
void gemv_interleaved_avx2(DType t, const void* packed, int64_t cols, int64_t g, const void* act, size_t act_stride,
                           int nt, float* y, int64_t ldy);
void gemv_interleaved_scalar(DType t, const void* packed, int64_t cols, int64_t g, const void* act, size_t act_stride,
                             int nt, float* y, int64_t ldy);
// AVX-512 VNNI (vpdpbusd on ymm): the AVX2 kernels' integer sums in fewer instructions, with their
// float steps in the same order, so the results are bit-identical to gemv_interleaved_avx2.
void gemv_interleaved_avx512vnni(DType t, const void* packed, int64_t cols, int64_t g, const void* act,
                                 size_t act_stride, int nt, float* y, int64_t ldy);

// The kernel matmul uses for packed matrices: VNNI where the CPU has it (unless EXAONE_KERNELS or
// set_force_avx2_kernels says otherwise, cpu_features.h), else AVX2, else the scalar reference.
using InterleavedGemvFn = void (*)(DType, const void*, int64_t, int64_t, const void*, size_t, int, float*, int64_t);
InterleavedGemvFn interleaved_gemv();
const char* interleaved_gemv_name();  // "avx512-vnni", "avx2" or "scalar"

}  // namespace exaone
