// Q4_K / Q6_K encoders: dequant(quant(x)) against a slow element-wise restatement of ggml's
// reference algorithms (quantize_row_q4_K_ref / quantize_row_q6_K_ref) that never packs bits,
// plus error bounds, edge cases and the matrix entry point.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/quant.h"
#include "kernels/quant_k.h"
#include "random_data.h"
#include "util/error.h"
#include "util/half.h"

namespace exaone {
namespace {

std::vector<float> random_values(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  return test::randn(static_cast<size_t>(n), rng, scale);
}

float h(float f) { return f16_to_f32(f32_to_f16(f)); }
int rint_even(float f) { return static_cast<int>(std::nearbyint(f)); }

// --- slow reference: Q4_K -------------------------------------------------------------------
// One 32-element sub-block: search grids (rmin + rdelta*k + 15)/(max - min), k = 0..20, for the
// weighted least-squares (scale, min) of smallest weighted squared error. As in ggml, once a grid
// wins, later grids are laid out from the winning (refitted) min rather than the data minimum.
void ref_fit_q4(const float* x, float& scale, float& neg_min) {
  float sum_x2 = 0;
  for (int l = 0; l < 32; ++l) sum_x2 += x[l] * x[l];
  const float av = std::sqrt(sum_x2 / 32);
  float w[32];
  for (int l = 0; l < 32; ++l) w[l] = av + std::fabs(x[l]);
  float mn = *std::min_element(x, x + 32), mx = *std::max_element(x, x + 32);
  if (mn > 0) mn = 0;
  if (mx == mn) {
    scale = 0;
    neg_min = -mn;
    return;
  }
  float sw = 0, sx = 0;
  for (int l = 0; l < 32; ++l) sw += w[l], sx += w[l] * x[l];
  auto levels = [&](float is, int l) { return std::clamp(rint_even(is * (x[l] - mn)), 0, 15); };
  auto error = [&](float s, float m, float is) {
    float e = 0;
    for (int l = 0; l < 32; ++l) {
      const float d = s * levels(is, l) + m - x[l];
      e += w[l] * (d * d);  // ggml: diff = diff * diff; error += w * diff
    }
    return e;
  };
  float best_s = 1 / (15 / (mx - mn)), best_m = mn;
  float best_e = error(best_s, best_m, 15 / (mx - mn));
  for (int k = 0; k <= 20; ++k) {
    const float is = (-1.0f + 0.1f * k + 15) / (mx - mn);
    float sl = 0, sl2 = 0, sxl = 0;
    for (int l = 0; l < 32; ++l) {
      const int q = levels(is, l);
      sl += w[l] * q, sl2 += w[l] * q * q, sxl += w[l] * q * x[l];
    }
    const float D = sw * sl2 - sl * sl;
    if (!(D > 0)) continue;
    float s = (sw * sxl - sx * sl) / D, m = (sl2 * sx - sl * sxl) / D;
    if (m > 0) m = 0, s = sxl / sl2;
    const float e = error(s, m, is);
    if (e < best_e) best_e = e, best_s = s, best_m = m, mn = m;
  }
  scale = best_s;
  neg_min = -best_m;
}

std::vector<float> ref_q4_k(const std::vector<float>& x) {
  std::vector<float> y(x.size());
  for (size_t b = 0; b < x.size() / 256; ++b) {
    const float* xb = x.data() + 256 * b;
    float sc[8], mn[8], max_s = 0, max_m = 0;
    for (int j = 0; j < 8; ++j) {
      ref_fit_q4(xb + 32 * j, sc[j], mn[j]);
      max_s = std::max(max_s, sc[j]);
      max_m = std::max(max_m, mn[j]);
    }
    const float d = h(max_s / 63), dmin = h(max_m / 63);
    for (int j = 0; j < 8; ++j) {
      const int ls = std::min(63, rint_even(max_s > 0 ? 63 / max_s * sc[j] : 0.0f));
      const int lm = std::min(63, rint_even(max_m > 0 ? 63 / max_m * mn[j] : 0.0f));
      const float ds = d * ls, dm = dmin * lm;
      for (int l = 0; l < 32; ++l) {
        const float v = xb[32 * j + l];
        // With a zero sub-scale ggml keeps the fit's levels, but they decode to -dm whatever they are.
        const int q = ds ? std::clamp(rint_even((v + dm) / ds), 0, 15) : 0;
        y[256 * b + 32 * j + l] = ds * q - dm;
      }
    }
  }
  return y;
}

// --- slow reference: Q6_K -------------------------------------------------------------------
// 16-element groups; symmetric levels -32..31 anchored at the largest-magnitude value; 19 grids,
// the best maximising (sum w x l)^2 / sum w l^2 with w = x^2.
float ref_fit_q6(const float* x, int* L) {
  float amax = 0, mx = 0;
  for (int l = 0; l < 16; ++l)
    if (std::fabs(x[l]) > amax) amax = std::fabs(x[l]), mx = x[l];
  if (amax < 1e-15f) {
    for (int l = 0; l < 16; ++l) L[l] = 0;
    return 0;
  }
  float best = -1, best_scale = 0;
  for (int k = 0; k <= 18; ++k) {
    const int step = k == 0 ? 0 : (k <= 9 ? k - 10 : k - 9);  // 0 first, then -9..-1, 1..9
    const float is = step == 0 ? -32 / mx : -(32 + 0.1f * step) / mx;
    float slx = 0, sl2 = 0;
    int q[16];
    for (int l = 0; l < 16; ++l) {
      q[l] = std::clamp(rint_even(is * x[l]), -32, 31);
      const float w = x[l] * x[l];
      slx += w * x[l] * q[l], sl2 += w * q[l] * q[l];
    }
    if (k == 0) {
      best_scale = sl2 ? slx / sl2 : 0;
      best = best_scale * slx;
      for (int l = 0; l < 16; ++l) L[l] = q[l];
    } else if (sl2 > 0 && slx * slx > best * sl2) {
      best_scale = slx / sl2;
      best = best_scale * slx;
      for (int l = 0; l < 16; ++l) L[l] = q[l];
    }
  }
  return best_scale;
}

std::vector<float> ref_q6_k(const std::vector<float>& x) {
  std::vector<float> y(x.size());
  for (size_t b = 0; b < x.size() / 256; ++b) {
    const float* xb = x.data() + 256 * b;
    float sc[16], max_s = 0, max_abs = 0;
    int L[256];
    for (int s = 0; s < 16; ++s) {
      sc[s] = ref_fit_q6(xb + 16 * s, L + 16 * s);
      if (std::fabs(sc[s]) > max_abs) max_abs = std::fabs(sc[s]), max_s = sc[s];
    }
    if (max_abs < 1e-15f) {
      for (int l = 0; l < 256; ++l) y[256 * b + l] = 0;
      continue;
    }
    const float is = -128.0f / max_s;
    const float d = h(1 / is);
    for (int s = 0; s < 16; ++s) {
      const int q8 = static_cast<int8_t>(std::min(127, rint_even(is * sc[s])));
      const float ds = d * q8;
      for (int l = 0; l < 16; ++l) {
        const int q = ds ? std::clamp(rint_even(xb[16 * s + l] / ds), -32, 31) : L[16 * s + l];
        y[256 * b + 16 * s + l] = ds * q;
      }
    }
  }
  return y;
}

std::vector<float> roundtrip(DType t, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(dtype_bytes_for(t, n));
  std::vector<float> y(x.size());
  if (t == DType::Q4_K) {
    quantize_row_q4_k(x.data(), q.data(), n);
    dequantize_row_q4_k(q.data(), y.data(), n);
  } else {
    quantize_row_q6_k(x.data(), q.data(), n);
    dequantize_row_q6_k(q.data(), y.data(), n);
  }
  return y;
}

double rel_rms(const std::vector<float>& x, const std::vector<float>& y) {
  double e = 0, s = 0;
  for (size_t i = 0; i < x.size(); ++i) e += (x[i] - y[i]) * double(x[i] - y[i]), s += double(x[i]) * x[i];
  return std::sqrt(e / s);
}

void expect_equal(const std::vector<float>& a, const std::vector<float>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size());
  int bad = 0;
  for (size_t i = 0; i < a.size() && bad < 5; ++i)
    if (!(a[i] == b[i] || std::fabs(a[i] - b[i]) <= 1e-6f * std::max(1.0f, std::fabs(b[i])))) {
      ADD_FAILURE() << what << " element " << i << ": " << a[i] << " vs reference " << b[i];
      ++bad;
    }
}

std::vector<std::vector<float>> test_inputs() {
  std::vector<std::vector<float>> v;
  v.push_back(random_values(256 * 7, 1));
  v.push_back(random_values(256 * 3, 2, 0.02f));  // typical weight magnitudes
  v.push_back(random_values(256 * 2, 3, 300.0f));
  std::vector<float> pos = random_values(256 * 2, 4);  // all positive: min clamps to 0
  for (auto& x : pos) x = std::fabs(x) + 0.5f;
  v.push_back(pos);
  std::vector<float> neg = random_values(256, 5);
  for (auto& x : neg) x = -std::fabs(x);
  v.push_back(neg);
  std::vector<float> spiky = random_values(256 * 2, 6, 0.01f);  // one outlier per sub-block
  for (size_t i = 0; i < spiky.size(); i += 37) spiky[i] = (i % 2 ? 4.0f : -4.0f);
  v.push_back(spiky);
  return v;
}

TEST(QuantK, Q4KMatchesSlowReference) {
  for (const auto& x : test_inputs()) expect_equal(roundtrip(DType::Q4_K, x), ref_q4_k(x), "Q4_K");
}

TEST(QuantK, Q6KMatchesSlowReference) {
  for (const auto& x : test_inputs()) expect_equal(roundtrip(DType::Q6_K, x), ref_q6_k(x), "Q6_K");
}

TEST(QuantK, ErrorBounds) {
  const auto x = random_values(256 * 64, 11);
  const double e4 = rel_rms(x, roundtrip(DType::Q4_K, x));
  const double e6 = rel_rms(x, roundtrip(DType::Q6_K, x));
  std::printf("[quant_k] Gaussian relative RMS error: Q4_K %.4f  Q6_K %.4f\n", e4, e6);
  // 4 bits over ~6 sigma of range gives ~1/16 steps (RMS ~0.09 sigma); 6 bits ~4x finer.
  EXPECT_LT(e4, 0.11);
  EXPECT_LT(e6, 0.03);
  EXPECT_LT(e6, e4 / 3);
  // Every element within one step of its sub-block grid (Q6_K: half a step plus the F16 rounding).
  for (size_t b = 0; b < x.size() / 16; ++b) {
    float amax = 0;
    for (int l = 0; l < 16; ++l) amax = std::max(amax, std::fabs(x[16 * b + l]));
    const auto y6 = roundtrip(DType::Q6_K, std::vector<float>(x.begin() + (b / 16) * 256, x.begin() + (b / 16 + 1) * 256));
    for (int l = 0; l < 16; ++l)
      EXPECT_LE(std::fabs(y6[(b % 16) * 16 + l] - x[16 * b + l]), amax / 31.0f * 1.1f + 1e-6f);
    if (b > 40) break;  // the loop re-quantises a super-block per group: keep it short
  }
}

TEST(QuantK, EdgeCases) {
  std::vector<float> zeros(512, 0.0f);
  for (DType t : {DType::Q4_K, DType::Q6_K}) {
    for (float v : roundtrip(t, zeros)) EXPECT_EQ(v, 0.0f);
    std::vector<float> c(256, 0.75f);  // constant positive: exact through the scale, min 0
    for (float v : roundtrip(t, c)) EXPECT_NEAR(v, 0.75f, 0.75f * 0.01f);
    std::vector<float> one(256, 0.0f);
    one[100] = -3.0f;  // lone value in an otherwise zero block
    auto y = roundtrip(t, one);
    EXPECT_NEAR(y[100], -3.0f, 0.02f);
    for (int i = 0; i < 256; ++i) {
      if (i == 100) continue;
      EXPECT_NEAR(y[i], 0.0f, 1e-3f) << i;
    }
    std::vector<uint8_t> buf(dtype_bytes_for(t, 256));
    EXPECT_THROW((t == DType::Q4_K ? quantize_row_q4_k : quantize_row_q6_k)(c.data(), buf.data(), 255), Error);
  }
}

TEST(QuantK, MatrixEntryPoint) {
  const auto x = random_values(512 * 5, 21);
  for (DType t : {DType::Q4_K, DType::Q6_K}) {
    const auto q = quantize_matrix_any(t, x.data(), 5, 512);
    ASSERT_EQ(q.size(), dtype_bytes_for(t, 512 * 5));
    std::vector<uint8_t> row(dtype_bytes_for(t, 512));
    for (int r = 0; r < 5; ++r) {
      (t == DType::Q4_K ? quantize_row_q4_k : quantize_row_q6_k)(x.data() + r * 512, row.data(), 512);
      EXPECT_EQ(0, std::memcmp(row.data(), q.data() + r * row.size(), row.size())) << dtype_name(t) << " row " << r;
    }
    EXPECT_THROW(quantize_matrix_any(t, x.data(), 10, 256 + 32), Error);
  }
  // Other types pass through to quantize_matrix.
  const auto q8 = quantize_matrix_any(DType::Q8_0, x.data(), 5, 512);
  EXPECT_EQ(q8, quantize_matrix(DType::Q8_0, x.data(), 5, 512));
}

}  // namespace
}  // namespace exaone
