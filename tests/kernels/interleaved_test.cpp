// The 8-row interleaved Q4_0/Q8_0/Q4_K/Q6_K/Q5_K/IQ4_XS layouts: packing keeps every value, their kernels agree with the
// file layout's scalar reference, and matmul gives the same results with or without the copy.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "random_data.h"
#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "kernels/interleaved.h"
#include "kernels/quant.h"
#include "kernels/quant_dot.h"
#include "kernels/quant_k.h"
#include "util/half.h"

namespace exaone {
namespace {

using test::randn;

struct Packed {
  std::vector<uint8_t> file, packed;
  MatrixRef ref(bool with_packed) const {
    return MatrixRef{type, file.data(), rows, cols, with_packed ? packed.data() : nullptr};
  }
  DType type;
  int64_t rows, cols;
};

Packed make(DType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  Packed p;
  p.type = type;
  p.rows = rows;
  p.cols = cols;
  auto f = randn(rows * cols, rng, 0.5f);
  p.file = quantize_matrix_any(type, f.data(), rows, cols);
  p.packed.resize(interleaved_bytes(type, rows, cols));
  const int64_t half = rows / 2 / kInterleaveRows * kInterleaveRows;  // packed in two parts
  interleave_rows(type, p.file.data(), cols, 0, half, p.packed.data());
  interleave_rows(type, p.file.data(), cols, half, rows, p.packed.data());
  return p;
}

class Interleaved : public ::testing::TestWithParam<DType> {};

TEST(InterleavedLayout, Sizes) {
  EXPECT_TRUE(interleavable(DType::Q4_0, 8, 32));
  EXPECT_TRUE(interleavable(DType::Q8_0, 4096, 2048));
  EXPECT_FALSE(interleavable(DType::Q4_0, 12, 32));
  EXPECT_FALSE(interleavable(DType::Q8_0, 8, 48));
  EXPECT_FALSE(interleavable(DType::Q4_0, 0, 32));
  EXPECT_TRUE(interleavable(DType::Q4_K, 8, 256));
  EXPECT_TRUE(interleavable(DType::Q6_K, 16, 512));
  EXPECT_FALSE(interleavable(DType::Q4_K, 8, 32));
  EXPECT_FALSE(interleavable(DType::Q6_K, 4, 256));
  EXPECT_FALSE(interleavable(DType::F16, 8, 32));
  EXPECT_EQ(interleaved_bytes(DType::Q4_0, 16, 64), 2u * 2u * sizeof(BlockQ4_0x8));
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::Q5_K, DType::IQ4_XS})
    EXPECT_EQ(interleaved_bytes(t, 16, 512), dtype_bytes_for(t, 16 * 512)) << dtype_name(t);
  EXPECT_TRUE(interleavable(DType::Q5_K, 8, 256));
  EXPECT_TRUE(interleavable(DType::IQ4_XS, 16, 512));
  EXPECT_FALSE(interleavable(DType::Q3_K, 8, 256));  // no packed kernels: file-layout dots
  EXPECT_FALSE(interleavable(DType::IQ4_NL, 8, 32));
}

TEST_P(Interleaved, DequantisesEveryRowExactly) {
  std::mt19937 rng(3);
  const int64_t be = dtype_block_elems(GetParam());
  const Packed p = make(GetParam(), 24, 4 * be, rng);
  std::vector<float> a(p.cols), b(p.cols), part(2 * be);
  for (int64_t r = 0; r < p.rows; ++r) {
    dequantize_row(p.ref(false), r, a.data());
    dequantize_row(p.ref(true), r, b.data());
    ASSERT_EQ(a, b) << "row " << r;
    dequantize_interleaved(p.type, p.packed.data(), p.cols, r, be, 2 * be, part.data());
    for (int64_t k = 0; k < 2 * be; ++k) ASSERT_EQ(part[k], a[be + k]) << "row " << r << " col " << be + k;
  }
}

TEST_P(Interleaved, KernelsMatchFileLayoutReference) {
  std::mt19937 rng(4);
  const DType type = GetParam();
  const int64_t be = dtype_block_elems(type);
  for (int64_t K : {be, 2 * be, 5 * be, int64_t{2048}}) {
    const Packed p = make(type, 16, K, rng);
    for (int nt = 1; nt <= 4; ++nt) {
      auto x = randn(nt * K, rng, 2.0f);
      const size_t stride = activation_row_bytes(type, K);
      std::vector<uint8_t> act(stride * nt);
      for (int t = 0; t < nt; ++t) quantize_activation_row(type, x.data() + t * K, K, act.data() + t * stride);
      for (int64_t g = 0; g < 2; ++g) {
        float ys[4 * 8], yv[4 * 8];
        gemv_interleaved_scalar(type, p.packed.data(), K, g, act.data(), stride, nt, ys, 8);
        if (cpu_features().avx2 && cpu_features().fma && cpu_features().f16c)
          gemv_interleaved_avx2(type, p.packed.data(), K, g, act.data(), stride, nt, yv, 8);
        else
          std::copy(ys, ys + 32, yv);
        const auto row_bytes = dtype_bytes_for(type, K);
        for (int t = 0; t < nt; ++t)
          for (int r = 0; r < 8; ++r) {
            float ref;
            quant_dot_scalar(type)(p.file.data() + (g * 8 + r) * row_bytes, act.data() + t * stride, stride, 1,
                                          K, &ref);
            EXPECT_NEAR(ys[t * 8 + r], ref, 1e-5 * (1 + std::fabs(ref))) << "K=" << K << " nt=" << nt;
            EXPECT_NEAR(yv[t * 8 + r], ref, 1e-5 * (1 + std::fabs(ref))) << "K=" << K << " nt=" << nt;
          }
      }
    }
  }
}

// With the packed copy, matmul takes the int8 path for every T (prefill tiles of tokens included):
// the same int8 dot products as the scalar reference. Without it, a small T also runs int8.
TEST_P(Interleaved, MatmulWithPackedCopyIsTheInt8Product) {
  std::mt19937 rng(5);
  const Packed p = make(GetParam(), 40, 256, rng);  // 5 groups: row blocks of 16 end on a lone group
  for (int64_t T : {1, 2, 5, 20, 33, 70, 131}) {  // beyond one 64-token tile, with ragged ends
    auto x = randn(T * p.cols, rng);
    std::vector<float> ref(T * p.rows), a(T * p.rows), b(T * p.rows);
    matmul_reference_int8(x.data(), T, p.ref(false), ref.data());
    matmul(x.data(), T, p.ref(false), a.data());
    matmul(x.data(), T, p.ref(true), b.data());
    double scale = 0;
    for (float v : ref) scale = std::max(scale, double(std::fabs(v)));
    for (size_t i = 0; i < ref.size(); ++i) {
      ASSERT_NEAR(b[i], ref[i], 1e-5 * (1 + scale)) << "T=" << T << " at " << i;
      if (T < 16) {
        ASSERT_NEAR(a[i], ref[i], 1e-5 * (1 + scale)) << "T=" << T << " at " << i;
      }
    }
  }
}

bool cpu_has_vnni() {
  const CpuFeatures& f = cpu_features();
  return f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni && f.avx2 && f.fma && f.f16c;
}

// Restores the kernel choice a test forced.
struct Avx2Guard {
  explicit Avx2Guard(bool on) : before(force_avx2_kernels()) { set_force_avx2_kernels(on); }
  ~Avx2Guard() { set_force_avx2_kernels(before); }
  bool before;
};

// Activation rows for `type`, quantised from random floats.
std::vector<uint8_t> quantized_rows(DType type, int64_t K, int nt, std::mt19937& rng) {
  auto x = randn(nt * K, rng, 2.0f);
  const size_t stride = activation_row_bytes(type, K);
  std::vector<uint8_t> act(stride * nt);
  for (int t = 0; t < nt; ++t) quantize_activation_row(type, x.data() + t * K, K, act.data() + t * stride);
  return act;
}

// Every byte of the packed blocks random (all quant values, Q8_0's -128 and Q4_K/Q6_K's full 6-bit
// scales included), scales overwritten with small finite halves: the integer sums at their extremes.
std::vector<uint8_t> random_packed(DType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::vector<uint8_t> p(interleaved_bytes(type, rows, cols));
  for (auto& b : p) b = static_cast<uint8_t>(rng());
  const size_t pb = kInterleaveRows * dtype_bytes_for(type, dtype_block_elems(type));
  std::uniform_real_distribution<float> u(0.001f, 0.02f);
  for (size_t off = 0; off < p.size(); off += pb) {
    auto* d = reinterpret_cast<uint16_t*>(p.data() + off);  // d[8] (then dmin[8] for Q4_K) lead every layout
    for (int i = 0; i < (type == DType::Q4_K || type == DType::Q5_K ? 16 : 8); ++i) d[i] = f32_to_f16(u(rng));
  }
  return p;
}

// Activations at the extremes: every quant +-127 (the quantiser's range), sums kept consistent.
std::vector<uint8_t> extreme_rows(DType type, int64_t K, int nt, std::mt19937& rng) {
  std::vector<float> x(nt * K);
  for (auto& v : x) v = rng() % 2 ? 1.0f : -1.0f;
  for (int64_t i = 0; i < nt * K / 2; ++i) x[i] = 1.0f;  // first half of the rows all +127
  const size_t stride = activation_row_bytes(type, K);
  std::vector<uint8_t> act(stride * nt);
  for (int t = 0; t < nt; ++t) quantize_activation_row(type, x.data() + t * K, K, act.data() + t * stride);
  return act;
}

// VNNI against the AVX2 kernel bit for bit (same integer sums, same float steps) and against the
// scalar reference, on odd block counts, every nt and every group.
TEST_P(Interleaved, VnniKernelsAreBitIdenticalToAvx2) {
  if (!cpu_has_vnni()) GTEST_SKIP() << "CPU lacks AVX-512 F/BW/VL + VNNI (" << cpu_features().summary() << ")";
  const DType type = GetParam();
  const int64_t be = dtype_block_elems(type);
  std::mt19937 rng(31);
  for (int64_t nb : {1, 2, 3, 7, 9, 16}) {
    const int64_t K = nb * be, rows = 24;
    for (int data = 0; data < 2; ++data) {  // 0: quantised normal weights, 1: random bytes
      std::vector<uint8_t> packed = data == 0 ? make(type, rows, K, rng).packed : random_packed(type, rows, K, rng);
      for (int nt = 1; nt <= 4; ++nt)
        for (int acts = 0; acts < 2; ++acts) {
          const auto act = acts == 0 ? quantized_rows(type, K, nt, rng) : extreme_rows(type, K, nt, rng);
          const size_t stride = activation_row_bytes(type, K);
          for (int64_t g = 0; g < rows / kInterleaveRows; ++g) {
            float ys[4 * 8], ya[4 * 8], yv[4 * 8];
            gemv_interleaved_scalar(type, packed.data(), K, g, act.data(), stride, nt, ys, 8);
            gemv_interleaved_avx2(type, packed.data(), K, g, act.data(), stride, nt, ya, 8);
            gemv_interleaved_avx512vnni(type, packed.data(), K, g, act.data(), stride, nt, yv, 8);
            double scale = 0;
            for (int i = 0; i < 8 * nt; ++i) scale = std::max(scale, double(std::fabs(ys[i])));
            for (int i = 0; i < 8 * nt; ++i) {
              const auto where = testing::Message() << "nb=" << nb << " data=" << data << " acts=" << acts
                                                     << " nt=" << nt << " g=" << g << " t=" << i / 8 << " r=" << i % 8;
              ASSERT_EQ(0, std::memcmp(&yv[i], &ya[i], sizeof(float)))
                  << yv[i] << " vs AVX2 " << ya[i] << ", " << where;
              ASSERT_NEAR(yv[i], ys[i], 1e-5 * (1 + scale)) << where;
            }
          }
        }
    }
  }
}

// matmul picks the VNNI kernel where the CPU has it, the AVX2 one when forced; both give the same
// bits for every T (decode, the server's batches, prefill tiles with ragged ends).
TEST_P(Interleaved, MatmulSameBitsOnVnniAndAvx2) {
  if (!cpu_has_vnni()) GTEST_SKIP() << "CPU lacks AVX-512 F/BW/VL + VNNI (" << cpu_features().summary() << ")";
  if (force_scalar_kernels()) GTEST_SKIP() << "EXAONE_KERNELS=scalar";
  std::mt19937 rng(6);
  const Packed p = make(GetParam(), 40, 3 * dtype_block_elems(GetParam()), rng);
  for (int64_t T : {1, 3, 8, 33, 70}) {
    auto x = randn(T * p.cols, rng);
    std::vector<float> a(T * p.rows), b(T * p.rows);
    {
      Avx2Guard avx2(false);
      EXPECT_STREQ(interleaved_gemv_name(), "avx512-vnni");
      matmul(x.data(), T, p.ref(true), a.data());
    }
    {
      Avx2Guard avx2(true);
      EXPECT_STREQ(interleaved_gemv_name(), "avx2");
      matmul(x.data(), T, p.ref(true), b.data());
    }
    ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << "T=" << T;
  }
}

INSTANTIATE_TEST_SUITE_P(Types, Interleaved,
                         ::testing::Values(DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::Q5_K, DType::IQ4_XS),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace exaone
