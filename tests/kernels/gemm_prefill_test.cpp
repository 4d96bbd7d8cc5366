// The prefill GEMM (kernels/gemm_prefill.h): against a double reference on odd shapes, its AVX-512,
// AVX2 and scalar paths bit-identical, a token's result independent of the call's token count and
// of the thread count, and matmul() reaching it for float and dequantised-panel weights.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "random_data.h"
#include "kernels/cpu_features.h"
#include "kernels/gemm_prefill.h"
#include "kernels/matmul.h"
#include "kernels/quant_k.h"
#include "util/parallel.h"

namespace exaone {
namespace {

using test::randn;

enum class Path { Dispatched, Avx2, Scalar };

struct PathGuard {  // restores the default path even when an assertion returns early
  explicit PathGuard(Path p) {
    set_force_avx2_kernels(p == Path::Avx2);
    set_force_scalar_kernels(p == Path::Scalar);
  }
  ~PathGuard() {
    set_force_avx2_kernels(false);
    set_force_scalar_kernels(false);
  }
};

std::vector<float> run(const std::vector<float>& x, int64_t T, const std::vector<float>& w, int64_t N, int64_t K,
                       Path path) {
  PathGuard g(path);
  const WidenRowsFn widen = [&](int64_t r0, int64_t r1, int64_t k0, int64_t len, float* dst, int64_t ld) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t k = 0; k < len; ++k) dst[(r - r0) * ld + k] = w[r * K + k0 + k];
  };
  std::vector<float> y(static_cast<size_t>(T * N), -7.0f);
  gemm_prefill(x.data(), T, N, K, widen, y.data());
  return y;
}

struct Shape {
  int64_t T, N, K;
};
// Tokens around the 12-token strips, rows around the 32-row blocks, depths around the 256 blocks
// and the 8-wide transposes.
const Shape kShapes[] = {{1, 1, 1},    {11, 31, 7},  {12, 32, 256}, {13, 33, 257}, {25, 70, 600},
                         {50, 300, 9}, {37, 65, 513}, {97, 96, 1030}};

TEST(GemmPrefill, MatchesReferenceOnEveryPath) {
  std::mt19937 rng(5);
  for (const Shape& s : kShapes) {
    const auto x = randn(s.T * s.K, rng), w = randn(s.N * s.K, rng, 0.2f);
    const auto y = run(x, s.T, w, s.N, s.K, Path::Dispatched);
    for (int64_t t = 0; t < s.T; ++t)
      for (int64_t n = 0; n < s.N; ++n) {
        double ref = 0, mag = 0;
        for (int64_t k = 0; k < s.K; ++k) {
          ref += double(x[t * s.K + k]) * w[n * s.K + k];
          mag += std::fabs(double(x[t * s.K + k]) * w[n * s.K + k]);
        }
        ASSERT_NEAR(y[t * s.N + n], ref, 1e-6 * mag + 1e-6) << "T=" << s.T << " N=" << s.N << " K=" << s.K;
      }
    // Every lane is the same fma chain on every path.
    EXPECT_EQ(y, run(x, s.T, w, s.N, s.K, Path::Scalar)) << "scalar, T=" << s.T << " N=" << s.N << " K=" << s.K;
    if (cpu_features().avx2 && cpu_features().fma) {
      EXPECT_EQ(y, run(x, s.T, w, s.N, s.K, Path::Avx2)) << "AVX2, T=" << s.T << " N=" << s.N << " K=" << s.K;
    }
  }
  if (!cpu_features().avx512f) GTEST_SKIP() << "CPU lacks AVX-512F: its kernel was not run (AVX2 and scalar were)";
}

TEST(GemmPrefill, TokenResultsDoNotDependOnTokenCountOrThreads) {
  std::mt19937 rng(6);
  const int64_t T = 41, N = 70, K = 700;
  const auto x = randn(T * K, rng), w = randn(N * K, rng, 0.2f);
  const auto all = run(x, T, w, N, K, Path::Dispatched);
  for (int64_t sub : {1, 5, 12, 29}) {  // the first `sub` tokens alone
    const std::vector<float> xs(x.begin(), x.begin() + sub * K);
    const auto part = run(xs, sub, w, N, K, Path::Dispatched);
    EXPECT_EQ(part, std::vector<float>(all.begin(), all.begin() + sub * N)) << "first " << sub << " tokens";
  }
  const int threads = num_threads();
  set_num_threads(1);
  const auto one = run(x, T, w, N, K, Path::Dispatched);
  set_num_threads(threads);
  EXPECT_EQ(one, all);
}

// matmul() takes the prefill GEMM from 48 tokens for float weights, and for quantised types whose
// prefill runs on dequantised panels (Q3_K, Q2_K).
TEST(GemmPrefill, MatmulReachesItForFloatAndPanelTypes) {
  std::mt19937 rng(8);
  const int64_t T = 53, N = 45, K = 768;
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q3_K, DType::Q2_K}) {
    const auto wf = randn(N * K, rng, 0.3f);
    const auto wq = quantize_matrix_any(t, wf.data(), N, K);
    const MatrixRef w{t, wq.data(), N, K};
    const auto x = randn(T * K, rng);
    std::vector<float> y(T * N), ref(T * N);
    matmul(x.data(), T, w, y.data());
    matmul_reference(x.data(), T, w, ref.data());
    double rms = 0;
    for (float v : ref) rms += double(v) * v;
    rms = std::sqrt(rms / ref.size());
    for (int64_t i = 0; i < T * N; ++i) ASSERT_NEAR(y[i], ref[i], 2e-5 * rms * std::sqrt(double(K))) << dtype_name(t) << " i=" << i;
  }
}

}  // namespace
}  // namespace exaone
