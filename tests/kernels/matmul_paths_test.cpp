// The fast matmul paths (int8-activation quantised dots, fused 16-bit dots, register-blocked GEMM,
// AVX-512 VNNI) against their scalar references, on odd shapes: N and T not multiples of the
// tiles, K not a multiple of the vector width (plain types) or several blocks (quantised types).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "random_data.h"
#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "kernels/quant_dot.h"
#include "util/error.h"
#include "util/half.h"

namespace exaone {
namespace {

using test::randn;

// Random but valid weights of any type. K-quant blocks get random bytes for quants and 6/8-bit
// scales (negative Q6_K scales included) and small positive F16 super-block scales, so the tests
// do not depend on any particular quantiser.
std::vector<uint8_t> random_weights(DType t, int64_t N, int64_t K, std::mt19937& rng) {
  if (t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::Q8_0 || t == DType::Q4_0) {
    auto f = randn(N * K, rng, 0.5f);
    return quantize_matrix(t, f.data(), N, K);
  }
  std::vector<uint8_t> out(dtype_bytes_for(t, N * K));
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : out) b = static_cast<uint8_t>(byte(rng));
  std::uniform_real_distribution<float> scale(0.001f, 0.02f);
  const int64_t blocks = N * K / kQKBlock;
  for (int64_t i = 0; i < blocks; ++i) {
    if (t == DType::Q4_K) {
      auto* b = reinterpret_cast<BlockQ4_K*>(out.data()) + i;
      b->d = f32_to_f16(scale(rng));
      b->dmin = f32_to_f16(scale(rng));
    } else {
      auto* b = reinterpret_cast<BlockQ6_K*>(out.data()) + i;
      b->d = f32_to_f16(scale(rng) * 0.1f);
    }
  }
  return out;
}

struct ScalarGuard {  // restores the previous path even when an assertion returns early
  explicit ScalarGuard(bool on) : before(force_scalar_kernels()) { set_force_scalar_kernels(on); }
  ~ScalarGuard() { set_force_scalar_kernels(before); }
  bool before;
};

std::vector<float> run_matmul(const std::vector<float>& x, int64_t T, const MatrixRef& w, bool scalar) {
  ScalarGuard g(scalar);
  std::vector<float> y(T * w.rows, -1.0f);
  matmul(x.data(), T, w, y.data());
  return y;
}

double rms(const std::vector<float>& v) {  // of a whole output: the scale for summation-order slack
  double s = 0;
  for (float f : v) s += double(f) * f;
  return std::sqrt(s / std::max<size_t>(1, v.size()));
}

// matmul_multi gives each matrix exactly what matmul gives it, whether the matrices share one
// quantised pass (same activation format) or not (mixed kinds fall back to one call each).
TEST(MatmulMulti, MatchesSeparateCalls) {
  std::mt19937 rng(17);
  const std::vector<std::vector<DType>> groups = {{DType::Q8_0, DType::Q8_0, DType::Q8_0},
                                                  {DType::Q4_K, DType::Q6_K},
                                                  {DType::Q4_0, DType::Q8_0},
                                                  {DType::F16, DType::Q8_0, DType::BF16},
                                                  {DType::F32}};
  const int64_t K = 512;
  for (const auto& types : groups)
    for (int64_t T : {1, 3, 5, 20}) {
      std::vector<std::vector<uint8_t>> store;
      std::vector<MatrixRef> ws;
      for (size_t i = 0; i < types.size(); ++i) {
        const int64_t N = 7 + 19 * static_cast<int64_t>(i);
        store.push_back(random_weights(types[i], N, K, rng));
        ws.push_back(MatrixRef{types[i], store.back().data(), N, K});
      }
      auto x = randn(T * K, rng);
      std::vector<std::vector<float>> multi(ws.size());
      std::vector<float*> ys;
      for (size_t i = 0; i < ws.size(); ++i) {
        multi[i].assign(T * ws[i].rows, -1.0f);
        ys.push_back(multi[i].data());
      }
      matmul_multi(x.data(), T, ws, ys);
      for (size_t i = 0; i < ws.size(); ++i) {
        const auto single = run_matmul(x, T, ws[i], force_scalar_kernels());
        for (size_t j = 0; j < single.size(); ++j)
          ASSERT_EQ(single[j], multi[i][j]) << dtype_name(types[i]) << " T=" << T << " matrix " << i << " at " << j;
      }
    }
  std::vector<float> x(64), y(64);
  const MatrixRef a{DType::F32, x.data(), 1, 64}, b{DType::F32, x.data(), 1, 32};
  const MatrixRef both[2] = {a, b};
  float* outs[2] = {y.data(), y.data()};
  EXPECT_THROW(matmul_multi(x.data(), 1, both, outs), Error);  // different input lengths
  EXPECT_THROW(matmul_multi(x.data(), 1, std::span<const MatrixRef>(both, 2), std::span<float* const>(outs, 1)), Error);
}

class QuantizedPaths : public ::testing::TestWithParam<DType> {};

struct Int8PrefillGuard {  // keeps every T on the int8 kernels for the duration of a test
  Int8PrefillGuard() { set_quantized_prefill_min_tokens(int64_t{1} << 40); }
  ~Int8PrefillGuard() { set_quantized_prefill_min_tokens(16); }
};

TEST_P(QuantizedPaths, MatchInt8ReferenceAndFloatReference) {
  const DType type = GetParam();
  Int8PrefillGuard int8_only;
  const int64_t bs = dtype_block_elems(type);
  std::mt19937 rng(7);
  const int64_t shapes[][3] = {{1, 1, 1}, {1, 37, 3}, {2, 17, 2}, {3, 5, 4}, {4, 16, 1}, {5, 33, 3}, {7, 9, 8}, {13, 21, 2}};
  for (const auto& sh : shapes) {
    const int64_t T = sh[0], N = sh[1], K = sh[2] * bs;
    auto wq = random_weights(type, N, K, rng);
    const MatrixRef w{type, wq.data(), N, K};
    auto x = randn(T * K, rng);
    x[0] = 0;  // a zero and a large outlier exercise the block scale
    if (K > 40) x[40] = 9.0f;
    const auto y = run_matmul(x, T, w, false), ys = run_matmul(x, T, w, true);
    std::vector<float> yi(T * N), yf(T * N);
    matmul_reference_int8(x.data(), T, w, yi.data());
    matmul_reference(x.data(), T, w, yf.data());
    const double scale = rms(yf) + 1e-6;
    // Activation rounding moves each x by at most half its block's step amax/127, so
    // |y - y_float| <= Σ_k |w_k| step_k / 2: a hard bound, whatever the data.
    std::vector<float> bound(T * N), wrow(K);
    for (int64_t n = 0; n < N; ++n) {
      dequantize_row(w, n, wrow.data());
      for (int64_t t = 0; t < T; ++t) {
        double b = 0;
        for (int64_t k0 = 0; k0 < K; k0 += activation_block_elems(type)) {
          float amax = 0;
          for (int64_t k = k0; k < k0 + activation_block_elems(type); ++k) amax = std::max(amax, std::fabs(x[t * K + k]));
          for (int64_t k = k0; k < k0 + activation_block_elems(type); ++k) b += std::fabs(wrow[k]) * amax / 127.0 * 0.5;
        }
        bound[t * N + n] = static_cast<float>(b * 1.001 + 1e-5 * scale);
      }
    }
    for (int64_t i = 0; i < T * N; ++i) {
      // Same integer block sums; only the float summation order across blocks differs.
      ASSERT_NEAR(y[i], yi[i], 2e-6 * scale * std::sqrt(double(K)) + 1e-6 * std::fabs(yi[i]))
          << dtype_name(type) << " T=" << T << " N=" << N << " K=" << K << " i=" << i;
      ASSERT_NEAR(ys[i], yi[i], 1e-6 * scale * std::sqrt(double(K)) + 1e-6 * std::fabs(yi[i]))
          << "scalar path, " << dtype_name(type) << " i=" << i;
      ASSERT_NEAR(y[i], yf[i], bound[i]) << "vs float, " << dtype_name(type) << " T=" << T << " K=" << K << " i=" << i;
    }
  }
}

TEST_P(QuantizedPaths, PrefillOnDequantisedPanelsMatchesFloatReference) {
  const DType type = GetParam();
  const int64_t bs = dtype_block_elems(type);
  if (force_scalar_kernels() || !cpu_features().avx2 || use_avx512vnni())
    GTEST_SKIP() << "the dequantised-panel prefill is the AVX2-without-VNNI path";
  std::mt19937 rng(13);
  set_quantized_prefill_min_tokens(2);  // reach the panel path with small T too
  const int64_t shapes[][3] = {{2, 7, 1}, {16, 17, 3}, {29, 33, 2}, {5, 4, 9}};
  for (const auto& sh : shapes) {
    const int64_t T = sh[0], N = sh[1], K = sh[2] * bs;
    auto wq = random_weights(type, N, K, rng);
    const MatrixRef w{type, wq.data(), N, K};
    auto x = randn(T * K, rng);
    std::vector<float> y(T * N), yf(T * N);
    matmul(x.data(), T, w, y.data());
    matmul_reference(x.data(), T, w, yf.data());
    const double scale = rms(yf) + 1e-6;
    for (int64_t i = 0; i < T * N; ++i)
      ASSERT_NEAR(y[i], yf[i], 1e-5 * scale * std::sqrt(double(K)) + 1e-5 * std::fabs(yf[i]))
          << dtype_name(type) << " T=" << T << " N=" << N << " K=" << K << " i=" << i;
  }
  set_quantized_prefill_min_tokens(16);
}

INSTANTIATE_TEST_SUITE_P(Types, QuantizedPaths, ::testing::Values(DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K),
                         [](const auto& i) { return std::string(dtype_name(i.param)); });

class FloatPaths : public ::testing::TestWithParam<DType> {};

TEST_P(FloatPaths, DispatchedMatchesScalarAndReference) {
  const DType type = GetParam();
  std::mt19937 rng(11);
  // T >= 4 takes the GEMM path, T >= 48 the prefill GEMM; K > 512 spans several panels; K % 8 != 0
  // exercises the tails.
  const int64_t shapes[][3] = {{1, 3, 5},     {2, 19, 40},   {3, 7, 9},      {4, 4, 8},   {5, 17, 33},
                               {6, 13, 1030}, {7, 33, 512},  {11, 18, 100},  {16, 20, 1024}, {29, 5, 77},
                               {48, 33, 300}, {61, 70, 1030}};
  for (const auto& sh : shapes) {
    const int64_t T = sh[0], N = sh[1], K = sh[2];
    auto wq = random_weights(type, N, K, rng);
    const MatrixRef w{type, wq.data(), N, K};
    auto x = randn(T * K, rng);
    const auto y = run_matmul(x, T, w, false), ys = run_matmul(x, T, w, true);
    std::vector<float> yf(T * N), yb(T * N);
    matmul_reference(x.data(), T, w, yf.data());
    matmul_widen_baseline(x.data(), T, w, yb.data());
    for (int64_t i = 0; i < T * N; ++i) {
      const double tol = 2e-6 * std::sqrt(double(K)) * (1 + std::fabs(yf[i])) * 4;
      ASSERT_NEAR(y[i], yf[i], tol) << dtype_name(type) << " T=" << T << " N=" << N << " K=" << K << " i=" << i;
      ASSERT_NEAR(ys[i], yf[i], tol) << "scalar path " << dtype_name(type) << " i=" << i;
      ASSERT_NEAR(yb[i], yf[i], tol) << "baseline " << dtype_name(type) << " i=" << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, FloatPaths, ::testing::Values(DType::F32, DType::F16, DType::BF16),
                         [](const auto& i) { return std::string(dtype_name(i.param)); });

TEST(HalfDot, FusedKernelsMatchScalarForEveryTokenCount) {
  if (!cpu_features().avx2 || !cpu_features().f16c) GTEST_SKIP() << "no AVX2/F16C";
  std::mt19937 rng(3);
  for (DType t : {DType::F16, DType::BF16})
    for (int64_t K : {1, 7, 8, 15, 16, 17, 100, 2048})
      for (int nt = 1; nt <= 4; ++nt) {
        auto wq = random_weights(t, 1, K, rng);
        auto x = randn(nt * K, rng);
        float a[4], b[4];
        half_dot_avx2(t)(reinterpret_cast<const uint16_t*>(wq.data()), x.data(), nt, K, a);
        half_dot_scalar(t)(reinterpret_cast<const uint16_t*>(wq.data()), x.data(), nt, K, b);
        for (int i = 0; i < nt; ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * std::sqrt(double(K)) * (1 + std::fabs(b[i])));
      }
}

// The integer kernels of every available ISA give the same block sums as the scalar reference.
void check_quant_kernel(QuantDotFn fn, DType t) {
  std::mt19937 rng(5);
  const int64_t bs = activation_block_elems(t);
  for (int64_t blocks : {1, 2, 5})
    for (int nt = 1; nt <= 4; ++nt) {
      const int64_t K = blocks * bs;
      auto wq = random_weights(t, 1, K, rng);
      auto x = randn(nt * K, rng);
      const size_t stride = activation_row_bytes(t, K);
      std::vector<uint8_t> act(stride * nt);
      for (int i = 0; i < nt; ++i) quantize_activation_row(t, x.data() + i * K, K, act.data() + i * stride);
      float a[4], b[4];
      fn(wq.data(), act.data(), stride, nt, K, a);
      quant_dot_scalar(t)(wq.data(), act.data(), stride, nt, K, b);
      for (int i = 0; i < nt; ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * (1 + std::fabs(b[i]))) << dtype_name(t) << " K=" << K;
    }
}

TEST(QuantDot, Avx2KernelsMatchScalar) {
  if (!cpu_features().avx2 || !cpu_features().fma) GTEST_SKIP() << "no AVX2";
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) check_quant_kernel(quant_dot_avx2(t), t);
}

TEST(QuantDot, Avx512VnniKernelsMatchScalar) {
  if (!cpu_features().avx512vnni || !cpu_features().avx512bw) GTEST_SKIP() << "CPU lacks AVX-512 VNNI";
  for (DType t : {DType::Q8_0, DType::Q4_0}) check_quant_kernel(quant_dot_avx512vnni(t), t);
}

// The SIMD activation quantiser must give the scalar one's bytes exactly (rounding ties to even
// included): the int8 reference of every matmul test quantises with whichever is active.
TEST(QuantDot, SimdActivationQuantisationIsBitExact) {
  std::mt19937 rng(21);
  for (DType t : {DType::Q8_0, DType::Q4_K}) {
    const int64_t K = 1024;
    auto x = randn(K, rng, 2.0f);
    std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // an all-zero block
    x[64] = 127.0f;  // block 2 has scale 1, so these land exactly on .5: ties round to even
    for (int j = 1; j < 16; ++j) x[64 + j] = (j % 2 ? -1.0f : 1.0f) * (static_cast<float>(j) + 0.5f);
    std::vector<uint8_t> fast(activation_row_bytes(t, K)), ref(fast.size());
    quantize_activation_row(t, x.data(), K, fast.data());
    {
      ScalarGuard scalar(true);
      quantize_activation_row(t, x.data(), K, ref.data());
    }
    EXPECT_EQ(0, std::memcmp(fast.data(), ref.data(), ref.size())) << dtype_name(t);
  }
}

TEST(QuantDot, ActivationQuantisationKeepsSumsAndBounds) {
  std::mt19937 rng(9);
  for (DType t : {DType::Q8_0, DType::Q4_K}) {
    const int64_t K = 512;
    auto x = randn(K, rng, 3.0f);
    std::fill(x.begin(), x.begin() + 32, 0.0f);  // an all-zero block gets d = 0
    std::vector<uint8_t> act(activation_row_bytes(t, K));
    quantize_activation_row(t, x.data(), K, act.data());
    if (t == DType::Q8_0) {
      const auto* b = reinterpret_cast<const BlockQ8A*>(act.data());
      EXPECT_EQ(b[0].d, 0.0f);
      for (int64_t i = 0; i < K / 32; ++i) {
        int s = 0;
        for (int j = 0; j < 32; ++j) {
          s += b[i].qs[j];
          EXPECT_NEAR(b[i].qs[j] * b[i].d, x[32 * i + j], b[i].d * 0.5001f);
        }
        EXPECT_EQ(s, b[i].sum);
      }
    } else {
      const auto* b = reinterpret_cast<const BlockQ8K*>(act.data());
      for (int64_t i = 0; i < K / 256; ++i)
        for (int g = 0; g < 16; ++g) {
          int s = 0;
          for (int j = 0; j < 16; ++j) {
            s += b[i].qs[16 * g + j];
            EXPECT_NEAR(b[i].qs[16 * g + j] * b[i].d, x[256 * i + 16 * g + j], b[i].d * 0.5001f);
          }
          EXPECT_EQ(s, b[i].bsums[g]);
        }
    }
  }
  std::vector<float> x(40);
  std::vector<uint8_t> out(1024);
  EXPECT_THROW(quantize_activation_row(DType::Q8_0, x.data(), 40, out.data()), Error);
  EXPECT_THROW(activation_block_elems(DType::F16), Error);
}

TEST(Matmul, RejectsQuantisedRowsThatAreNotWholeBlocks) {
  std::vector<uint8_t> w(4096);
  std::vector<float> x(300), y(4);
  EXPECT_THROW(matmul(x.data(), 1, MatrixRef{DType::Q4_K, w.data(), 1, 300}, y.data()), Error);
  EXPECT_THROW(matmul(x.data(), 1, MatrixRef{DType::Q8_0, w.data(), 1, 40}, y.data()), Error);
}

TEST(Matmul, ScalarEnvironmentSwitchIsHonoured) {
  // EXAONE_KERNELS=scalar is read once; the run-time override wins over it either way.
  {
    ScalarGuard g(true);
    EXPECT_TRUE(force_scalar_kernels());
  }
  {
    ScalarGuard g(false);
    EXPECT_FALSE(force_scalar_kernels());
  }
}

}  // namespace
}  // namespace exaone
