#include "kernels/quant_ext.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "util/error.h"
#include "util/half.h"

namespace exaone {

namespace {

void check_len(int64_t n, int64_t block, const char* what) {
  if (n < 0 || n % block != 0)
    fail(std::string(what) + ": length " + std::to_string(n) + " is not a multiple of the block size " +
         std::to_string(block));
}

uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline int nearest_int(float f) { return static_cast<int>(std::nearbyintf(f)); }

}  // namespace

// Every product below is formed as ggml (and the gguf package) form it: the block scale times the
// integer first, then the offset subtracted or added, each rounded to float on its own (no FMA),
// so the results are the reference floats bit for bit.

void dequantize_row_q4_1(const void* in, float* y, int64_t n) {
  check_len(n, kQBlock, "dequantize Q4_1");
  const auto* b = static_cast<const BlockQ4_1*>(in);
  for (int64_t i = 0; i < n / kQBlock; ++i, y += kQBlock) {
    const float d = f16_to_f32(b[i].d), m = f16_to_f32(b[i].m);
    for (int j = 0; j < 16; ++j) {
      const float lo = d * static_cast<float>(b[i].qs[j] & 0x0f), hi = d * static_cast<float>(b[i].qs[j] >> 4);
      y[j] = lo + m;
      y[j + 16] = hi + m;
    }
  }
}

void dequantize_row_q5_0(const void* in, float* y, int64_t n) {
  check_len(n, kQBlock, "dequantize Q5_0");
  const auto* b = static_cast<const BlockQ5_0*>(in);
  for (int64_t i = 0; i < n / kQBlock; ++i, y += kQBlock) {
    const float d = f16_to_f32(b[i].d);
    const uint32_t qh = load_u32(b[i].qh);
    for (int j = 0; j < 16; ++j) {
      const int q0 = ((b[i].qs[j] & 0x0f) | (((qh >> j) & 1) << 4)) - 16;
      const int q1 = ((b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
      y[j] = d * static_cast<float>(q0);
      y[j + 16] = d * static_cast<float>(q1);
    }
  }
}

void dequantize_row_q5_1(const void* in, float* y, int64_t n) {
  check_len(n, kQBlock, "dequantize Q5_1");
  const auto* b = static_cast<const BlockQ5_1*>(in);
  for (int64_t i = 0; i < n / kQBlock; ++i, y += kQBlock) {
    const float d = f16_to_f32(b[i].d), m = f16_to_f32(b[i].m);
    const uint32_t qh = load_u32(b[i].qh);
    for (int j = 0; j < 16; ++j) {
      const int q0 = (b[i].qs[j] & 0x0f) | (((qh >> j) & 1) << 4);
      const int q1 = (b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      const float lo = d * static_cast<float>(q0), hi = d * static_cast<float>(q1);
      y[j] = lo + m;
      y[j + 16] = hi + m;
    }
  }
}

void dequantize_row_iq4_nl(const void* in, float* y, int64_t n) {
  check_len(n, kQBlock, "dequantize IQ4_NL");
  const auto* b = static_cast<const BlockIQ4_NL*>(in);
  for (int64_t i = 0; i < n / kQBlock; ++i, y += kQBlock) {
    const float d = f16_to_f32(b[i].d);
    for (int j = 0; j < 16; ++j) {
      y[j] = d * static_cast<float>(kIQ4NLValues[b[i].qs[j] & 0x0f]);
      y[j + 16] = d * static_cast<float>(kIQ4NLValues[b[i].qs[j] >> 4]);
    }
  }
}

void dequantize_row_q2_k(const void* in, float* y, int64_t n) {
  check_len(n, kQKBlock, "dequantize Q2_K");
  const auto* b = static_cast<const BlockQ2_K*>(in);
  for (int64_t i = 0; i < n / kQKBlock; ++i, y += kQKBlock) {
    const float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
    for (int h = 0; h < 2; ++h)
      for (int j = 0; j < 4; ++j)
        for (int half = 0; half < 2; ++half) {  // group 8 h + 2 j + half: elements 128 h + 32 j + 16 half ..
          const uint8_t sc = b[i].scales[8 * h + 2 * j + half];
          const float dl = d * static_cast<float>(sc & 0x0f), ml = dmin * static_cast<float>(sc >> 4);
          const uint8_t* q = b[i].qs + 32 * h + 16 * half;
          float* out = y + 128 * h + 32 * j + 16 * half;
          for (int l = 0; l < 16; ++l) {
            const float v = dl * static_cast<float>((q[l] >> (2 * j)) & 3);
            out[l] = v - ml;
          }
        }
  }
}

void dequantize_row_q3_k(const void* in, float* y, int64_t n) {
  check_len(n, kQKBlock, "dequantize Q3_K");
  const auto* b = static_cast<const BlockQ3_K*>(in);
  for (int64_t i = 0; i < n / kQKBlock; ++i, y += kQKBlock) {
    const float d = f16_to_f32(b[i].d);
    for (int h = 0; h < 2; ++h)
      for (int j = 0; j < 4; ++j)
        for (int half = 0; half < 2; ++half) {  // group 8 h + 2 j + half
          const float dl = d * static_cast<float>(q3_k_scale(b[i].scales, 8 * h + 2 * j + half) - 32);
          const uint8_t* q = b[i].qs + 32 * h + 16 * half;
          const uint8_t* hm = b[i].hmask + 16 * half;
          float* out = y + 128 * h + 32 * j + 16 * half;
          for (int l = 0; l < 16; ++l) {
            const int v = ((q[l] >> (2 * j)) & 3) - (((hm[l] >> (4 * h + j)) & 1) ^ 1) * 4;
            out[l] = dl * static_cast<float>(v);
          }
        }
  }
}

void dequantize_row_q5_k(const void* in, float* y, int64_t n) {
  check_len(n, kQKBlock, "dequantize Q5_K");
  const auto* b = static_cast<const BlockQ5_K*>(in);
  for (int64_t i = 0; i < n / kQKBlock; ++i) {
    const float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
    for (int c = 0; c < 4; ++c) {
      const uint8_t* q = b[i].qs + 32 * c;
      for (int half = 0; half < 2; ++half) {
        const int j = 2 * c + half;
        uint8_t sc, m;
        scale_min_k4(j, b[i].scales, sc, m);
        const float dj = d * static_cast<float>(sc), mj = dmin * static_cast<float>(m);
        for (int l = 0; l < 32; ++l) {
          const int v = (half ? q[l] >> 4 : q[l] & 0x0f) | (((b[i].qh[l] >> j) & 1) << 4);
          const float p = dj * static_cast<float>(v);
          *y++ = p - mj;
        }
      }
    }
  }
}

void dequantize_row_iq4_xs(const void* in, float* y, int64_t n) {
  check_len(n, kQKBlock, "dequantize IQ4_XS");
  const auto* b = static_cast<const BlockIQ4_XS*>(in);
  for (int64_t i = 0; i < n / kQKBlock; ++i) {
    const float d = f16_to_f32(b[i].d);
    for (int j = 0; j < 8; ++j, y += 32) {
      const float dl = d * static_cast<float>(iq4_xs_scale(b[i], j) - 32);
      const uint8_t* q = b[i].qs + 16 * j;
      for (int l = 0; l < 16; ++l) {
        y[l] = dl * static_cast<float>(kIQ4NLValues[q[l] & 0x0f]);
        y[l + 16] = dl * static_cast<float>(kIQ4NLValues[q[l] >> 4]);
      }
    }
  }
}

void dequantize_row_any(DType t, const void* in, float* y, int64_t n) {
  switch (t) {
    case DType::F32: std::memcpy(y, in, static_cast<size_t>(n) * sizeof(float)); return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) y[i] = f16_to_f32(static_cast<const uint16_t*>(in)[i]);
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(static_cast<const uint16_t*>(in)[i]);
      return;
    case DType::Q8_0: return dequantize_row_q8_0(in, y, n);
    case DType::Q4_0: return dequantize_row_q4_0(in, y, n);
    case DType::Q4_K: return dequantize_row_q4_k(in, y, n);
    case DType::Q6_K: return dequantize_row_q6_k(in, y, n);
    case DType::Q4_1: return dequantize_row_q4_1(in, y, n);
    case DType::Q5_0: return dequantize_row_q5_0(in, y, n);
    case DType::Q5_1: return dequantize_row_q5_1(in, y, n);
    case DType::IQ4_NL: return dequantize_row_iq4_nl(in, y, n);
    case DType::Q2_K: return dequantize_row_q2_k(in, y, n);
    case DType::Q3_K: return dequantize_row_q3_k(in, y, n);
    case DType::Q5_K: return dequantize_row_q5_k(in, y, n);
    case DType::IQ4_XS: return dequantize_row_iq4_xs(in, y, n);
  }
  fail("dequantize: unknown type");
}

// ---------------------------------------------------------------- encoders

void quantize_row_q4_1(const float* x, void* out, int64_t n) {
  check_len(n, kQBlock, "quantize Q4_1");
  auto* b = static_cast<BlockQ4_1*>(out);
  for (int64_t i = 0; i < n / kQBlock; ++i, x += kQBlock) {
    float lo = x[0], hi = x[0];
    for (int j = 1; j < 32; ++j) lo = std::min(lo, x[j]), hi = std::max(hi, x[j]);
    const float d = (hi - lo) / 15.0f, id = d ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    b[i].m = f32_to_f16(lo);
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>((x[j] - lo) * id + 0.5f)));
      const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>((x[j + 16] - lo) * id + 0.5f)));
      b[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void quantize_row_q5_0(const float* x, void* out, int64_t n) {
  check_len(n, kQBlock, "quantize Q5_0");
  auto* b = static_cast<BlockQ5_0*>(out);
  for (int64_t i = 0; i < n / kQBlock; ++i, x += kQBlock) {
    float amax = 0, max = 0;  // the signed value of largest magnitude maps to -16
    for (int j = 0; j < 32; ++j)
      if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
    const float d = max / -16.0f, id = d ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(31, static_cast<int>(static_cast<int8_t>(x[j] * id + 16.5f)));
      const int q1 = std::min(31, static_cast<int>(static_cast<int8_t>(x[j + 16] * id + 16.5f)));
      b[i].qs[j] = static_cast<uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
      qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + 16);
    }
    std::memcpy(b[i].qh, &qh, 4);
  }
}

void quantize_row_q5_1(const float* x, void* out, int64_t n) {
  check_len(n, kQBlock, "quantize Q5_1");
  auto* b = static_cast<BlockQ5_1*>(out);
  for (int64_t i = 0; i < n / kQBlock; ++i, x += kQBlock) {
    float lo = x[0], hi = x[0];
    for (int j = 1; j < 32; ++j) lo = std::min(lo, x[j]), hi = std::max(hi, x[j]);
    const float d = (hi - lo) / 31.0f, id = d ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    b[i].m = f32_to_f16(lo);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(31, static_cast<int>(static_cast<uint8_t>((x[j] - lo) * id + 0.5f)));
      const int q1 = std::min(31, static_cast<int>(static_cast<uint8_t>((x[j + 16] - lo) * id + 0.5f)));
      b[i].qs[j] = static_cast<uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
      qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + 16);
    }
    std::memcpy(b[i].qh, &qh, 4);
  }
}

namespace {

// Index of the grid value nearest to v (the grid is sorted).
int nearest_iq4(float v) {
  int best = 0;
  float err = std::fabs(v - kIQ4NLValues[0]);
  for (int k = 1; k < 16; ++k) {
    const float e = std::fabs(v - kIQ4NLValues[k]);
    if (e < err) err = e, best = k;
  }
  return best;
}

// Grid indices for x[0..n) under scale d, then the least-squares scale for those indices (a plain
// fit: llama.cpp searches several scales; this is for tests and mixed files, not for parity).
float fit_iq4(const float* x, int n, uint8_t* idx) {
  float amax = 0, max = 0;
  for (int j = 0; j < n; ++j)
    if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
  if (amax == 0) {
    std::fill(idx, idx + n, 8);  // grid value 1: as near zero as the grid gets; d = 0 makes it 0
    return 0.0f;
  }
  const float d = max / kIQ4NLValues[0], id = 1.0f / d;
  float sxv = 0, svv = 0;
  for (int j = 0; j < n; ++j) {
    idx[j] = static_cast<uint8_t>(nearest_iq4(x[j] * id));
    const float v = kIQ4NLValues[idx[j]];
    sxv += x[j] * v;
    svv += v * v;
  }
  return svv > 0 ? sxv / svv : d;
}

}  // namespace

void quantize_row_iq4_nl(const float* x, void* out, int64_t n) {
  check_len(n, kQBlock, "quantize IQ4_NL");
  auto* b = static_cast<BlockIQ4_NL*>(out);
  for (int64_t i = 0; i < n / kQBlock; ++i, x += kQBlock) {
    uint8_t idx[32];
    const float d = fit_iq4(x, 32, idx);
    b[i].d = f32_to_f16(d);
    const float dq = f16_to_f32(b[i].d), id = dq ? 1.0f / dq : 0.0f;
    for (int j = 0; j < 32; ++j) idx[j] = static_cast<uint8_t>(dq ? nearest_iq4(x[j] * id) : 8);
    for (int j = 0; j < 16; ++j) b[i].qs[j] = static_cast<uint8_t>(idx[j] | (idx[j + 16] << 4));
  }
}

void quantize_row_iq4_xs(const float* x, void* out, int64_t n) {
  check_len(n, kQKBlock, "quantize IQ4_XS");
  auto* b = static_cast<BlockIQ4_XS*>(out);
  for (int64_t i = 0; i < n / kQKBlock; ++i, x += kQKBlock) {
    float scales[8], amax = 0, max = 0;
    uint8_t idx[32];
    for (int j = 0; j < 8; ++j) {
      scales[j] = fit_iq4(x + 32 * j, 32, idx);
      if (std::fabs(scales[j]) > amax) amax = std::fabs(scales[j]), max = scales[j];
    }
    std::memset(&b[i], 0, sizeof b[i]);
    // 6-bit signed group scales against one F16 scale; the largest maps to -32 (as ggml does).
    const float d = max / -32.0f, id = d ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    const float dq = f16_to_f32(b[i].d);
    for (int j = 0; j < 8; ++j) {
      const int l = std::clamp(nearest_int(id * scales[j]), -32, 31);
      const int ls = l + 32;
      b[i].scales_l[j / 2] |= static_cast<uint8_t>((ls & 0x0f) << (4 * (j % 2)));
      b[i].scales_h |= static_cast<uint16_t>((ls >> 4) << (2 * j));
      const float dl = dq * static_cast<float>(l), idl = dl ? 1.0f / dl : 0.0f;
      for (int k = 0; k < 32; ++k) idx[k] = static_cast<uint8_t>(dl ? nearest_iq4(x[32 * j + k] * idl) : 8);
      for (int k = 0; k < 16; ++k) b[i].qs[16 * j + k] = static_cast<uint8_t>(idx[k] | (idx[k + 16] << 4));
    }
  }
}

}  // namespace exaone
