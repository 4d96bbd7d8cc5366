#include "kernels/matmul.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <span>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/gemm_prefill.h"
#include "kernels/interleaved.h"
#include "kernels/quant.h"
#include "kernels/quant_ext.h"
#include "kernels/quant_dot.h"
#include "kernels/simd_avx2.h"
#include "util/error.h"
#include "util/half.h"
#include "util/parallel.h"

namespace exaone {

namespace {

float dot_scalar(const float* a, const float* b, int64_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

using simd::hsum;

__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(),
         acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

__attribute__((target("avx2,fma"))) void bf16_row_avx2(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(w));
  }
  for (; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

__attribute__((target("avx2,fma,f16c"))) void f16_row_avx2(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

bool use_avx2() { return !force_scalar_kernels() && cpu_features().avx2 && cpu_features().fma && cpu_features().f16c; }

void check_plain(const MatrixRef& w) {
  if (is_quantized(w.dtype)) {
    if (w.cols % dtype_block_elems(w.dtype) != 0)
      fail(std::string("matmul: ") + dtype_name(w.dtype) + " weight row length " + std::to_string(w.cols) +
           " is not a multiple of its block size " + std::to_string(dtype_block_elems(w.dtype)));
    return;
  }
  if (w.dtype != DType::F32 && w.dtype != DType::F16 && w.dtype != DType::BF16)
    fail(std::string("matmul: weight type ") + dtype_name(w.dtype) + " has no kernel yet");
}

}  // namespace

float dot_f32(const float* a, const float* b, int64_t n) { return use_avx2() ? dot_avx2(a, b, n) : dot_scalar(a, b, n); }

void dequantize_row(const MatrixRef& w, int64_t r, float* out) {
  const int64_t K = w.cols;
  switch (w.dtype) {
    case DType::F32: std::copy_n(static_cast<const float*>(w.data) + r * K, K, out); return;
    case DType::BF16: {
      const uint16_t* src = static_cast<const uint16_t*>(w.data) + r * K;
      if (use_avx2()) bf16_row_avx2(src, out, K);
      else for (int64_t i = 0; i < K; ++i) out[i] = bf16_to_f32(src[i]);
      return;
    }
    case DType::F16: {
      const uint16_t* src = static_cast<const uint16_t*>(w.data) + r * K;
      if (use_avx2()) f16_row_avx2(src, out, K);
      else for (int64_t i = 0; i < K; ++i) out[i] = f16_to_f32(src[i]);
      return;
    }
    case DType::Q8_0: {
      check_plain(w);
      if (w.packed) return dequantize_interleaved(w.dtype, w.packed, K, r, 0, K, out);
      const auto* src = static_cast<const uint8_t*>(w.data) + r * static_cast<int64_t>(dtype_bytes_for(w.dtype, K));
      dequantize_row_q8_0(src, out, K);
      return;
    }
    case DType::Q4_0: {
      check_plain(w);
      if (w.packed) return dequantize_interleaved(w.dtype, w.packed, K, r, 0, K, out);
      const auto* src = static_cast<const uint8_t*>(w.data) + r * static_cast<int64_t>(dtype_bytes_for(w.dtype, K));
      dequantize_row_q4_0(src, out, K);
      return;
    }
    case DType::Q4_K:
    case DType::Q6_K: {
      check_plain(w);
      if (w.packed) return dequantize_interleaved(w.dtype, w.packed, K, r, 0, K, out);
      const auto* src = static_cast<const uint8_t*>(w.data) + r * static_cast<int64_t>(dtype_bytes_for(w.dtype, K));
      if (w.dtype == DType::Q4_K) dequantize_row_q4_k(src, out, K);
      else dequantize_row_q6_k(src, out, K);
      return;
    }
    default: {  // the community GGUF types (kernels/quant_ext.h): scalar reference dequantisation
      check_plain(w);
      if (w.packed && interleavable(w.dtype, w.rows, K)) return dequantize_interleaved(w.dtype, w.packed, K, r, 0, K, out);
      const auto* src = static_cast<const uint8_t*>(w.data) + r * static_cast<int64_t>(dtype_bytes_for(w.dtype, K));
      dequantize_row_any(w.dtype, src, out, K);
    }
  }
}

void matmul_widen_baseline(const float* x, int64_t T, const MatrixRef& w, float* y) {
  check_plain(w);
  const int64_t N = w.rows, K = w.cols;
  // Rows are processed in blocks: a block of weights is widened once (L2-resident) and
  // reused for every activation row, so prefill reads the weights once per block.
  constexpr int64_t kBlock = 16;
  const int64_t nblocks = (N + kBlock - 1) / kBlock;
  parallel_for(nblocks, balanced_chunk(nblocks), [&](int64_t b_begin, int64_t b_end) {
    std::vector<float> buf(w.dtype == DType::F32 ? 0 : static_cast<size_t>(kBlock * K));
    for (int64_t b = b_begin; b < b_end; ++b) {
      const int64_t r0 = b * kBlock, r1 = std::min(N, r0 + kBlock);
      const float* rows;
      if (w.dtype == DType::F32) {
        rows = static_cast<const float*>(w.data) + r0 * K;
      } else {
        for (int64_t r = r0; r < r1; ++r) dequantize_row(w, r, buf.data() + (r - r0) * K);
        rows = buf.data();
      }
      for (int64_t t = 0; t < T; ++t) {
        const float* xt = x + t * K;
        float* yt = y + t * N;
        for (int64_t r = r0; r < r1; ++r) yt[r] = dot_f32(xt, rows + (r - r0) * K, K);
      }
    }
  });
}

void matmul_reference(const float* x, int64_t T, const MatrixRef& w, float* y) {
  check_plain(w);
  const int64_t N = w.rows, K = w.cols;
  std::vector<float> row(K);
  for (int64_t n = 0; n < N; ++n) {
    // Reference widening is scalar on purpose (independent of the SIMD paths).
    switch (w.dtype) {
      case DType::F32: std::copy_n(static_cast<const float*>(w.data) + n * K, K, row.data()); break;
      case DType::BF16:
        for (int64_t k = 0; k < K; ++k) row[k] = bf16_to_f32(static_cast<const uint16_t*>(w.data)[n * K + k]);
        break;
      case DType::F16:
        for (int64_t k = 0; k < K; ++k) row[k] = f16_to_f32(static_cast<const uint16_t*>(w.data)[n * K + k]);
        break;
      default: dequantize_row(w, n, row.data());
    }
    for (int64_t t = 0; t < T; ++t) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += static_cast<double>(x[t * K + k]) * row[k];
      y[t * N + n] = static_cast<float>(s);
    }
  }
}

// ------------------------------------------------------------------------------------------
// Fast paths.

namespace {

// Register-blocked micro-kernel: R weight rows x TT tokens over k in [0, len), len a multiple of 8.
// 12 accumulators + 4 weight vectors fill the 16 ymm registers for R=4, TT=3.
template <int R, int TT>
__attribute__((target("avx2,fma"))) void micro_f32(const float* w, int64_t ldw, const float* x, int64_t ldx,
                                                     int64_t len, float* out /* [TT][R] */) {
  __m256 acc[TT][R];
#pragma GCC unroll 4
  for (int t = 0; t < TT; ++t)
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) acc[t][r] = _mm256_setzero_ps();
  for (int64_t k = 0; k < len; k += 8) {
    __m256 wv[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) wv[r] = _mm256_loadu_ps(w + r * ldw + k);
#pragma GCC unroll 4
    for (int t = 0; t < TT; ++t) {
      const __m256 xv = _mm256_loadu_ps(x + t * ldx + k);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[t][r] = _mm256_fmadd_ps(wv[r], xv, acc[t][r]);
    }
  }
  if constexpr (R == 4) {
    // Four horizontal sums at once: two rounds of hadd, then the two 128-bit halves.
#pragma GCC unroll 4
    for (int t = 0; t < TT; ++t) {
      const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(acc[t][0], acc[t][1]), _mm256_hadd_ps(acc[t][2], acc[t][3]));
      _mm_storeu_ps(out + t * R, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
    }
  } else {
    for (int t = 0; t < TT; ++t)
      for (int r = 0; r < R; ++r) out[t * R + r] = hsum(acc[t][r]);
  }
}

using MicroFn = void (*)(const float*, int64_t, const float*, int64_t, int64_t, float*);

template <int R>
MicroFn micro_for_tokens(int tt) {
  switch (tt) {
    case 1: return micro_f32<R, 1>;
    case 2: return micro_f32<R, 2>;
    default: return micro_f32<R, 3>;
  }
}

MicroFn micro_for(int r, int tt) {
  switch (r) {
    case 1: return micro_for_tokens<1>(tt);
    case 2: return micro_for_tokens<2>(tt);
    case 3: return micro_for_tokens<3>(tt);
    default: return micro_for_tokens<4>(tt);
  }
}

constexpr int64_t kRowBlock = 16;   // weight rows per panel (and per OpenMP work item)
constexpr int64_t kKChunk = 512;    // panel depth: 16 x 512 floats = 32 KiB stays in L1/L2
constexpr int kTileRows = 4, kTileTokens = 3;
constexpr size_t kMaxMulti = 4;  // matrices per matmul_multi call

// Widens w[r0:r1, k0:k0+len] into buf (row stride ld), from the file layout: matrices with a
// packed copy take the int8 kernels at every T and never come here.
// Quantised types: k0 and len are whole blocks (kKChunk is a multiple of 256, K of the block size).
void widen_panel(const MatrixRef& w, int64_t r0, int64_t r1, int64_t k0, int64_t len, float* buf, int64_t ld) {
  const size_t row_bytes = dtype_bytes_for(w.dtype, w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    float* dst = buf + (r - r0) * ld;
    if (w.dtype == DType::F32) {
      std::copy_n(static_cast<const float*>(w.data) + r * w.cols + k0, len, dst);
      continue;
    }
    if (w.dtype == DType::BF16 || w.dtype == DType::F16) {
      const uint16_t* src = static_cast<const uint16_t*>(w.data) + r * w.cols + k0;
      if (w.dtype == DType::BF16) bf16_row_avx2(src, dst, len);
      else f16_row_avx2(src, dst, len);
      continue;
    }
    const uint8_t* src = static_cast<const uint8_t*>(w.data) + r * row_bytes + dtype_bytes_for(w.dtype, k0);
    switch (w.dtype) {
      case DType::Q8_0: dequantize_row_q8_0(src, dst, len); break;
      case DType::Q4_0: dequantize_row_q4_0(src, dst, len); break;
      case DType::Q4_K: dequantize_row_q4_k(src, dst, len); break;
      case DType::Q6_K: dequantize_row_q6_k(src, dst, len); break;
      default: dequantize_row_any(w.dtype, src, dst, len); break;
    }
  }
}

// F32/F16/BF16 GEMM for T >= a few tokens (AVX2): dot-product panels, each output one chain of 8
// lanes and a horizontal sum per panel depth (batch-invariant mode uses it at every T).
void gemm_float_avx2(const float* x, int64_t T, const MatrixRef& w, float* y) {
  const int64_t N = w.rows, K = w.cols;
  const int64_t nblocks = (N + kRowBlock - 1) / kRowBlock;
  const bool widen = w.dtype != DType::F32;
  parallel_for(nblocks, balanced_chunk(nblocks, 1, 4), [&](int64_t b_begin, int64_t b_end) {
    thread_local std::vector<float> buf;
    if (widen) buf.resize(static_cast<size_t>(kRowBlock * kKChunk));
    float tile[kTileRows * kTileTokens];
    for (int64_t b = b_begin; b < b_end; ++b) {
      const int64_t r0 = b * kRowBlock, r1 = std::min(N, r0 + kRowBlock);
      for (int64_t k0 = 0; k0 < K; k0 += kKChunk) {
        const int64_t len = std::min(kKChunk, K - k0), vlen = len & ~int64_t{7};
        const float* panel;
        int64_t ldw;
        if (widen) {
          widen_panel(w, r0, r1, k0, len, buf.data(), kKChunk);
          panel = buf.data();
          ldw = kKChunk;
        } else {
          panel = static_cast<const float*>(w.data) + r0 * K + k0;
          ldw = K;
        }
        for (int64_t t0 = 0; t0 < T; t0 += kTileTokens) {
          const int tt = static_cast<int>(std::min<int64_t>(kTileTokens, T - t0));
          const float* xt = x + t0 * K + k0;
          for (int64_t rr = r0; rr < r1; rr += kTileRows) {
            const int nr = static_cast<int>(std::min<int64_t>(kTileRows, r1 - rr));
            const float* wp = panel + (rr - r0) * ldw;
            micro_for(nr, tt)(wp, ldw, xt, K, vlen, tile);
            for (int t = 0; t < tt; ++t)
              for (int r = 0; r < nr; ++r) {
                float s = tile[t * nr + r];
                for (int64_t k = vlen; k < len; ++k) s += wp[r * ldw + k] * xt[t * K + k];  // K tail
                float& dst = y[(t0 + t) * N + rr + r];
                dst = k0 == 0 ? s : dst + s;
              }
          }
        }
      }
    }
  });
}

// From this many tokens the packed outer-product GEMM (kernels/gemm_prefill.h) beats the panels
// above: it packs 32 weight rows x 256 columns per block, which fewer tokens do not pay for
// (Zen 4, F16 4096x2048: about even at T=32, 1.3-1.7x at T=512).
constexpr int64_t kPrefillGemmMinTokens = 48;

// Weights multiplied as floats: the prefill GEMM for many tokens, else (and in batch-invariant
// mode, whose decode steps must sum as its prefill does) the panels.
void gemm_float(const float* x, int64_t T, const MatrixRef& w, float* y, bool invariant) {
  if (invariant || T < kPrefillGemmMinTokens || !gemm_prefill_available()) return gemm_float_avx2(x, T, w, y);
  gemm_prefill(x, T, w.rows, w.cols,
               [&w](int64_t r0, int64_t r1, int64_t k0, int64_t len, float* dst, int64_t ld) {
                 widen_panel(w, r0, r1, k0, len, dst, ld);
               },
               y);
}

QuantDotFn quant_dot_for(DType t, bool scalar) {
  QuantDotFn dot = nullptr;
  if (!scalar) {
    if (use_avx512vnni()) dot = quant_dot_avx512vnni(t);
    if (!dot && use_avx2()) dot = quant_dot_avx2(t);
  }
  return dot ? dot : quant_dot_scalar(t);
}

// Quantised weights: int8 activations, integer block dots, up to 4 tokens per weight row.
// Several matrices that read the same input (q/k/v, gate/up) share one activation quantisation and
// one parallel loop over all their row blocks. All take the same activation format (caller checks).
void matmul_quantized(const float* x, int64_t T, std::span<const MatrixRef> ws, std::span<float* const> ys,
                      bool scalar) {
  const int64_t K = ws[0].cols;
  const size_t act_bytes = activation_row_bytes(ws[0].dtype, K);
  std::vector<uint8_t> act(act_bytes * static_cast<size_t>(T));
  parallel_for(T, balanced_chunk(T, 1, 2), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) quantize_activation_row(ws[0].dtype, x + t * K, K, act.data() + t * act_bytes);
  });

  constexpr int64_t kTokens = 4;
  QuantDotFn dots[kMaxMulti];
  bool packed[kMaxMulti];
  int64_t first_block[kMaxMulti + 1] = {0};
  for (size_t m = 0; m < ws.size(); ++m) {
    dots[m] = quant_dot_for(ws[m].dtype, scalar);
    packed[m] = ws[m].packed && !scalar && interleavable(ws[m].dtype, ws[m].rows, K);
    first_block[m + 1] = first_block[m] + (ws[m].rows + kRowBlock - 1) / kRowBlock;
  }
  const int64_t nblocks = first_block[ws.size()];
  const InterleavedGemvFn gemv_packed = interleaved_gemv();
  // Prefill: a chunk's weight rows are walked once per tile of tokens, so the tile's activations
  // (64 x K int8) stay in L2 while the rows stream past them.
  constexpr int64_t kTokenTile = 64;
  parallel_for(nblocks, balanced_chunk(nblocks), [&](int64_t b_begin, int64_t b_end) {
   for (int64_t tile = 0; tile < T; tile += kTokenTile) {
    const int64_t tile_end = std::min(T, tile + kTokenTile);
    size_t m = 0;
    for (int64_t gb = b_begin; gb < b_end; ++gb) {
      while (gb >= first_block[m + 1]) ++m;
      const MatrixRef& w = ws[m];
      const int64_t N = w.rows, b = gb - first_block[m];
      const size_t row_bytes = dtype_bytes_for(w.dtype, K);
      const auto* wbase = static_cast<const uint8_t*>(w.data);
      float* y = ys[m];
      const int64_t r0 = b * kRowBlock, r1 = std::min(N, r0 + kRowBlock);
      float out[kTokens];
      for (int64_t t0 = tile; t0 < tile_end; t0 += kTokens) {
        const int nt = static_cast<int>(std::min(kTokens, tile_end - t0));
        if (packed[m]) {  // 8 rows per call, results straight into y
          for (int64_t g = r0 / kInterleaveRows; g < r1 / kInterleaveRows; ++g)
            gemv_packed(w.dtype, w.packed, K, g, act.data() + t0 * act_bytes, act_bytes, nt,
                        y + t0 * N + g * kInterleaveRows, N);
          continue;
        }
        for (int64_t r = r0; r < r1; ++r) {
          dots[m](wbase + r * row_bytes, act.data() + t0 * act_bytes, act_bytes, nt, K, out);
          for (int t = 0; t < nt; ++t) y[(t0 + t) * N + r] = out[t];
        }
      }
    }
   }
  });
}

// F16/BF16 with few tokens: fused widen-and-dot per weight row.
void matmul_half_fused(const float* x, int64_t T, const MatrixRef& w, float* y, bool scalar) {
  const int64_t N = w.rows, K = w.cols;
  const HalfDotFn dot = scalar ? half_dot_scalar(w.dtype) : half_dot_avx2(w.dtype);
  const auto* wbase = static_cast<const uint16_t*>(w.data);
  parallel_for(N, balanced_chunk(N, 16), [&](int64_t r_begin, int64_t r_end) {
    for (int64_t r = r_begin; r < r_end; ++r) {
      float out[4];
      for (int64_t t0 = 0; t0 < T; t0 += 4) {
        const int nt = static_cast<int>(std::min<int64_t>(4, T - t0));
        dot(wbase + r * K, x + t0 * K, nt, K, out);
        for (int t = 0; t < nt; ++t) y[(t0 + t) * N + r] = out[t];
      }
    }
  });
}

void matmul_f32_rows(const float* x, int64_t T, const MatrixRef& w, float* y) {
  const int64_t N = w.rows, K = w.cols;
  const auto* wf = static_cast<const float*>(w.data);
  parallel_for(N, balanced_chunk(N, 16), [&](int64_t r_begin, int64_t r_end) {
    for (int64_t r = r_begin; r < r_end; ++r)
      for (int64_t t = 0; t < T; ++t) y[t * N + r] = dot_f32(x + t * K, wf + r * K, K);
  });
}

// Below this many tokens the row-at-a-time kernels win (weights are read once either way).
constexpr int64_t kGemmMinTokens = 4;
// Quantised weights: below this many tokens the int8 kernels win even on AVX2 (their activations
// are quantised once, the float path dequantises each weight panel once per call).
std::atomic<int64_t> g_quant_gemm_min_tokens{16};
std::atomic<bool> g_batch_invariant{false};

}  // namespace

void matmul(const float* x, int64_t T, const MatrixRef& w, float* y) {
  float* ys[1] = {y};
  matmul_multi(x, T, std::span<const MatrixRef>(&w, 1), ys);
}

void matmul_multi(const float* x, int64_t T, std::span<const MatrixRef> ws, std::span<float* const> ys) {
  if (ws.size() != ys.size() || ws.empty() || ws.size() > kMaxMulti)
    fail("matmul_multi: needs 1 to " + std::to_string(kMaxMulti) + " matrices, each with an output");
  for (const MatrixRef& w : ws) {
    check_plain(w);
    if (w.cols != ws[0].cols) fail("matmul_multi: matrices read inputs of different lengths");
  }
  if (T <= 0) return;
  const bool scalar = !use_avx2();
  const bool vnni = !scalar && use_avx512vnni();
  // On AVX2 the file-layout int8 dots (maddubs+madd+convert per block, token and row) lose to a
  // dequantised float panel reused across tokens for prefill; the 8-row interleaved kernels share
  // that work across 8 rows and beat the float panel about 2x (measured: docs/benchmarks.md), so
  // packed matrices take the int8 path for every T. With VNNI the int8 path is kept for every T.
  const bool invariant = g_batch_invariant.load(std::memory_order_relaxed);
  const bool int8_tokens =
      scalar || vnni || invariant || T < g_quant_gemm_min_tokens.load(std::memory_order_relaxed);
  // Types whose int8 dots do not pay for prefill take the float panels from the same token count even
  // with VNNI: one dequantisation per panel beats a slow dot per token.
  const bool many_tokens = T >= g_quant_gemm_min_tokens.load(std::memory_order_relaxed);
  const auto int8_for = [&](const MatrixRef& w) {
    if (w.packed && interleavable(w.dtype, w.rows, w.cols)) return true;
    if (!scalar && !invariant && many_tokens && !int8_prefill_pays(w.dtype)) return false;
    return int8_tokens;
  };
  bool shared_int8 = ws[0].cols > 0;
  for (const MatrixRef& w : ws)
    shared_int8 = shared_int8 && int8_for(w) && is_quantized(w.dtype) && w.rows > 0 &&
                  activation_block_elems(w.dtype) == activation_block_elems(ws[0].dtype);
  if (shared_int8) return matmul_quantized(x, T, ws, ys, scalar);

  for (size_t m = 0; m < ws.size(); ++m) {
    const MatrixRef& w = ws[m];
    float* y = ys[m];
    if (w.rows <= 0) continue;
    if (w.cols == 0) {
      std::fill_n(y, T * w.rows, 0.0f);
      continue;
    }
    if (is_quantized(w.dtype)) {
      if (!int8_for(w)) gemm_float(x, T, w, y, invariant);
      else matmul_quantized(x, T, std::span<const MatrixRef>(&w, 1), std::span<float* const>(&y, 1), scalar);
    } else if (!scalar && (T >= kGemmMinTokens || invariant)) {
      gemm_float(x, T, w, y, invariant);
    } else if (w.dtype == DType::F32) {
      matmul_f32_rows(x, T, w, y);
    } else {
      matmul_half_fused(x, T, w, y, scalar);
    }
  }
}

void set_batch_invariant(bool on) { g_batch_invariant.store(on, std::memory_order_relaxed); }
bool batch_invariant() { return g_batch_invariant.load(std::memory_order_relaxed); }

void set_quantized_prefill_min_tokens(int64_t tokens) {
  g_quant_gemm_min_tokens.store(std::max<int64_t>(1, tokens), std::memory_order_relaxed);
}

void matmul_reference_int8(const float* x, int64_t T, const MatrixRef& w, float* y) {
  check_plain(w);
  if (!is_quantized(w.dtype)) fail(std::string("matmul_reference_int8: ") + dtype_name(w.dtype) + " is not quantised");
  const int64_t N = w.rows, K = w.cols;
  const size_t act_bytes = activation_row_bytes(w.dtype, K), row_bytes = dtype_bytes_for(w.dtype, K);
  std::vector<uint8_t> act(act_bytes);
  const QuantDotFn dot = quant_dot_scalar(w.dtype);
  for (int64_t t = 0; t < T; ++t) {
    quantize_activation_row(w.dtype, x + t * K, K, act.data());
    for (int64_t n = 0; n < N; ++n) dot(static_cast<const uint8_t*>(w.data) + n * row_bytes, act.data(), act_bytes, 1, K,
                                        y + t * N + n);
  }
}

bool int8_prefill_pays(DType t) {
  // Zen 4, 4096x2048, T=512: Q3_K int8 AVX2 dots 133 ms, float panels 84 ms.
  return quant_dot_avx2(t) != nullptr && t != DType::Q2_K && t != DType::Q3_K;
}

}  // namespace exaone
