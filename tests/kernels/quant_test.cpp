// Q8_0 / Q4_0 block formats against a straightforward scalar transcription of ggml's
// reference quantisers (quantize_row_q8_0_ref / quantize_row_q4_0_ref), odd block counts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "random_data.h"
#include "util/error.h"
#include "util/half.h"

namespace exaone {
namespace {

std::vector<float> random_values(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  return test::randn(static_cast<size_t>(n), rng, scale);
}

// Element-wise reference: value that block b, element j should decode to.
std::vector<float> ref_q8_0(const std::vector<float>& x) {
  std::vector<float> y(x.size());
  for (size_t b = 0; b < x.size() / 32; ++b) {
    double amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, double(std::fabs(x[b * 32 + j])));
    const float d = float(amax) / 127.0f;
    const float id = d ? 1.0f / d : 0.0f;
    const float dh = f16_to_f32(f32_to_f16(d));
    for (int j = 0; j < 32; ++j) y[b * 32 + j] = std::nearbyint(std::round(x[b * 32 + j] * id)) * dh;
  }
  return y;
}

std::vector<float> ref_q4_0(const std::vector<float>& x) {
  std::vector<float> y(x.size());
  for (size_t b = 0; b < x.size() / 32; ++b) {
    float amax = 0, mx = 0;
    for (int j = 0; j < 32; ++j)
      if (std::fabs(x[b * 32 + j]) > amax) amax = std::fabs(x[b * 32 + j]), mx = x[b * 32 + j];
    const float d = mx / -8.0f;
    const float id = d ? 1.0f / d : 0.0f;
    const float dh = f16_to_f32(f32_to_f16(d));
    for (int j = 0; j < 32; ++j) {
      int q = static_cast<int>(std::floor(x[b * 32 + j] * id + 8.5f));
      q = std::clamp(q, 0, 15);
      y[b * 32 + j] = (q - 8) * dh;
    }
  }
  return y;
}

TEST(Quant, Q8_0MatchesReferenceOddBlockCounts) {
  for (int64_t blocks : {1, 3, 7, 33}) {
    auto x = random_values(blocks * 32, 11 + blocks, 0.7f);
    std::vector<uint8_t> q(blocks * 34);
    quantize_row_q8_0(x.data(), q.data(), blocks * 32);
    std::vector<float> y(x.size());
    dequantize_row_q8_0(q.data(), y.data(), blocks * 32);
    auto r = ref_q8_0(x);
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(y[i], r[i]) << "blocks " << blocks << " i " << i;
      // Error at most half a step (plus the F16 rounding of the scale).
    }
  }
}

TEST(Quant, Q4_0MatchesReferenceOddBlockCounts) {
  for (int64_t blocks : {1, 5, 9, 31}) {
    auto x = random_values(blocks * 32, 7 + blocks, 2.0f);
    std::vector<uint8_t> q(blocks * 18);
    quantize_row_q4_0(x.data(), q.data(), blocks * 32);
    std::vector<float> y(x.size());
    dequantize_row_q4_0(q.data(), y.data(), blocks * 32);
    auto r = ref_q4_0(x);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(y[i], r[i]) << "blocks " << blocks << " i " << i;
  }
}

// The SIMD widening gives the scalar loop's floats bit for bit (prefill and embeddings use it).
TEST(Quant, SimdDequantisationIsBitExact) {
  std::mt19937 rng(11);
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::vector<float> x(32 * 7);
  for (auto& v : x) v = d(rng);
  for (DType t : {DType::Q8_0, DType::Q4_0}) {
    auto q = quantize_matrix(t, x.data(), 1, static_cast<int64_t>(x.size()));
    std::vector<float> fast(x.size()), ref(x.size());
    auto run = [&](std::vector<float>& out) {
      if (t == DType::Q8_0) dequantize_row_q8_0(q.data(), out.data(), static_cast<int64_t>(x.size()));
      else dequantize_row_q4_0(q.data(), out.data(), static_cast<int64_t>(x.size()));
    };
    run(fast);
    set_force_scalar_kernels(true);
    run(ref);
    set_force_scalar_kernels(false);
    EXPECT_EQ(0, std::memcmp(fast.data(), ref.data(), ref.size() * sizeof(float))) << dtype_name(t);
  }
}

TEST(QuantK, SimdDequantisationWithinAnUlp) {
  std::mt19937 rng(12);
  std::vector<uint8_t> q(3 * sizeof(BlockQ4_K));
  for (auto& b : q) b = static_cast<uint8_t>(rng());
  for (int i = 0; i < 3; ++i) {
    reinterpret_cast<BlockQ4_K*>(q.data())[i].d = f32_to_f16(0.013f * (i + 1));
    reinterpret_cast<BlockQ4_K*>(q.data())[i].dmin = f32_to_f16(0.007f);
  }
  std::vector<float> fast(3 * 256), ref(fast.size());
  dequantize_row_q4_k(q.data(), fast.data(), 3 * 256);
  set_force_scalar_kernels(true);
  dequantize_row_q4_k(q.data(), ref.data(), 3 * 256);
  set_force_scalar_kernels(false);
  for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(fast[i], ref[i], 1e-6f * (1 + std::fabs(ref[i]))) << i;
}

TEST(Quant, ErrorBounds) {
  auto x = random_values(32 * 13, 5);
  std::vector<uint8_t> q8(13 * 34), q4(13 * 18);
  quantize_row_q8_0(x.data(), q8.data(), x.size());
  quantize_row_q4_0(x.data(), q4.data(), x.size());
  std::vector<float> y8(x.size()), y4(x.size());
  dequantize_row_q8_0(q8.data(), y8.data(), x.size());
  dequantize_row_q4_0(q4.data(), y4.data(), x.size());
  for (size_t b = 0; b < 13; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    for (int j = 0; j < 32; ++j) {
      EXPECT_LE(std::fabs(y8[b * 32 + j] - x[b * 32 + j]), amax / 127 * 0.51f + 1e-3f * amax);
      EXPECT_LE(std::fabs(y4[b * 32 + j] - x[b * 32 + j]), amax / 8 * 1.01f + 1e-3f * amax);
    }
  }
}

TEST(Quant, ZerosAndLayout) {
  std::vector<float> z(64, 0.0f), y(64, 1.0f);
  std::vector<uint8_t> q(2 * 34);
  quantize_row_q8_0(z.data(), q.data(), 64);
  dequantize_row_q8_0(q.data(), y.data(), 64);
  for (float v : y) EXPECT_EQ(v, 0.0f);
  // Q4_0 nibble order: element j low nibble, element j+16 high nibble of byte j.
  std::vector<float> x(32, 0.0f);
  x[0] = -8.0f;  // max magnitude -> d = 1, q = 0
  x[16] = 7.0f;  // q = 15
  BlockQ4_0 b;
  quantize_row_q4_0(x.data(), &b, 32);
  EXPECT_EQ(f16_to_f32(b.d), 1.0f);
  EXPECT_EQ(b.qs[0], 0xF0);
  EXPECT_EQ(b.qs[1], 0x88);
}

TEST(Quant, RejectsLengthsOffBlocks) {
  std::vector<float> x(33);
  std::vector<uint8_t> q(64);
  EXPECT_THROW(quantize_row_q8_0(x.data(), q.data(), 33), Error);
  EXPECT_THROW(quantize_row_q4_0(x.data(), q.data(), 31), Error);
  EXPECT_THROW(quantize_matrix(DType::Q8_0, x.data(), 1, 33), Error);
}

TEST(Quant, MatmulOnQuantisedWeightsMatchesDequantisedReference) {
  const int64_t N = 9, K = 96, T = 3;
  auto w = random_values(N * K, 3);
  auto x = random_values(T * K, 4);
  for (DType t : {DType::Q8_0, DType::Q4_0}) {
    auto q = quantize_matrix(t, w.data(), N, K);
    ASSERT_EQ(q.size(), dtype_bytes_for(t, N * K));
    MatrixRef m{t, q.data(), N, K};
    std::vector<float> y(T * N), yr(T * N), row(K);
    matmul(x.data(), T, m, y.data());
    // matmul quantises activations to int8 per 32-block (as ggml does): exact against a reference
    // that does the same, and within the activation rounding of the float reference.
    std::vector<float> yi(T * N);
    matmul_reference_int8(x.data(), T, m, yi.data());
    matmul_reference(x.data(), T, m, yr.data());
    for (int64_t i = 0; i < T * N; ++i) {
      EXPECT_NEAR(y[i], yi[i], 1e-5 * (1 + std::fabs(yi[i]))) << dtype_name(t);
      EXPECT_NEAR(y[i], yr[i], 0.2 + 0.01 * std::fabs(yr[i])) << dtype_name(t);
    }
    // Row widening equals the standalone dequantiser.
    dequantize_row(m, 4, row.data());
    std::vector<float> ref(K);
    if (t == DType::Q8_0) dequantize_row_q8_0(q.data() + 4 * (K / 32) * 34, ref.data(), K);
    else dequantize_row_q4_0(q.data() + 4 * (K / 32) * 18, ref.data(), K);
    EXPECT_EQ(row, ref);
  }
}

TEST(Quant, PlainTypesRoundTrip) {
  auto x = random_values(2 * 40, 9);
  auto f32 = quantize_matrix(DType::F32, x.data(), 2, 40);
  EXPECT_EQ(0, std::memcmp(f32.data(), x.data(), f32.size()));
  auto f16 = quantize_matrix(DType::F16, x.data(), 2, 40);
  auto bf16 = quantize_matrix(DType::BF16, x.data(), 2, 40);
  std::vector<float> y(80);
  dequantize_row(MatrixRef{DType::F16, f16.data(), 2, 40}, 1, y.data());
  for (int i = 0; i < 40; ++i) EXPECT_EQ(y[i], f16_to_f32(f32_to_f16(x[40 + i])));
  dequantize_row(MatrixRef{DType::BF16, bf16.data(), 2, 40}, 0, y.data());
  for (int i = 0; i < 40; ++i) EXPECT_EQ(y[i], bf16_to_f32(f32_to_bf16(x[i])));
}

}  // namespace
}  // namespace exaone

namespace exaone {
namespace {

// Element-wise decoding written from the layout description (not the loop structure).
float q4k_element(const BlockQ4_K& b, int i) {
  const int chunk = i / 64, within = i % 64, sub = i / 32;
  const uint8_t byte = b.qs[chunk * 32 + within % 32];
  const int q = within < 32 ? (byte & 0x0f) : (byte >> 4);
  int sc, m;
  if (sub < 4) {
    sc = b.scales[sub] & 63;
    m = b.scales[sub + 4] & 63;
  } else {
    sc = (b.scales[sub + 4] & 0x0f) | ((b.scales[sub - 4] >> 6) << 4);
    m = (b.scales[sub + 4] >> 4) | ((b.scales[sub] >> 6) << 4);
  }
  return f16_to_f32(b.d) * sc * q - f16_to_f32(b.dmin) * m;
}

float q6k_element(const BlockQ6_K& b, int i) {
  const int half = i / 128, r = i % 128, quarter = r / 32, l = r % 32;
  const uint8_t lo = b.ql[half * 64 + l + (quarter & 1) * 32];
  const int low4 = quarter < 2 ? (lo & 0x0f) : (lo >> 4);
  const int high2 = (b.qh[half * 32 + l] >> (2 * quarter)) & 3;
  const int q = (low4 | (high2 << 4)) - 32;
  return f16_to_f32(b.d) * b.scales[half * 8 + l / 16 + 2 * quarter] * q;
}

TEST(QuantK, DequantiseMatchesLayout) {
  std::mt19937 rng(17);
  for (int blocks : {1, 3}) {
    std::vector<BlockQ4_K> b4(blocks);
    std::vector<BlockQ6_K> b6(blocks);
    for (auto& b : b4) {
      auto* raw = reinterpret_cast<uint8_t*>(&b);
      for (size_t k = 0; k < sizeof(b); ++k) raw[k] = rng() & 0xff;
      b.d = f32_to_f16(0.01f * (1 + rng() % 7));
      b.dmin = f32_to_f16(0.003f * (1 + rng() % 5));
    }
    for (auto& b : b6) {
      auto* raw = reinterpret_cast<uint8_t*>(&b);
      for (size_t k = 0; k < sizeof(b); ++k) raw[k] = rng() & 0xff;
      b.d = f32_to_f16(0.002f * (1 + rng() % 7));
    }
    std::vector<float> y4(blocks * 256), y6(blocks * 256);
    dequantize_row_q4_k(b4.data(), y4.data(), blocks * 256);
    dequantize_row_q6_k(b6.data(), y6.data(), blocks * 256);
    for (int i = 0; i < blocks * 256; ++i) {
      ASSERT_FLOAT_EQ(y4[i], q4k_element(b4[i / 256], i % 256)) << i;
      ASSERT_FLOAT_EQ(y6[i], q6k_element(b6[i / 256], i % 256)) << i;
    }
    // Through the matmul row widening too.
    std::vector<float> row(256);
    dequantize_row(MatrixRef{DType::Q6_K, b6.data(), blocks, 256}, blocks - 1, row.data());
    for (int i = 0; i < 256; ++i) ASSERT_EQ(row[i], y6[(blocks - 1) * 256 + i]);
  }
  std::vector<float> y(300);
  EXPECT_THROW(dequantize_row_q4_k(nullptr, y.data(), 300), Error);
  EXPECT_THROW(matmul(y.data(), 1, MatrixRef{DType::Q4_K, nullptr, 1, 300}, y.data()), Error);
}

}  // namespace
}  // namespace exaone
