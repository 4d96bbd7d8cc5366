#include "kernels/quant_k.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/quant.h"
#include "kernels/quant_ext.h"
#include "util/error.h"
#include "util/half.h"

namespace exaone {

namespace {

void check_len_k(int64_t n, const char* what) {
  if (n < 0 || n % kQKBlock != 0)
    fail(std::string(what) + ": length " + std::to_string(n) + " is not a multiple of the block size 256");
}

// Round half to even, as ggml's nearest_int (the float "magic number" trick) does.
inline int nearest_int(float f) { return static_cast<int>(std::nearbyintf(f)); }

// ggml's make_qkx2_quants: asymmetric levels 0..nmax for x ≈ scale*L - min. Starts from the
// min/max grid, then tries nstep+1 widened grids and keeps the weighted least-squares fit
// (scale, min) of lowest weighted squared error. Returns the scale; *neg_min receives -min >= 0.
// mad: weighted absolute instead of squared errors decide between grids (ggml's use_mad, Q2_K).
float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min, float rmin,
                    float rdelta, int nstep, bool mad = false) {
  float lo = x[0], hi = x[0];
  float sum_w = w[0], sum_x = w[0] * x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (lo > 0) lo = 0;  // the offset only ever shifts values up (min is stored as a non-negative mins)
  if (hi == lo) {
    std::fill(L, L + n, 0);
    *neg_min = -lo;
    return 0.0f;
  }
  float iscale = nmax / (hi - lo);
  float scale = 1 / iscale;
  float best_err = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(std::clamp(nearest_int(iscale * (x[i] - lo)), 0, nmax));
    const float diff = scale * L[i] + lo - x[i];
    best_err += w[i] * (mad ? std::fabs(diff) : diff * diff);
  }
  uint8_t trial[32];
  for (int step = 0; step <= nstep; ++step) {
    iscale = (rmin + rdelta * step + nmax) / (hi - lo);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * (x[i] - lo)), 0, nmax);
      trial[i] = static_cast<uint8_t>(l);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0)) continue;
    float s = (sum_w * sum_xl - sum_x * sum_l) / det;
    float m = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (m > 0) {  // offsets must not be positive: refit the scale alone
      m = 0;
      s = sum_xl / sum_l2;
    }
    float err = 0;
    for (int i = 0; i < n; ++i) {
      const float diff = s * trial[i] + m - x[i];
      err += w[i] * (mad ? std::fabs(diff) : diff * diff);
    }
    if (err < best_err) {
      std::copy(trial, trial + n, L);
      best_err = err;
      scale = s;
      lo = m;
    }
  }
  *neg_min = -lo;
  return scale;
}

// ggml's make_qx_quants with rmse_type 1 (weights x^2, no importance matrix): symmetric levels
// -nmax..nmax-1 anchored on the value of largest magnitude; tries 18 nearby grids and keeps the one
// maximising (sum w x l)^2 / sum w l^2. L receives l + nmax. Returns the (signed) scale.
float fit_scale_symmetric(int n, int nmax, const float* x, uint8_t* L) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  if (amax < 1e-15f) {
    std::fill(L, L + n, 0);
    return 0.0f;
  }
  auto sums = [&](float iscale, float& sumlx, float& suml2) {
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
  };
  auto assign = [&](float iscale) {
    for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(nmax + std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1));
  };
  float iscale = -nmax / max;
  float sumlx, suml2;
  assign(iscale);
  sums(iscale, sumlx, suml2);
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    iscale = -(nmax + 0.1f * step) / max;
    sums(iscale, sumlx, suml2);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      assign(iscale);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

}  // namespace

void quantize_row_q4_k(const float* x, void* out, int64_t n) {
  check_len_k(n, "quantize Q4_K");
  auto* blocks = static_cast<BlockQ4_K*>(out);
  for (int64_t i = 0; i < n / kQKBlock; ++i, x += kQKBlock) {
    BlockQ4_K& b = blocks[i];
    uint8_t L[256];
    float scales[8], mins[8], w[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
      const float* xs = x + 32 * j;
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) w[l] = av_x + std::fabs(xs[l]);
      scales[j] = fit_scale_min(32, 15, xs, w, L + 32 * j, &mins[j], -1.0f, 0.1f, 20);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    // Sub-block scales and mins as 6-bit fractions of the super-block maxima.
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    std::memset(b.scales, 0, sizeof b.scales);
    for (int j = 0; j < 8; ++j) {
      const uint8_t ls = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
      const uint8_t lm = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
      if (j < 4) {  // packing read back by scale_min_k4 in quant.cpp
        b.scales[j] = ls;
        b.scales[j + 4] = lm;
      } else {
        b.scales[j + 4] = static_cast<uint8_t>((ls & 0x0f) | ((lm & 0x0f) << 4));
        b.scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
        b.scales[j] |= static_cast<uint8_t>((lm >> 4) << 6);
      }
    }
    b.d = f32_to_f16(max_scale / 63.0f);
    b.dmin = f32_to_f16(max_min / 63.0f);
    // Requantise against the scales as stored (rounded to 6 bits and F16).
    const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      if (j < 4) {
        sc = b.scales[j] & 63;
        m = b.scales[j + 4] & 63;
      } else {
        sc = static_cast<uint8_t>((b.scales[j + 4] & 0x0f) | ((b.scales[j - 4] >> 6) << 4));
        m = static_cast<uint8_t>((b.scales[j + 4] >> 4) | ((b.scales[j] >> 6) << 4));
      }
      const float ds = d * sc;
      if (!ds) continue;
      const float dm = dmin * m;
      for (int l = 0; l < 32; ++l)
        L[32 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + l] + dm) / ds), 0, 15));
    }
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l)
        b.qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
  }
}

void quantize_row_q6_k(const float* x, void* out, int64_t n) {
  check_len_k(n, "quantize Q6_K");
  auto* blocks = static_cast<BlockQ6_K*>(out);
  for (int64_t i = 0; i < n / kQKBlock; ++i, x += kQKBlock) {
    BlockQ6_K& b = blocks[i];
    uint8_t L[256];
    float scales[16];
    float max_scale = 0, max_abs_scale = 0;
    for (int s = 0; s < 16; ++s) {
      scales[s] = fit_scale_symmetric(16, 32, x + 16 * s, L + 16 * s);
      if (std::fabs(scales[s]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[s]);
        max_scale = scales[s];
      }
    }
    if (max_abs_scale < 1e-15f) {
      std::memset(&b, 0, sizeof b);
      continue;
    }
    // 8-bit sub-block scales; the largest maps to -128 so the sign of `d` absorbs the anchor's sign.
    const float iscale = -128.0f / max_scale;
    b.d = f32_to_f16(1 / iscale);
    for (int s = 0; s < 16; ++s) b.scales[s] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[s])));
    const float d = f16_to_f32(b.d);
    for (int s = 0; s < 16; ++s) {
      const float ds = d * b.scales[s];
      if (!ds) continue;
      for (int l = 0; l < 16; ++l)
        L[16 * s + l] = static_cast<uint8_t>(32 + std::clamp(nearest_int(x[16 * s + l] / ds), -32, 31));
    }
    // Low nibbles of elements h*128 + {0..31, 64..95} share ql[h*64 + 0..31], {32..63, 96..127} ql[h*64 + 32..63];
    // the four top-2-bit pairs of element l of each 32-run go to qh[h*32 + l].
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = L + 128 * h;
      uint8_t* ql = b.ql + 64 * h;
      uint8_t* qh = b.qh + 32 * h;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((q[l] & 0x0f) | ((q[l + 64] & 0x0f) << 4));
        ql[l + 32] = static_cast<uint8_t>((q[l + 32] & 0x0f) | ((q[l + 96] & 0x0f) << 4));
        qh[l] = static_cast<uint8_t>((q[l] >> 4) | ((q[l + 32] >> 4) << 2) | ((q[l + 64] >> 4) << 4) |
                                     ((q[l + 96] >> 4) << 6));
      }
    }
  }
}

void quantize_row_q5_k(const float* x, void* out, int64_t n) {
  check_len_k(n, "quantize Q5_K");
  auto* blocks = static_cast<BlockQ5_K*>(out);
  for (int64_t i = 0; i < n / kQKBlock; ++i, x += kQKBlock) {
    BlockQ5_K& b = blocks[i];
    uint8_t L[256];
    float scales[8], mins[8], w[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {  // as Q4_K with levels 0..31 and ggml's Q5_K search parameters
      const float* xs = x + 32 * j;
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) w[l] = av_x + std::fabs(xs[l]);
      scales[j] = fit_scale_min(32, 31, xs, w, L + 32 * j, &mins[j], -0.5f, 0.1f, 15);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    std::memset(b.scales, 0, sizeof b.scales);
    for (int j = 0; j < 8; ++j) {
      const uint8_t ls = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
      const uint8_t lm = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
      if (j < 4) {
        b.scales[j] = ls;
        b.scales[j + 4] = lm;
      } else {
        b.scales[j + 4] = static_cast<uint8_t>((ls & 0x0f) | ((lm & 0x0f) << 4));
        b.scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
        b.scales[j] |= static_cast<uint8_t>((lm >> 4) << 6);
      }
    }
    b.d = f32_to_f16(max_scale / 63.0f);
    b.dmin = f32_to_f16(max_min / 63.0f);
    const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      scale_min_k4(j, b.scales, sc, m);
      const float ds = d * sc;
      if (!ds) continue;
      const float dm = dmin * m;
      for (int l = 0; l < 32; ++l)
        L[32 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + l] + dm) / ds), 0, 31));
    }
    std::memset(b.qh, 0, sizeof b.qh);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) {
        const uint8_t lo = L[64 * c + l], hi = L[64 * c + 32 + l];
        b.qs[32 * c + l] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
        b.qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
  }
}

void quantize_row_q2_k(const float* x, void* out, int64_t n) {
  check_len_k(n, "quantize Q2_K");
  auto* blocks = static_cast<BlockQ2_K*>(out);
  for (int64_t i = 0; i < n / kQKBlock; ++i, x += kQKBlock) {
    BlockQ2_K& b = blocks[i];
    uint8_t L[256];
    float scales[16], mins[16], w[16];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; ++j) {
      for (int l = 0; l < 16; ++l) w[l] = std::fabs(x[16 * j + l]);
      scales[j] = fit_scale_min(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, true);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    // 4-bit scales and mins against two F16 super-block scales.
    for (int j = 0; j < 16; ++j) b.scales[j] = 0;
    b.d = b.dmin = 0;
    if (max_scale > 0) {
      const float is = 15.0f / max_scale;
      for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<uint8_t>(nearest_int(is * scales[j]));
      b.d = f32_to_f16(max_scale / 15.0f);
    }
    if (max_min > 0) {
      const float is = 15.0f / max_min;
      for (int j = 0; j < 16; ++j) b.scales[j] |= static_cast<uint8_t>(nearest_int(is * mins[j]) << 4);
      b.dmin = f32_to_f16(max_min / 15.0f);
    }
    const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
    for (int j = 0; j < 16; ++j) {
      const float ds = d * (b.scales[j] & 0x0f);
      if (!ds) continue;
      const float dm = dmin * (b.scales[j] >> 4);
      for (int l = 0; l < 16; ++l)
        L[16 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[16 * j + l] + dm) / ds), 0, 3));
    }
    for (int h = 0; h < 2; ++h)
      for (int l = 0; l < 32; ++l) {
        const uint8_t* q = L + 128 * h + l;
        b.qs[32 * h + l] = static_cast<uint8_t>(q[0] | (q[32] << 2) | (q[64] << 4) | (q[96] << 6));
      }
  }
}

namespace {

// ggml's make_q3_quants with do_rmse: symmetric levels -nmax..nmax-1 from the value of largest
// magnitude, then up to 5 rounds of moving single levels while that raises (Σ w x l)^2 / Σ w l^2
// (w = x^2). L receives the levels + nmax (all 0 for an all-zero group, as ggml leaves them); returns
// the scale.
float fit_q3(int n, int nmax, const float* x, int8_t* L) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), max = x[i];
  if (amax < 1e-15f) {
    std::fill(L, L + n, 0);
    return 0.0f;
  }
  const float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int round = 0; round < 5; ++round) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx > 0) {
        float sl2 = suml2 - w * L[i] * L[i];
        const int nl = std::clamp(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
        if (nl != L[i]) {
          slx += w * x[i] * nl;
          sl2 += w * nl * nl;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(nl);
            sumlx = slx;
            suml2 = sl2;
            ++changed;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return sumlx / suml2;
}

}  // namespace

void quantize_row_q3_k(const float* x, void* out, int64_t n) {
  check_len_k(n, "quantize Q3_K");
  auto* blocks = static_cast<BlockQ3_K*>(out);
  for (int64_t i = 0; i < n / kQKBlock; ++i, x += kQKBlock) {
    BlockQ3_K& b = blocks[i];
    int8_t Ls[256];
    uint8_t L[256];
    float scales[16], amax = 0, max_scale = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = fit_q3(16, 4, x + 16 * j, Ls + 16 * j);
      if (std::fabs(scales[j]) > amax) amax = std::fabs(scales[j]), max_scale = scales[j];
    }
    std::memset(&b, 0, sizeof b);
    if (max_scale) {  // 6-bit signed scales, the largest mapping to -32
      const float iscale = -32.0f / max_scale;
      for (int j = 0; j < 16; ++j) {
        const int l = std::clamp(nearest_int(iscale * scales[j]), -32, 31) + 32;
        if (j < 8) b.scales[j] = static_cast<uint8_t>(l & 0x0f);
        else b.scales[j - 8] |= static_cast<uint8_t>((l & 0x0f) << 4);
        b.scales[8 + j % 4] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
      }
      b.d = f32_to_f16(1 / iscale);
    }
    const float d = f16_to_f32(b.d);
    for (int j = 0; j < 16; ++j) {
      const float ds = d * static_cast<float>(q3_k_scale(b.scales, j) - 32);
      for (int l = 0; l < 16; ++l)
        L[16 * j + l] = static_cast<uint8_t>(
            ds ? std::clamp(nearest_int(x[16 * j + l] / ds), -4, 3) + 4 : Ls[16 * j + l]);
    }
    for (int e = 0; e < 256; ++e)
      if (L[e] > 3) {
        b.hmask[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
        L[e] -= 4;
      }
    for (int h = 0; h < 2; ++h)
      for (int l = 0; l < 32; ++l) {
        const uint8_t* q = L + 128 * h + l;
        b.qs[32 * h + l] = static_cast<uint8_t>(q[0] | (q[32] << 2) | (q[64] << 4) | (q[96] << 6));
      }
  }
}

std::vector<uint8_t> quantize_matrix_any(DType type, const float* x, int64_t rows, int64_t cols) {
  void (*fn)(const float*, void*, int64_t) = nullptr;
  switch (type) {
    case DType::Q4_K: fn = quantize_row_q4_k; break;
    case DType::Q6_K: fn = quantize_row_q6_k; break;
    case DType::Q5_K: fn = quantize_row_q5_k; break;
    case DType::Q3_K: fn = quantize_row_q3_k; break;
    case DType::Q2_K: fn = quantize_row_q2_k; break;
    case DType::Q4_1: fn = quantize_row_q4_1; break;
    case DType::Q5_0: fn = quantize_row_q5_0; break;
    case DType::Q5_1: fn = quantize_row_q5_1; break;
    case DType::IQ4_NL: fn = quantize_row_iq4_nl; break;
    case DType::IQ4_XS: fn = quantize_row_iq4_xs; break;
    default: return quantize_matrix(type, x, rows, cols);
  }
  const int64_t be = dtype_block_elems(type);
  if (cols % be != 0)
    fail(std::string("quantize ") + dtype_name(type) + ": row length " + std::to_string(cols) +
         " is not a multiple of the block size " + std::to_string(be));
  const size_t row_bytes = dtype_bytes_for(type, cols);
  std::vector<uint8_t> out(row_bytes * static_cast<size_t>(rows));
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) fn(x + r * cols, out.data() + r * row_bytes, cols);
  return out;
}

}  // namespace exaone
