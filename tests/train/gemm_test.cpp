// The training GEMM (kernels/gemm_train.h): every operand layout against a double reference, edge
// tiles, accumulation, bit-identical results across thread counts and SIMD paths, and the bf16
// mode against bounds derived from bfloat16 rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/gemm_train.h"
#include "util/parallel.h"

namespace exaone {
namespace {

std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

struct Case {
  int64_t M, N, K;
  bool ta, tb;
};

// Stored matrices: A is [M,K] (or [K,M] when ta), B is [K,N] (or [N,K] when tb).
struct Operands {
  std::vector<float> a, b;
  GemmOperand ga, gb;
};

Operands make(const Case& c, uint32_t seed) {
  Operands o;
  o.a = randn(static_cast<size_t>(c.M * c.K), seed);
  o.b = randn(static_cast<size_t>(c.K * c.N), seed + 1);
  o.ga = {o.a.data(), c.ta ? c.M : c.K, c.ta};
  o.gb = {o.b.data(), c.tb ? c.K : c.N, c.tb};
  return o;
}

float elem(const GemmOperand& o, int64_t r, int64_t c) { return o.trans ? o.data[c * o.ld + r] : o.data[r * o.ld + c]; }

// ref[i,j] = Σ_p f(A)·f(B) in double, abs[i,j] = Σ_p |f(A)·f(B)|.
void reference(const Case& c, const Operands& o, bool bf16, std::vector<double>& ref, std::vector<double>& abs) {
  ref.assign(static_cast<size_t>(c.M * c.N), 0.0);
  abs.assign(ref.size(), 0.0);
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      double s = 0, sa = 0;
      for (int64_t p = 0; p < c.K; ++p) {
        float x = elem(o.ga, i, p), y = elem(o.gb, p, j);
        if (bf16) x = round_to_bf16(x), y = round_to_bf16(y);
        s += static_cast<double>(x) * y;
        sa += std::fabs(static_cast<double>(x) * y);
      }
      ref[i * c.N + j] = s;
      abs[i * c.N + j] = sa;
    }
}

const Case kCases[] = {
    {1, 1, 1, false, true},    {7, 5, 3, false, true},     {37, 45, 300, false, true}, {64, 256, 256, false, false},
    {100, 70, 513, true, false}, {9, 33, 17, true, true},  {130, 300, 260, false, false},
    {256, 96, 520, true, false},
};

TEST(TrainGemm, AllLayoutsMatchReference) {
  for (const Case& c : kCases) {
    Operands o = make(c, 7);
    std::vector<double> ref, abs;
    reference(c, o, false, ref, abs);
    std::vector<float> y(static_cast<size_t>(c.M * c.N), 123.0f);
    gemm_train(c.M, c.N, c.K, o.ga, o.gb, y.data(), c.N, false);
    for (size_t i = 0; i < y.size(); ++i)
      ASSERT_NEAR(y[i], ref[i], 1e-6 * c.K * (abs[i] + 1e-3)) << c.M << "x" << c.N << "x" << c.K << " at " << i;
    // accumulate: C += A·B on top of what is there
    std::vector<float> acc(y.size(), 0.5f);
    gemm_train(c.M, c.N, c.K, o.ga, o.gb, acc.data(), c.N, true);
    for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(acc[i], ref[i] + 0.5, 1e-6 * c.K * (abs[i] + 1e-3) + 1e-6);
  }
}

TEST(TrainGemm, StridedOutputLeavesTheRestAlone) {
  const Case c{20, 40, 30, false, true};
  Operands o = make(c, 3);
  const int64_t ldc = 50;
  std::vector<float> y(static_cast<size_t>(c.M * ldc), -7.0f);
  gemm_train(c.M, c.N, c.K, o.ga, o.gb, y.data(), ldc, false);
  std::vector<double> ref, abs;
  reference(c, o, false, ref, abs);
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      if (j < c.N) ASSERT_NEAR(y[i * ldc + j], ref[i * c.N + j], 1e-4);
      else ASSERT_EQ(y[i * ldc + j], -7.0f);
    }
}

std::vector<float> run(const Case& c, const Operands& o, GemmPrecision p = GemmPrecision::F32) {
  std::vector<float> y(static_cast<size_t>(c.M * c.N), 0.25f);
  gemm_train(c.M, c.N, c.K, o.ga, o.gb, y.data(), c.N, true, p);
  return y;
}

TEST(TrainGemm, BitIdenticalForAnyThreadCountAndSimdPath) {
  const int saved = num_threads();
  for (const Case& c : kCases) {
    Operands o = make(c, 11);
    set_num_threads(1);
    const std::vector<float> one = run(c, o);
    for (int t : {2, 3}) {
      set_num_threads(t);
      EXPECT_EQ(0, std::memcmp(one.data(), run(c, o).data(), one.size() * 4)) << "threads " << t;
    }
    set_force_avx2_kernels(true);
    EXPECT_EQ(0, std::memcmp(one.data(), run(c, o).data(), one.size() * 4)) << "avx2 path";
    set_force_avx2_kernels(false);
    set_force_scalar_kernels(true);
    EXPECT_EQ(0, std::memcmp(one.data(), run(c, o).data(), one.size() * 4)) << "scalar path";
    set_force_scalar_kernels(false);
  }
  set_num_threads(saved);
}

TEST(TrainGemm, Bf16WithinRoundingBounds) {
  if (!gemm_bf16_supported()) GTEST_SKIP() << "CPU without AVX512_BF16: the bf16 mode is refused here";
  for (const Case& c : kCases) {
    Operands o = make(c, 5);
    std::vector<double> ref, abs, ref_bf, abs_bf;
    reference(c, o, false, ref, abs);
    reference(c, o, true, ref_bf, abs_bf);
    std::vector<float> y(static_cast<size_t>(c.M * c.N));
    gemm_train(c.M, c.N, c.K, o.ga, o.gb, y.data(), c.N, false, GemmPrecision::BF16);
    for (size_t i = 0; i < y.size(); ++i) {
      // Against the product of the rounded inputs: only float accumulation error (K adds of 2^-24).
      ASSERT_NEAR(y[i], ref_bf[i], (c.K + 2) * std::ldexp(1.0, -24) * abs_bf[i] + 1e-30) << i;
      // Against float inputs: each input moves by at most 2^-8 relative (8 significant bits), a
      // product by 2^-7 + 2^-16.
      ASSERT_NEAR(y[i], ref[i], (std::ldexp(1.0, -7) * 1.01 + (c.K + 2) * std::ldexp(1.0, -24)) * abs[i] + 1e-30) << i;
    }
    // Same bits for any thread count.
    const int saved = num_threads();
    set_num_threads(1);
    const std::vector<float> one = run(c, o, GemmPrecision::BF16);
    set_num_threads(2);
    EXPECT_EQ(0, std::memcmp(one.data(), run(c, o, GemmPrecision::BF16).data(), one.size() * 4));
    set_num_threads(saved);
  }
}

TEST(TrainGemm, RoundToBf16IsNearestEven) {
  EXPECT_EQ(round_to_bf16(1.0f), 1.0f);
  EXPECT_EQ(round_to_bf16(1.0f + std::ldexp(1.0f, -8)), 1.0f);                       // tie -> even
  EXPECT_EQ(round_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 1.0f + std::ldexp(1.0f, -6));  // tie -> even (up)
  EXPECT_EQ(round_to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 1.0f + std::ldexp(1.0f, -7));
  EXPECT_TRUE(std::isnan(round_to_bf16(std::nanf(""))));
}

}  // namespace
}  // namespace exaone
