// The community GGUF types (kernels/quant_ext.h): integer dot kernels against the dequantised
// weights, SIMD kernels against the scalar reference on odd shapes, matmul on every path, and the
// encoders' round trip.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "kernels/quant_dot.h"
#include "kernels/quant_ext.h"
#include "kernels/quant_k.h"
#include "random_data.h"
#include "util/half.h"

namespace exaone {
namespace {

using test::randn;

// Byte offsets of each type's F16 scales inside a block (the rest of the bytes are quants and
// sub-block scales, where every value is legal).
std::vector<int> half_fields(DType t) {
  switch (t) {
    case DType::Q4_1:
    case DType::Q5_1:
    case DType::Q5_K: return {0, 2};
    case DType::Q2_K: return {80, 82};
    case DType::Q3_K: return {108};
    default: return {0};  // Q5_0, IQ4_NL, IQ4_XS
  }
}

// Rows of random blocks: every quant and sub-block scale bit random, F16 scales small and finite.
std::vector<uint8_t> random_blocks(DType t, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::vector<uint8_t> out(dtype_bytes_for(t, rows * cols));
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  const size_t bb = static_cast<size_t>(dtype_block_bytes(t));
  std::uniform_real_distribution<float> u(-0.02f, 0.02f);
  for (size_t off = 0; off < out.size(); off += bb)
    for (int f : half_fields(t)) {
      const uint16_t h = f32_to_f16(u(rng));
      std::memcpy(out.data() + off + f, &h, 2);
    }
  return out;
}

const DType kTypes[] = {DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::IQ4_NL,
                        DType::Q2_K, DType::Q3_K, DType::Q5_K, DType::IQ4_XS};

class QuantExt : public ::testing::TestWithParam<DType> {};

// Activations quantised for the type; x_deq receives their values (d * q).
std::vector<uint8_t> activations(DType t, int64_t K, int nt, std::mt19937& rng, std::vector<float>* x_deq,
                                 bool extreme = false) {
  std::vector<float> x = randn(nt * K, rng, 2.0f);
  if (extreme)  // every quant +-127
    for (auto& v : x) v = rng() % 2 ? 1.0f : -1.0f;
  const size_t stride = activation_row_bytes(t, K);
  std::vector<uint8_t> act(stride * nt);
  for (int r = 0; r < nt; ++r) quantize_activation_row(t, x.data() + r * K, K, act.data() + r * stride);
  if (x_deq) {
    x_deq->resize(nt * K);
    const int64_t be = activation_block_elems(t);
    for (int r = 0; r < nt; ++r)
      for (int64_t b = 0; b < K / be; ++b) {
        const uint8_t* p = act.data() + r * stride;
        float d;
        const int8_t* q;
        if (be == 32) {
          const auto* blk = reinterpret_cast<const BlockQ8A*>(p) + b;
          d = blk->d;
          q = blk->qs;
        } else {
          const auto* blk = reinterpret_cast<const BlockQ8K*>(p) + b;
          d = blk->d;
          q = blk->qs;
        }
        for (int64_t j = 0; j < be; ++j) (*x_deq)[r * K + b * be + j] = d * q[j];
      }
  }
  return act;
}

// The integer formulation (offsets through the activation sums, mins through bsums, signed
// grids) equals the dot of the dequantised rows with the dequantised activations.
TEST_P(QuantExt, ScalarDotIsTheDequantisedProduct) {
  const DType t = GetParam();
  std::mt19937 rng(1);
  const int64_t be = dtype_block_elems(t);
  for (int64_t K : {be, 3 * be, 8 * be}) {
    const auto w = random_blocks(t, 4, K, rng);
    std::vector<float> xd;
    const auto act = activations(t, K, 4, rng, &xd);
    const size_t stride = activation_row_bytes(t, K);
    std::vector<float> wd(K);
    for (int r = 0; r < 4; ++r) {
      const uint8_t* row = w.data() + r * dtype_bytes_for(t, K);
      dequantize_row_any(t, row, wd.data(), K);
      float out[4];
      quant_dot_scalar(t)(row, act.data(), stride, 4, K, out);
      for (int tk = 0; tk < 4; ++tk) {
        double ref = 0, mag = 0;
        for (int64_t k = 0; k < K; ++k) {
          ref += double(wd[k]) * xd[tk * K + k];
          mag += std::fabs(double(wd[k]) * xd[tk * K + k]);
        }
        EXPECT_NEAR(out[tk], ref, 1e-5 * (1 + mag)) << dtype_name(t) << " K=" << K << " r=" << r << " t=" << tk;
      }
    }
  }
}

bool cpu_avx2() { return cpu_features().avx2 && cpu_features().fma && cpu_features().f16c; }
bool cpu_vnni() {
  const CpuFeatures& f = cpu_features();
  return cpu_avx2() && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni;
}

// AVX2 and VNNI kernels (Q5_K, IQ4_XS) against the scalar reference: odd block counts, every nt,
// random and extreme data.
void check_simd(DType t, QuantDotFn fn) {
  std::mt19937 rng(7);
  const int64_t be = dtype_block_elems(t);
  for (int64_t nb : {1, 2, 3, 7, 9}) {
    const int64_t K = nb * be;
    const auto w = random_blocks(t, 5, K, rng);
    for (int nt = 1; nt <= 4; ++nt)
      for (bool extreme : {false, true}) {
        const auto act = activations(t, K, nt, rng, nullptr, extreme);
        const size_t stride = activation_row_bytes(t, K);
        float ref[5][4], got[5][4];
        double scale = 0;
        for (int r = 0; r < 5; ++r) {
          const uint8_t* row = w.data() + r * dtype_bytes_for(t, K);
          quant_dot_scalar(t)(row, act.data(), stride, nt, K, ref[r]);
          fn(row, act.data(), stride, nt, K, got[r]);
          for (int i = 0; i < nt; ++i) scale = std::max(scale, double(std::fabs(ref[r][i])));
        }
        // The integer block sums are exact in both; the float sums differ in order (IQ4_XS block sums
        // reach 2^24 and more, so their conversion rounds too). A wrong quant would move a result by
        // a whole weight times activation, far beyond this.
        for (int r = 0; r < 5; ++r)
          for (int i = 0; i < nt; ++i)
            ASSERT_NEAR(got[r][i], ref[r][i], 1e-5 * (1 + scale) * nb)
                << dtype_name(t) << " nb=" << nb << " nt=" << nt << " extreme=" << extreme << " r=" << r;
      }
  }
}

TEST_P(QuantExt, Avx2KernelMatchesScalar) {
  const DType t = GetParam();
  if (!quant_dot_avx2(t)) GTEST_SKIP() << dtype_name(t) << " has no AVX2 kernel (scalar dots)";
  if (!cpu_avx2()) GTEST_SKIP() << "CPU lacks AVX2/FMA/F16C (" << cpu_features().summary() << ")";
  check_simd(t, quant_dot_avx2(t));
}

TEST_P(QuantExt, VnniKernelMatchesScalar) {
  const DType t = GetParam();
  if (!quant_dot_avx512vnni(t)) GTEST_SKIP() << dtype_name(t) << " has no VNNI kernel";
  if (!cpu_vnni()) GTEST_SKIP() << "CPU lacks AVX-512 F/BW/VL + VNNI (" << cpu_features().summary() << ")";
  check_simd(t, quant_dot_avx512vnni(t));
}

// matmul on every path (decode int8 dots; prefill int8 or float panels; forced scalar) equals the
// int8 reference, and the float reference within the activation rounding.
TEST_P(QuantExt, MatmulOnEveryPath) {
  const DType t = GetParam();
  std::mt19937 rng(9);
  const int64_t K = 3 * dtype_block_elems(t) * (dtype_block_elems(t) == 32 ? 8 : 1), N = 37;
  const auto w = random_blocks(t, N, K, rng);
  const MatrixRef m{t, w.data(), N, K};
  for (int64_t T : {1, 3, 20}) {
    const auto x = randn(T * K, rng);
    std::vector<float> ref(T * N), ref8(T * N), y(T * N);
    matmul_reference(x.data(), T, m, ref.data());
    matmul_reference_int8(x.data(), T, m, ref8.data());
    double scale = 0;
    for (float v : ref) scale = std::max(scale, double(std::fabs(v)));
    for (int64_t prefill_min : {int64_t{16}, int64_t{1} << 30}) {  // float panels from T=16, or never
      set_quantized_prefill_min_tokens(prefill_min);
      for (int mode = 0; mode < 3; ++mode) {  // the CPU's best kernels, AVX2 forced, scalar forced
        const bool scalar_before = force_scalar_kernels(), avx2_before = force_avx2_kernels();
        set_force_scalar_kernels(mode == 2);
        set_force_avx2_kernels(mode == 1);
        // Types whose int8 dots do not pay for prefill take the float panels from prefill_min tokens even with VNNI.
        const bool int8_path =
            mode == 2 || T < prefill_min || !cpu_avx2() || (use_avx512vnni() && int8_prefill_pays(t));
        matmul(x.data(), T, m, y.data());
        set_force_scalar_kernels(scalar_before);
        set_force_avx2_kernels(avx2_before);
        for (int64_t i = 0; i < T * N; ++i) {
          // Activation rounding: int8 steps of amax/127 per block, summed over K products.
          ASSERT_NEAR(y[i], ref[i], 0.02 * (1 + scale)) << dtype_name(t) << " T=" << T << " mode=" << mode;
          if (int8_path) {
            ASSERT_NEAR(y[i], ref8[i], 1e-5 * (1 + scale)) << dtype_name(t) << " T=" << T << " mode=" << mode;
          } else {
            ASSERT_NEAR(y[i], ref[i], 1e-4 * (1 + scale)) << dtype_name(t) << " T=" << T << " float panels";
          }
        }
      }
    }
    set_quantized_prefill_min_tokens(16);
  }
}

// Encoders: dequant(quant(x)) close to x, in proportion to the type's bits.
TEST_P(QuantExt, EncoderRoundTrip) {
  const DType t = GetParam();
  std::mt19937 rng(11);
  const int64_t rows = 6, cols = 512;
  auto x = randn(rows * cols, rng, 0.1f);
  x[5] = 0.9f;  // an outlier
  std::fill(x.begin() + cols, x.begin() + cols + 256, 0.0f);  // an all-zero row start
  const auto q = quantize_matrix_any(t, x.data(), rows, cols);
  ASSERT_EQ(q.size(), dtype_bytes_for(t, rows * cols));
  std::vector<float> y(rows * cols);
  dequantize_row_any(t, q.data(), y.data(), rows * cols);
  double err = 0, norm = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (y[i] - x[i]) * double(y[i] - x[i]);
    norm += x[i] * double(x[i]);
    if (i >= static_cast<size_t>(cols) && i < static_cast<size_t>(cols + 256)) {
      ASSERT_EQ(y[i], 0.0f) << i;
    }
  }
  const double rel = std::sqrt(err / norm);
  // Bits per weight: Q2_K 2.6, Q3_K 3.4, 4.5 for the 4-bit types, 5.5 for the 5-bit ones.
  const double bound = t == DType::Q2_K ? 0.45 : t == DType::Q3_K ? 0.25
                       : (t == DType::Q5_0 || t == DType::Q5_1 || t == DType::Q5_K) ? 0.06 : 0.13;
  EXPECT_LT(rel, bound) << dtype_name(t);
  RecordProperty("relative_rmse", std::to_string(rel));
}

// Q5_K as ggml's reference quantiser: after the fit, each element's level is the nearest one under
// its stored scale and min (what quantize_row_q5_K_ref's last pass does).
TEST(QuantExtQ5K, LevelsAreNearestUnderStoredScales) {
  std::mt19937 rng(12);
  const auto x = randn(1024, rng, 0.3f);
  std::vector<BlockQ5_K> b(4);
  quantize_row_q5_k(x.data(), b.data(), 1024);
  std::vector<float> y(1024);
  dequantize_row_q5_k(b.data(), y.data(), 1024);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      scale_min_k4(j, b[i].scales, sc, m);
      const float d = f16_to_f32(b[i].d) * sc, dm = f16_to_f32(b[i].dmin) * m;
      if (!d) continue;  // ggml keeps the fit's levels there
      for (int l = 0; l < 32; ++l) {
        const int e = 256 * i + 32 * j + l;
        const int want = std::clamp(static_cast<int>(std::nearbyint((x[e] + dm) / d)), 0, 31);
        EXPECT_EQ(y[e], d * want - dm) << e;
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Types, QuantExt, ::testing::ValuesIn(kTypes),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace exaone
