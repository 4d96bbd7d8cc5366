// Every kernel against its plain reference, on random shapes including odd sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "random_data.h"
#include "kernels/attention.h"
#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "util/half.h"

namespace exaone {
namespace {

using test::randn;

struct Stored {
  std::vector<float> f32;
  std::vector<uint16_t> half;
  MatrixRef ref;
};

Stored make_weights(DType t, int64_t N, int64_t K, std::mt19937& rng) {
  Stored s;
  s.f32 = randn(N * K, rng, 0.5f);
  if (t == DType::F32) {
    s.ref = {t, s.f32.data(), N, K};
  } else {
    s.half.resize(N * K);
    for (int64_t i = 0; i < N * K; ++i) s.half[i] = t == DType::BF16 ? f32_to_bf16(s.f32[i]) : f32_to_f16(s.f32[i]);
    s.ref = {t, s.half.data(), N, K};
  }
  return s;
}

class MatmulTest : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulTest, MatchesReferenceOnOddShapes) {
  std::mt19937 rng(42);
  const int64_t shapes[][3] = {{1, 1, 1}, {1, 7, 13}, {3, 33, 65}, {5, 17, 128}, {1, 100, 257}, {9, 64, 31}, {2, 5, 1000}};
  for (const auto& sh : shapes) {
    const int64_t T = sh[0], N = sh[1], K = sh[2];
    Stored w = make_weights(GetParam(), N, K, rng);
    auto x = randn(T * K, rng);
    std::vector<float> y(T * N), ref(T * N);
    matmul(x.data(), T, w.ref, y.data());
    matmul_reference(x.data(), T, w.ref, ref.data());
    for (int64_t i = 0; i < T * N; ++i)
      ASSERT_NEAR(y[i], ref[i], 1e-4 * (1 + std::fabs(ref[i])) * std::sqrt(double(K)))
          << "T=" << T << " N=" << N << " K=" << K << " i=" << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Types, MatmulTest, ::testing::Values(DType::F32, DType::F16, DType::BF16),
                         [](const auto& i) { return std::string(dtype_name(i.param)); });

TEST(HalfConversions, RoundTripAndRounding) {
  for (float f : {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 6.1e-5f, 5.96e-8f, 3.14159f, 1e-10f}) {
    EXPECT_NEAR(f16_to_f32(f32_to_f16(f)), f, std::fabs(f) * 1e-3 + 6e-8) << f;
    EXPECT_NEAR(bf16_to_f32(f32_to_bf16(f)), f, std::fabs(f) * 8e-3) << f;
  }
  EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(1e6f))));
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
  // Every f16 bit pattern widens and narrows back to itself (NaNs excepted).
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16(f), h) << h;
  }
}

TEST(RmsNorm, MatchesFormula) {
  std::mt19937 rng(1);
  for (int64_t dim : {1, 7, 64, 129}) {
    auto x = randn(3 * dim, rng), w = randn(dim, rng);
    std::vector<float> out(3 * dim);
    rmsnorm(x.data(), w.data(), 1e-5f, 3, dim, out.data());
    for (int r = 0; r < 3; ++r) {
      double ss = 0;
      for (int64_t i = 0; i < dim; ++i) ss += double(x[r * dim + i]) * x[r * dim + i];
      double inv = 1.0 / std::sqrt(ss / dim + 1e-5);
      for (int64_t i = 0; i < dim; ++i) ASSERT_NEAR(out[r * dim + i], x[r * dim + i] * inv * w[i], 1e-5);
    }
  }
}

TEST(Rope, NeoxRotateHalfMatchesFormulaAndPreservesNorm) {
  std::mt19937 rng(2);
  const int64_t T = 5, H = 3, hd = 10;
  auto x = randn(T * H * hd, rng), orig = x;
  std::vector<float> inv(hd / 2);
  for (int64_t j = 0; j < hd / 2; ++j) inv[j] = std::pow(10000.0f, -2.0f * j / hd);
  std::vector<int32_t> pos{0, 1, 7, 100, 4095};
  rope_neox(x.data(), T, H, hd, pos.data(), inv.data());
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t j = 0; j < hd / 2; ++j) {
        const float* o = orig.data() + (t * H + h) * hd;
        double a = double(pos[t]) * inv[j];
        ASSERT_NEAR(x[(t * H + h) * hd + j], o[j] * std::cos(a) - o[j + hd / 2] * std::sin(a), 1e-4);
        ASSERT_NEAR(x[(t * H + h) * hd + j + hd / 2], o[j + hd / 2] * std::cos(a) + o[j] * std::sin(a), 1e-4);
      }
}

TEST(SiluMul, MatchesFormula) {
  std::mt19937 rng(3);
  auto g = randn(37, rng, 3.0f), u = randn(37, rng), g0 = g;
  silu_mul(g.data(), u.data(), 37);
  for (int i = 0; i < 37; ++i) ASSERT_NEAR(g[i], g0[i] / (1 + std::exp(-double(g0[i]))) * u[i], 1e-5);
  // Far tails, where e^-g under- or overflows a float: silu(g) -> g and -> 0.
  std::vector<float> big = {-1000, -100, -90, -88, 88, 90, 100, 1000, -1000, 1000, 50, -50, 0, -0.0f, 1e-30f, -1e-30f};
  std::vector<float> ones(big.size(), 1.0f), want = big;
  silu_mul(big.data(), ones.data(), static_cast<int64_t>(big.size()));
  for (size_t i = 0; i < big.size(); ++i) {
    const double x = want[i], ref = x / (1 + std::exp(-x));
    ASSERT_TRUE(std::isfinite(big[i])) << want[i];
    ASSERT_NEAR(big[i], ref, 1e-6 * (1 + std::fabs(ref))) << want[i];
  }
}

// Plain rows ([slots][n_kv * head_bytes]) re-laid out as PastKV's tiled layout (whole tiles).
std::vector<uint8_t> to_tiled(const void* plain, int64_t slots, int64_t n_kv, size_t head_bytes) {
  const size_t row = n_kv * head_bytes;
  std::vector<uint8_t> out((slots + kKVTileRows - 1) / kKVTileRows * kKVTileRows * row + 1);
  for (int64_t p = 0; p < slots; ++p)
    for (int64_t h = 0; h < n_kv; ++h)
      std::memcpy(out.data() + kv_offset(true, p, h, head_bytes, row),
                  static_cast<const uint8_t*>(plain) + p * row + h * head_bytes, head_bytes);
  return out;
}

// Attention over (past in linear or ring storage) + current chunk, against the reference,
// for full and windowed masks and GQA groupings.
TEST(Attention, MatchesReferenceWithPastRingAndWindow) {
  std::mt19937 rng(4);
  struct Case {
    int64_t heads, kv, hd, window, n_past, T, ring;
  };
  const Case cases[] = {{4, 2, 8, 0, 0, 6, 0},  {4, 4, 16, 0, 5, 3, 0}, {6, 2, 12, 4, 0, 9, 0},
                        {6, 3, 10, 4, 11, 5, 4}, {2, 1, 6, 3, 7, 1, 3}, {8, 2, 32, 0, 30, 1, 0},
                        {4, 1, 8, 5, 2, 12, 5},
                        // more keys than one softmax tile (64): full, windowed and ring, SIMD widths
                        {8, 2, 64, 0, 150, 70, 0}, {4, 2, 12, 0, 100, 40, 0}, {6, 3, 64, 90, 200, 33, 90},
                        {8, 8, 16, 0, 129, 1, 0},
                        // head_dim 128 and 32, GQA groups of 5 and 8 (more heads than one 4-head step)
                        {10, 2, 128, 0, 100, 3, 0}, {16, 2, 32, 70, 150, 5, 0}, {5, 1, 64, 0, 64, 4, 0}};
  for (bool avx2 : {false, true})  // the AVX-512 tiles where the CPU has them, and the AVX2 path
  for (const auto& c : cases) {
    set_force_avx2_kernels(avx2);
    AttentionShape s{c.heads, c.kv, c.hd, c.window, 1.0f / std::sqrt(float(c.hd))};
    const int64_t kvd = c.kv * c.hd, slots = c.ring ? c.ring : c.n_past;
    auto pk = randn(std::max<int64_t>(slots, 1) * kvd, rng), pv = randn(std::max<int64_t>(slots, 1) * kvd, rng);
    auto q = randn(c.T * c.heads * c.hd, rng), k = randn(c.T * kvd, rng), v = randn(c.T * kvd, rng);
    PastKV past{pk.data(), pv.data(), c.n_past, c.ring};
    std::vector<float> out(c.T * c.heads * c.hd), ref(out.size());
    attention(q.data(), k.data(), v.data(), c.T, past, s, out.data());
    attention_reference(q.data(), k.data(), v.data(), c.T, past, s, ref.data());
    for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref[i], 1e-5) << "case window=" << c.window << " i=" << i;
    // The tiled layout KVCache stores: the same rows, so the same output bit for bit.
    const size_t head_bytes = c.hd * sizeof(float);
    auto tk = to_tiled(pk.data(), slots, c.kv, head_bytes), tv = to_tiled(pv.data(), slots, c.kv, head_bytes);
    std::vector<float> tiled_out(out.size()), tiled_ref(out.size());
    const PastKV tiled{tk.data(), tv.data(), c.n_past, c.ring, DType::F32, true};
    attention(q.data(), k.data(), v.data(), c.T, tiled, s, tiled_out.data());
    attention_reference(q.data(), k.data(), v.data(), c.T, tiled, s, tiled_ref.data());
    EXPECT_EQ(tiled_out, out) << "tiled layout, n_past=" << c.n_past;
    EXPECT_EQ(tiled_ref, ref) << "tiled layout, n_past=" << c.n_past;
    set_force_avx2_kernels(false);
  }
}

}  // namespace
}  // namespace exaone

#include "kernels/quant.h"

namespace exaone {
namespace {

// Attention over a past stored as F16 / BF16 / Q8_0 rows (the KV cache types): the kernel
// matches the reference reading the same rows, and both stay close to the float32 past.
TEST(Attention, NarrowCacheTypesMatchReference) {
  std::mt19937 rng(9);
  struct Case {
    int64_t n_past, T, ring, window;
  };
  // One key tile; several tiles (widened a tile at a time); a sliding-window ring.
  for (const Case c : {Case{37, 3, 0, 0}, Case{150, 5, 0, 0}, Case{200, 6, 90, 90}}) {
    const int64_t heads = 4, kv = 2, hd = 64, kvd = kv * hd, slots = c.ring ? c.ring : c.n_past;
    AttentionShape s{heads, kv, hd, c.window, 1.0f / 8.0f};
    auto pk = randn(slots * kvd, rng), pv = randn(slots * kvd, rng);
    auto q = randn(c.T * heads * hd, rng), k = randn(c.T * kvd, rng), v = randn(c.T * kvd, rng);
    std::vector<float> exact(c.T * heads * hd);
    attention_reference(q.data(), k.data(), v.data(), c.T, PastKV{pk.data(), pv.data(), c.n_past, c.ring}, s,
                        exact.data());
    for (DType t : {DType::F16, DType::BF16, DType::Q8_0}) {
      const size_t row = dtype_bytes_for(t, kvd);
      std::vector<uint8_t> ck(slots * row), cv(slots * row);
      for (int64_t p = 0; p < slots; ++p) {
        for (auto [src, dst] : {std::pair{pk.data(), ck.data()}, std::pair{pv.data(), cv.data()}}) {
          const float* x = src + p * kvd;
          uint8_t* d = dst + p * row;
          if (t == DType::Q8_0) quantize_row_q8_0(x, d, kvd);
          for (int64_t i = 0; t != DType::Q8_0 && i < kvd; ++i)
            reinterpret_cast<uint16_t*>(d)[i] = t == DType::F16 ? f32_to_f16(x[i]) : f32_to_bf16(x[i]);
        }
      }
      PastKV past{ck.data(), cv.data(), c.n_past, c.ring, t};
      std::vector<float> ref(exact.size());
      attention_reference(q.data(), k.data(), v.data(), c.T, past, s, ref.data());
      const size_t head_bytes = dtype_bytes_for(t, hd);
      auto tk = to_tiled(ck.data(), slots, kv, head_bytes), tv = to_tiled(cv.data(), slots, kv, head_bytes);
      const PastKV tiled{tk.data(), tv.data(), c.n_past, c.ring, t, true};
      // The AVX-512 tiles (where the CPU has them), the AVX2 tile widening and the per-row fallback.
      for (int mode = 0; mode < 3; ++mode) {
        const bool scalar = mode == 2;
        set_force_scalar_kernels(scalar);
        set_force_avx2_kernels(mode == 1);
        std::vector<float> out(exact.size()), tiled_out(exact.size());
        attention(q.data(), k.data(), v.data(), c.T, past, s, out.data());
        attention(q.data(), k.data(), v.data(), c.T, tiled, s, tiled_out.data());
        set_force_scalar_kernels(false);
        set_force_avx2_kernels(false);
        EXPECT_EQ(tiled_out, out) << dtype_name(t) << " tiled layout, n_past=" << c.n_past;
        const double loose = t == DType::F16 ? 2e-3 : 3e-2;
        for (size_t i = 0; i < out.size(); ++i) {
          ASSERT_NEAR(out[i], ref[i], 1e-5) << dtype_name(t) << " n_past=" << c.n_past << " scalar=" << scalar;
          ASSERT_NEAR(out[i], exact[i], loose) << dtype_name(t) << " n_past=" << c.n_past << " i=" << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace exaone
