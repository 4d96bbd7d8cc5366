#include "kernels/attention.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "kernels/simd_avx2.h"
#include "util/error.h"
#include "util/parallel.h"

namespace exaone {

namespace {

struct KeyRange {
  int64_t lo, hi;  // inclusive positions
};

KeyRange visible(int64_t pos, const AttentionShape& s) {
  int64_t lo = s.window > 0 ? std::max<int64_t>(0, pos - s.window + 1) : 0;
  return {lo, pos};
}

#define EXAONE_AVX2_KV __attribute__((target("avx2,fma,f16c")))

// Where kv head `kvh` of position p (< n_past) sits in a cache layer.
struct CacheGeometry {
  bool tiled;
  int64_t ring;
  size_t head_bytes, row_bytes;
  const uint8_t* row(const void* base, int64_t p, int64_t kvh) const {
    return static_cast<const uint8_t*>(base) + kv_offset(tiled, ring > 0 ? p % ring : p, kvh, head_bytes, row_bytes);
  }
  void prefetch(const void* base, int64_t p, int64_t kvh) const {
    const char* r = reinterpret_cast<const char*>(row(base, p, kvh));
    for (size_t off = 0; off < head_bytes; off += 64) _mm_prefetch(r + off, _MM_HINT_T0);
  }
};

CacheGeometry geometry(const PastKV& past, int64_t hd, int64_t kv_dim) {
  return {past.tiled, past.ring, dtype_bytes_for(past.dtype, hd), dtype_bytes_for(past.dtype, kv_dim)};
}

// Widens `n` cached rows of kv head `kvh` (positions p0.., all < n_past) of an F16/BF16/Q8_0 cache
// into dst (hd floats each), for one key tile at once: row by row through dequantize_row, the
// per-call dispatch cost more than the widening (decode at depth 1024 with an F16 cache ran at
// three quarters of the F32 speed). Each row also prefetches the same row of the next tile (when
// below `prefetch_below`, the cached positions): the tile after this one is then on its way while
// this one is scored; without it decode attention at depth 2048 took ~1.25x as long (Zen 4, session 8).
EXAONE_AVX2_KV void widen_rows_avx2(DType t, const CacheGeometry& g, const void* base, int64_t kvh, int64_t p0,
                                    int64_t n, int64_t prefetch_below, int64_t hd, float* dst) {
  for (int64_t j = 0; j < n; ++j, dst += hd) {
    const int64_t p = p0 + j;
    const uint8_t* src = g.row(base, p, kvh);
    if (p + kKVTileRows < prefetch_below) g.prefetch(base, p + kKVTileRows, kvh);
    if (t == DType::F16) {
      for (int64_t i = 0; i < hd; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i))));
    } else if (t == DType::BF16) {
      for (int64_t i = 0; i < hd; i += 8) {
        const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
      }
    } else {  // Q8_0: hd / 32 blocks
      const auto* b = reinterpret_cast<const BlockQ8_0*>(src);
      for (int64_t blk = 0; blk < hd / kQBlock; ++blk) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[blk].d));
        for (int q = 0; q < 4; ++q) {
          const __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b[blk].qs + 8 * q)));
          _mm256_storeu_ps(dst + blk * kQBlock + 8 * q, _mm256_mul_ps(_mm256_cvtepi32_ps(v), d));
        }
      }
    }
  }
}

void widen_rows(const PastKV& past, const void* base, int64_t p0, int64_t n, int64_t kvh, int64_t hd,
                int64_t kv_dim, bool simd, float* dst) {
  const CacheGeometry g = geometry(past, hd, kv_dim);
  if (simd && hd % 8 == 0 && (past.dtype == DType::F16 || past.dtype == DType::BF16 || past.dtype == DType::Q8_0))
    return widen_rows_avx2(past.dtype, g, base, kvh, p0, n, past.n_past, hd, dst);
  for (int64_t j = 0; j < n; ++j) dequantize_row(MatrixRef{past.dtype, g.row(base, p0 + j, kvh), 1, hd}, 0, dst + j * hd);
}

// K and V of kv head `kvh` at position `p` as floats: from the chunk itself, or from the cache
// (slot p, or p % ring); cached rows of a narrower type are widened into kbuf/vbuf.
struct HeadKV {
  const float* k;
  const float* v;
};
inline HeadKV head_kv(const PastKV& past, const float* k_cur, const float* v_cur, int64_t p, int64_t kvh, int64_t hd,
                      int64_t kv_dim, float* kbuf, float* vbuf) {
  if (p >= past.n_past) {
    const int64_t off = (p - past.n_past) * kv_dim + kvh * hd;
    return {k_cur + off, v_cur + off};
  }
  if (past.dtype == DType::F32) {
    const CacheGeometry g = geometry(past, hd, kv_dim);
    return {reinterpret_cast<const float*>(g.row(past.k, p, kvh)), reinterpret_cast<const float*>(g.row(past.v, p, kvh))};
  }
  widen_rows(past, past.k, p, 1, kvh, hd, kv_dim, false, kbuf);
  widen_rows(past, past.v, p, 1, kvh, hd, kv_dim, false, vbuf);
  return {kbuf, vbuf};
}

void check_past(const PastKV& past, int64_t lo) {
  if (past.ring > 0 && lo < past.n_past && lo < past.n_past - past.ring)
    fail("attention: position " + std::to_string(lo) + " is no longer in the sliding-window cache");
}

}  // namespace

namespace {

// The three steps of one key tile for one query head, plain and AVX2:
//   scores: s_j = scale * (q · k_j);  softmax: s_j = exp(s_j - m), returns Σ s_j;  values: acc += Σ_j s_j v_j.
struct TileOps {
  void (*scores)(const float* q, const HeadKV* rows, int64_t n, int64_t hd, float scale, float* s);
  float (*max)(const float* s, int64_t n);  // n >= 1
  float (*softmax)(float* s, int64_t n, float m);
  void (*values)(const float* s, const HeadKV* rows, int64_t n, int64_t hd, float* acc);
};

void scores_plain(const float* q, const HeadKV* rows, int64_t n, int64_t hd, float scale, float* s) {
  for (int64_t j = 0; j < n; ++j) {
    float d = 0;
    for (int64_t i = 0; i < hd; ++i) d += q[i] * rows[j].k[i];
    s[j] = d * scale;
  }
}
float max_plain(const float* s, int64_t n) { return *std::max_element(s, s + n); }
float softmax_plain(float* s, int64_t n, float m) {
  float sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += (s[j] = std::exp(s[j] - m));
  return sum;
}
void values_plain(const float* s, const HeadKV* rows, int64_t n, int64_t hd, float* acc) {
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < hd; ++i) acc[i] += s[j] * rows[j].v[i];
}

#define EXAONE_AVX2 __attribute__((target("avx2,fma")))

using simd::exp8;
using simd::hsum;

// Eight keys at a time: q is loaded once per 8 columns for all of them, and the eight sums are
// reduced together (hadd tree) instead of one horizontal sum per key.
EXAONE_AVX2 void scores_avx2(const float* q, const HeadKV* rows, int64_t n, int64_t hd, float scale, float* s) {
  int64_t j = 0;
  if (hd % 8 == 0) {
    for (; j + 8 <= n; j += 8) {
      // Unrolled so the 8 sums live in registers (a rolled k loop kept them on the stack).
      __m256 acc[8];
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) acc[k] = _mm256_setzero_ps();
      const float* kr[8];
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) kr[k] = rows[j + k].k;
      for (int64_t i = 0; i < hd; i += 8) {
        const __m256 qv = _mm256_loadu_ps(q + i);
#pragma GCC unroll 8
        for (int k = 0; k < 8; ++k) acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(kr[k] + i), qv, acc[k]);
      }
      const __m256 h01 = _mm256_hadd_ps(acc[0], acc[1]), h23 = _mm256_hadd_ps(acc[2], acc[3]);
      const __m256 h45 = _mm256_hadd_ps(acc[4], acc[5]), h67 = _mm256_hadd_ps(acc[6], acc[7]);
      const __m256 h0123 = _mm256_hadd_ps(h01, h23), h4567 = _mm256_hadd_ps(h45, h67);
      const __m256 sum = _mm256_add_ps(_mm256_permute2f128_ps(h0123, h4567, 0x20), _mm256_permute2f128_ps(h0123, h4567, 0x31));
      _mm256_storeu_ps(s + j, _mm256_mul_ps(sum, _mm256_set1_ps(scale)));
    }
  }
  for (; j < n; ++j) {
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= hd; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(rows[j].k + i), _mm256_loadu_ps(q + i), acc);
    float d = hsum(acc);
    for (; i < hd; ++i) d += q[i] * rows[j].k[i];
    s[j] = d * scale;
  }
}

// The tile maximum 8 lanes at a time (a scalar max is one dependent compare per key): prefill
// attention at T=512 26.7 -> 25.0 ms per layer.
EXAONE_AVX2 float max_avx2(const float* s, int64_t n) {
  int64_t j = 0;
  float m = s[0];
  if (n >= 8) {
    __m256 v = _mm256_loadu_ps(s);
    for (j = 8; j + 8 <= n; j += 8) v = _mm256_max_ps(v, _mm256_loadu_ps(s + j));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    m = _mm_cvtss_f32(h);
  }
  for (; j < n; ++j) m = std::max(m, s[j]);
  return m;
}

EXAONE_AVX2 float softmax_avx2(float* s, int64_t n, float m) {
  const __m256 mv = _mm256_set1_ps(m);
  __m256 sum = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), mv));
    _mm256_storeu_ps(s + j, e);
    sum = _mm256_add_ps(sum, e);
  }
  float total = hsum(sum);
  for (; j < n; ++j) total += (s[j] = std::exp(s[j] - m));
  return total;
}

// acc += Σ_j s_j v_j, 64 columns at a time in registers (one load and FMA per 8 values per key).
EXAONE_AVX2 void values_avx2(const float* s, const HeadKV* rows, int64_t n, int64_t hd, float* acc) {
  int64_t c0 = 0;
  for (; c0 + 64 <= hd; c0 += 64) {
    __m256 a[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) a[k] = _mm256_loadu_ps(acc + c0 + 8 * k);
    for (int64_t j = 0; j < n; ++j) {
      const __m256 e = _mm256_set1_ps(s[j]);
      const float* v = rows[j].v + c0;
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) a[k] = _mm256_fmadd_ps(e, _mm256_loadu_ps(v + 8 * k), a[k]);
    }
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) _mm256_storeu_ps(acc + c0 + 8 * k, a[k]);
  }
  if (c0 == hd) return;  // (the usual head_dim 64 or 128: an empty pass over the keys cost 13% of decode attention)
  for (int64_t j = 0; j < n; ++j) {
    const __m256 e = _mm256_set1_ps(s[j]);
    int64_t i = c0;
    for (; i + 8 <= hd; i += 8)
      _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(e, _mm256_loadu_ps(rows[j].v + i), _mm256_loadu_ps(acc + i)));
    for (; i < hd; ++i) acc[i] += s[j] * rows[j].v[i];
  }
}

constexpr int64_t kKeyTile = 64;  // keys scored per softmax step

// ---- AVX-512: a tile's rows read straight from the cache, all query heads of a token at once ----
//
// The AVX2 path widens each key tile into float buffers and then runs one query head at a time
// over them: at depth 2048 on the 1.2B shape that took ~35 cycles per (query head, key) on Zen 4,
// where the multiply-adds need 8. Here cached rows are widened in registers as they are used (no
// store and reload), 4 heads x 4 keys share each load of q and k, and 16 dot products end in one
// transposing reduction. Every (head, key) score comes out of the same operations whichever heads
// and keys share its group, and values accumulate key by key, so a token's output does not depend
// on the batch or chunk it comes in.

#define EXAONE_AVX512_KV __attribute__((target("avx512f,avx512vl,avx512dq,fma,f16c")))

// GCC 12 takes the _mm512_undefined_*() inside these intrinsics for uninitialised reads.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// Elements 16c..16c+15 of a cached (type T) or current (F32) row, widened exactly as widen_rows does.
template <DType T>
EXAONE_AVX512_KV inline __m512 load16(const uint8_t* row, int64_t c) {
  if constexpr (T == DType::F32) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + 16 * c);
  } else if constexpr (T == DType::F16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 32 * c)));
  } else if constexpr (T == DType::BF16) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 32 * c)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  } else {  // Q8_0: half c % 2 of block c / 2
    const auto* b = reinterpret_cast<const BlockQ8_0*>(row) + c / 2;
    const __m512i v = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs + 16 * (c % 2))));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(v), _mm512_set1_ps(_cvtsh_ss(b->d)));
  }
}

// Lane i of the result: the sum of v[i]'s 16 lanes, by one tree for all 16 inputs.
EXAONE_AVX512_KV inline __m512 reduce16(const __m512* v) {
  __m512 t[8], u[4], w[2];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i)  // per 128-bit lane L: (v[2i] lanes 0+2, v[2i+1] 0+2, v[2i] 1+3, v[2i+1] 1+3)
    t[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {  // per 128-bit lane L: the lane's sum of v[4i..4i+3]
    const __m512d a = _mm512_castps_pd(t[2 * i]), b = _mm512_castps_pd(t[2 * i + 1]);
    u[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
  }
#pragma GCC unroll 2
  for (int i = 0; i < 2; ++i)  // (u[2i] lanes 0+1, u[2i] 2+3, u[2i+1] 0+1, u[2i+1] 2+3)
    w[i] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(w[0], w[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(w[0], w[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

// out[h][j] = scale * (q_h · row_j) for nh <= 4 heads and keys j in [0, n); C = head_dim / 16.
template <DType T, int C>
EXAONE_AVX512_KV void scores_avx512(const float* const* qh, int nh, const uint8_t* const* rows, int64_t n, float scale,
                                    float* const* out) {
  const float* q[4];
  for (int h = 0; h < 4; ++h) q[h] = qh[std::min(h, nh - 1)];  // missing heads repeat the last (dropped)
  for (int64_t j = 0; j < n; j += 4) {
    const uint8_t* kr[4];
    for (int k = 0; k < 4; ++k) kr[k] = rows[std::min<int64_t>(j + k, n - 1)];
    __m512 acc[16];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      __m512 kv[4];
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) kv[k] = load16<T>(kr[k], c);
#pragma GCC unroll 4
      for (int h = 0; h < 4; ++h) {
        const __m512 qv = _mm512_loadu_ps(q[h] + 16 * c);
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k)
          acc[4 * h + k] = c == 0 ? _mm512_mul_ps(kv[k], qv) : _mm512_fmadd_ps(kv[k], qv, acc[4 * h + k]);
      }
    }
    const __m512 r = _mm512_mul_ps(reduce16(acc), _mm512_set1_ps(scale));  // 128-bit lane h: head h's 4 keys
    if (j + 4 <= n) {
      _mm_storeu_ps(out[0] + j, _mm512_castps512_ps128(r));
      if (nh > 1) _mm_storeu_ps(out[1] + j, _mm512_extractf32x4_ps(r, 1));
      if (nh > 2) _mm_storeu_ps(out[2] + j, _mm512_extractf32x4_ps(r, 2));
      if (nh > 3) _mm_storeu_ps(out[3] + j, _mm512_extractf32x4_ps(r, 3));
    } else {
      alignas(64) float t[16];
      _mm512_store_ps(t, r);
      for (int h = 0; h < nh; ++h)
        for (int64_t k = 0; k < n - j; ++k) out[h][j + k] = t[4 * h + k];
    }
  }
}

// acc[h] += Σ_j w[h][j] row_j for nh <= 16 / C heads (their accumulators stay in registers).
template <DType T, int C>
EXAONE_AVX512_KV void values_avx512(const float* const* w, int nh, const uint8_t* const* rows, int64_t n,
                                    float* const* acc) {
  constexpr int G = 16 / C;
  __m512 a[G][C];
#pragma GCC unroll 16
  for (int h = 0; h < G; ++h)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) a[h][c] = h < nh ? _mm512_loadu_ps(acc[h] + 16 * c) : _mm512_setzero_ps();
  for (int64_t j = 0; j < n; ++j) {
    __m512 v[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) v[c] = load16<T>(rows[j], c);
#pragma GCC unroll 16
    for (int h = 0; h < G; ++h) {
      if (h >= nh) break;
      const __m512 e = _mm512_set1_ps(w[h][j]);
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) a[h][c] = _mm512_fmadd_ps(e, v[c], a[h][c]);
    }
  }
#pragma GCC unroll 16
  for (int h = 0; h < G; ++h)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c)
      if (h < nh) _mm512_storeu_ps(acc[h] + 16 * c, a[h][c]);
}

// The kernels for one row type and head_dim (16, 32, 64 or 128), chosen once per call.
struct FusedOps {
  void (*scores)(const float* const*, int, const uint8_t* const*, int64_t, float, float* const*) = nullptr;
  void (*values)(const float* const*, int, const uint8_t* const*, int64_t, float* const*) = nullptr;
  int heads_per_values = 0;  // 16 / C
};

template <DType T>
FusedOps fused_ops_for(int64_t hd) {
  switch (hd) {
    case 16: return {scores_avx512<T, 1>, values_avx512<T, 1>, 16};
    case 32: return {scores_avx512<T, 2>, values_avx512<T, 2>, 8};
    case 64: return {scores_avx512<T, 4>, values_avx512<T, 4>, 4};
    case 128: return {scores_avx512<T, 8>, values_avx512<T, 8>, 2};
    default: return {};
  }
}

FusedOps fused_ops(DType t, int64_t hd) {
  switch (t) {
    case DType::F32: return fused_ops_for<DType::F32>(hd);
    case DType::F16: return fused_ops_for<DType::F16>(hd);
    case DType::BF16: return fused_ops_for<DType::BF16>(hd);
    case DType::Q8_0: return fused_ops_for<DType::Q8_0>(hd);
    default: return {};
  }
}

#pragma GCC diagnostic pop

// One key tile [p0, p0 + n) of one (token block, kv head) item on the AVX-512 kernels: scores of
// every state (token b, head g: row b * group + g of score/acc/m/l), the online-softmax step, values.
void fused_tile(const FusedOps& past_ops, const FusedOps& cur_ops, const AttentionSeq& a, const AttentionShape& s,
                int64_t t0, int64_t nb, int64_t kvh, const KeyRange* kr, int64_t p0, int64_t n, float* score,
                float* acc, float* m, float* l) {
  const PastKV& past = a.past;
  const int64_t hd = s.head_dim, kv_stride = s.n_kv_heads * hd, group = s.n_heads / s.n_kv_heads;
  const CacheGeometry geo = geometry(past, hd, kv_stride);
  const int64_t n_cached = std::clamp<int64_t>(past.n_past - p0, 0, n);
  const uint8_t* kp[kKeyTile];
  const uint8_t* vp[kKeyTile];
  // A tiled linear cache holds the tile's rows of this head one after another.
  const bool contiguous = past.tiled && past.ring == 0 && p0 % kKVTileRows == 0 && kKeyTile <= kKVTileRows;
  const uint8_t* k0 = n_cached > 0 && contiguous ? geo.row(past.k, p0, kvh) : nullptr;
  const uint8_t* v0 = n_cached > 0 && contiguous ? geo.row(past.v, p0, kvh) : nullptr;
  for (int64_t j = 0; j < n; ++j) {
    if (j < n_cached && k0) {
      kp[j] = k0 + j * geo.head_bytes;
      vp[j] = v0 + j * geo.head_bytes;
    } else if (j < n_cached) {
      kp[j] = geo.row(past.k, p0 + j, kvh);
      vp[j] = geo.row(past.v, p0 + j, kvh);
    } else {
      const int64_t off = (p0 + j - past.n_past) * kv_stride + kvh * hd;
      kp[j] = reinterpret_cast<const uint8_t*>(a.k_cur + off);
      vp[j] = reinterpret_cast<const uint8_t*>(a.v_cur + off);
    }
  }
  // No software prefetch: with an item's heads read as one run the hardware prefetchers keep up,
  // and prefetching the next tile here made decode attention at depth 2048 ~20 % slower.
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t j0 = std::max(p0, kr[b].lo) - p0, j1 = std::min(p0 + n - 1, kr[b].hi) - p0 + 1;
    if (j1 <= j0) continue;  // none of this tile is visible to this token
    const int64_t split = std::clamp(n_cached, j0, j1);  // [j0, split) cached, [split, j1) from the chunk
    auto for_parts = [&](auto&& fn) {  // fn(kernels for the rows' type, from, to) on each non-empty part
      if (split > j0) fn(past_ops, j0, split);
      if (j1 > split) fn(cur_ops, split, j1);
    };
    const float* qh[16];
    float* rows_out[16];
    for (int64_t g0 = 0; g0 < group; g0 += 4) {
      const int nh = static_cast<int>(std::min<int64_t>(4, group - g0));
      for (int h = 0; h < nh; ++h) {
        qh[h] = a.q + ((t0 + b) * s.n_heads + kvh * group + g0 + h) * hd;
        rows_out[h] = score + (b * group + g0 + h) * kKeyTile;
      }
      for_parts([&](const FusedOps& ops, int64_t from, int64_t to) {
        float* o[4];
        for (int h = 0; h < nh; ++h) o[h] = rows_out[h] + from;
        ops.scores(qh, nh, kp + from, to - from, s.scale, o);
      });
    }
    for (int64_t g = 0; g < group; ++g) {
      const int64_t st = b * group + g;
      float* sc = score + st * kKeyTile + j0;
      const float tile_max = max_avx2(sc, j1 - j0);
      if (tile_max > m[st]) {
        const float corr = std::exp(m[st] - tile_max);  // exp(-inf) = 0 on the first tile
        l[st] *= corr;
        for (int64_t c = 0; c < hd; ++c) acc[st * hd + c] *= corr;
        m[st] = tile_max;
      }
      l[st] += softmax_avx2(sc, j1 - j0, m[st]);
    }
    const int step = past_ops.heads_per_values;
    for (int64_t g0 = 0; g0 < group; g0 += step) {
      const int nh = static_cast<int>(std::min<int64_t>(step, group - g0));
      const float* w[16];
      float* out[16];
      for (int h = 0; h < nh; ++h) {
        w[h] = score + (b * group + g0 + h) * kKeyTile;
        out[h] = acc + (b * group + g0 + h) * hd;
      }
      for_parts([&](const FusedOps& ops, int64_t from, int64_t to) {
        const float* wj[16];
        for (int h = 0; h < nh; ++h) wj[h] = w[h] + from;
        ops.values(wj, nh, vp + from, to - from, out);
      });
    }
  }
}

}  // namespace

void attention(const float* q, const float* k_cur, const float* v_cur, int64_t T, const PastKV& past,
               const AttentionShape& s, float* out) {
  const AttentionSeq seq{q, k_cur, v_cur, T, past, out};
  attention_batch({&seq, 1}, s);
}

const char* attention_kernel_name() {
  const CpuFeatures& f = cpu_features();
  if (force_scalar_kernels() || !f.avx2 || !f.fma) return "scalar";
  if (!force_avx2_kernels() && f.avx512f && f.avx512vl && f.f16c) return "avx512 tiles (4 heads x 4 keys)";
  return "avx2 (tiles widened to float)";
}

void attention_batch(std::span<const AttentionSeq> seqs, const AttentionShape& s) {
  const int64_t hd = s.head_dim, kv_stride = s.n_kv_heads * hd, group = s.n_heads / s.n_kv_heads;
  for (const AttentionSeq& a : seqs) {
    if (a.T > 0) check_past(a.past, visible(a.past.n_past, s).lo);
    if (a.past.dtype != DType::F32 && hd % dtype_block_elems(a.past.dtype) != 0)
      fail(std::string("attention: head_dim must be a multiple of the ") + dtype_name(a.past.dtype) + " block");
  }
  const bool simd = !force_scalar_kernels() && cpu_features().avx2 && cpu_features().fma;
  // AVX-512 tiles where the CPU has it (EXAONE_KERNELS=avx2 keeps the AVX2 path); the chunk's own
  // rows are F32, the cached ones of the cache's type.
  const bool avx512 = simd && !force_avx2_kernels() && cpu_features().avx512f && cpu_features().avx512vl &&
                      cpu_features().f16c;
  const FusedOps fused_cur = avx512 ? fused_ops(DType::F32, hd) : FusedOps{};
  const TileOps ops = simd ? TileOps{scores_avx2, max_avx2, softmax_avx2, values_avx2}
                           : TileOps{scores_plain, max_plain, softmax_plain, values_plain};
  // Work items are (sequence, block of up to kQueryBlock tokens, kv head): a key tile, fetched (and
  // widened, for F16/BF16/Q8_0 caches) once, serves every query head of the group for every token
  // of the block, each over the keys it may see. Keys go in tiles with a softmax rescale per tile.
  // Causal work grows with the position, so a sequence's items go out last block first (the
  // longest ones start early and the short ones fill the gaps), in chunks small enough to even out
  // the end.
  //
  // An item takes `heads` consecutive kv heads, a tile of each in turn: in the tiled cache their rows
  // of a tile are one contiguous run, which streams from DRAM at ~19 GB/s on one Zen 4 core where
  // one head's 8 KiB runs (64 KiB apart) gave ~11. As many heads per item as still leave every
  // thread an item.
  constexpr int64_t kQueryBlock = 4;
  int64_t blocks = 0;
  for (const AttentionSeq& a : seqs) blocks += (a.T + kQueryBlock - 1) / kQueryBlock;
  int64_t heads = 1;
  for (int64_t d = s.n_kv_heads; d > 1; --d)
    if (s.n_kv_heads % d == 0 && blocks * (s.n_kv_heads / d) >= num_threads()) {
      heads = d;
      break;
    }
  const int64_t head_groups = s.n_kv_heads / heads;
  std::vector<int64_t> first_item(seqs.size() + 1, 0);  // items of sequence i: [first_item[i], first_item[i+1])
  for (size_t i = 0; i < seqs.size(); ++i)
    first_item[i + 1] = first_item[i] + (seqs[i].T + kQueryBlock - 1) / kQueryBlock * head_groups;
  const int64_t items = first_item.back();
  if (items == 0) return;
  const int64_t states = kQueryBlock * group;  // (token of the block, query head of the group) per kv head
  parallel_for(items, balanced_chunk(items, 1, 16), [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> acc_all, kbuf, vbuf, score, m_all, l_all;
    thread_local std::vector<HeadKV> rows;
    acc_all.resize(heads * states * hd);
    kbuf.resize(kKeyTile * hd);
    vbuf.resize(kKeyTile * hd);
    score.resize(states * kKeyTile);
    m_all.resize(heads * states);
    l_all.resize(heads * states);
    rows.resize(kKeyTile);
    size_t si = 0;
    for (int64_t i = begin; i < end; ++i) {
      while (first_item[si + 1] <= i) ++si;
      const AttentionSeq& a = seqs[si];
      const PastKV& past = a.past;
      const int64_t T = a.T;
      const float* q = a.q;
      const int64_t item = first_item[si + 1] - 1 - (i - first_item[si]);  // last block first
      const int64_t local = item - first_item[si];
      const int64_t t0 = local / head_groups * kQueryBlock, kvh0 = local % head_groups * heads;
      const int64_t nb = std::min(kQueryBlock, T - t0);
      KeyRange kr[kQueryBlock];
      for (int64_t b = 0; b < nb; ++b) kr[b] = visible(past.n_past + t0 + b, s);
      std::fill(acc_all.begin(), acc_all.end(), 0.0f);
      std::fill(m_all.begin(), m_all.end(), -std::numeric_limits<float>::infinity());
      std::fill(l_all.begin(), l_all.end(), 0.0f);
      // Ranges only move forward with the position: the block needs keys kr[0].lo .. kr[nb-1].hi.
      // Tiles start at multiples of kKeyTile, so a query meets the same tiles (and sums in the same
      // order) whichever block or chunk it comes in: a sequence's output does not depend on how
      // its prompt was split or batched.
      const FusedOps fused_past = fused_cur.scores ? fused_ops(past.dtype, hd) : FusedOps{};
      for (int64_t p0 = kr[0].lo / kKeyTile * kKeyTile; p0 <= kr[nb - 1].hi; p0 += kKeyTile)
      for (int64_t kvh = kvh0; kvh < kvh0 + heads; ++kvh) {
        float* acc = acc_all.data() + (kvh - kvh0) * states * hd;
        float* m = m_all.data() + (kvh - kvh0) * states;
        float* l = l_all.data() + (kvh - kvh0) * states;
        const int64_t n = std::min(kKeyTile, kr[nb - 1].hi - p0 + 1);
        if (fused_past.scores) {
          fused_tile(fused_past, fused_cur, a, s, t0, nb, kvh, kr, p0, n, score.data(), acc, m, l);
          continue;
        }
        // Cached rows of a narrower type: the tile's share of them widened at once.
        const int64_t n_cached = past.dtype == DType::F32 ? 0 : std::clamp<int64_t>(past.n_past - p0, 0, n);
        if (n_cached > 0) {
          widen_rows(past, past.k, p0, n_cached, kvh, hd, kv_stride, simd, kbuf.data());
          widen_rows(past, past.v, p0, n_cached, kvh, hd, kv_stride, simd, vbuf.data());
        } else if (past.dtype == DType::F32 && p0 + kKVTileRows < past.n_past) {
          // F32 rows are read in place: prefetch the next tile here, as widen_rows does for the others.
          const CacheGeometry g = geometry(past, hd, kv_stride);
          for (int64_t j = 0; j < n && p0 + kKVTileRows + j < past.n_past; ++j)
            for (const void* base : {past.k, past.v}) g.prefetch(base, p0 + kKVTileRows + j, kvh);
        }
        for (int64_t j = 0; j < n; ++j)
          rows[j] = j < n_cached ? HeadKV{kbuf.data() + j * hd, vbuf.data() + j * hd}
                                 : head_kv(past, a.k_cur, a.v_cur, p0 + j, kvh, hd, kv_stride, nullptr, nullptr);
        for (int64_t b = 0; b < nb; ++b) {
          const int64_t j0 = std::max(p0, kr[b].lo) - p0, j1 = std::min(p0 + n - 1, kr[b].hi) - p0 + 1;
          if (j1 <= j0) continue;  // none of this tile is visible to this token
          const float* qg = q + ((t0 + b) * s.n_heads + kvh * group) * hd;  // the group's heads, consecutive
          for (int64_t g = 0; g < group; ++g) {
            const int64_t st = b * group + g;
            float* sc = score.data();
            float* ag = acc + st * hd;
            ops.scores(qg + g * hd, rows.data() + j0, j1 - j0, hd, s.scale, sc);
            const float tile_max = ops.max(sc, j1 - j0);
            if (tile_max > m[st]) {
              const float corr = std::exp(m[st] - tile_max);  // exp(-inf) = 0 on the first tile
              l[st] *= corr;
              for (int64_t c = 0; c < hd; ++c) ag[c] *= corr;
              m[st] = tile_max;
            }
            l[st] += ops.softmax(sc, j1 - j0, m[st]);
            ops.values(sc, rows.data() + j0, j1 - j0, hd, ag);
          }
        }
      }
      for (int64_t kvh = kvh0; kvh < kvh0 + heads; ++kvh)
        for (int64_t b = 0; b < nb; ++b)
          for (int64_t g = 0; g < group; ++g) {
            const int64_t st = (kvh - kvh0) * states + b * group + g;
            float* o = a.out + ((t0 + b) * s.n_heads + kvh * group + g) * hd;
            const float inv = 1.0f / l_all[st];
            for (int64_t c = 0; c < hd; ++c) o[c] = acc_all[st * hd + c] * inv;
          }
    }
  });
}

void attention_reference(const float* q, const float* k_cur, const float* v_cur, int64_t T, const PastKV& past,
                         const AttentionShape& s, float* out) {
  const int64_t hd = s.head_dim, kv_stride = s.n_kv_heads * hd, group = s.n_heads / s.n_kv_heads;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t pos = past.n_past + t;
    const KeyRange kr = visible(pos, s);
    for (int64_t h = 0; h < s.n_heads; ++h) {
      const int64_t kvh = h / group;
      std::vector<double> sc;
      std::vector<std::vector<float>> vs;
      std::vector<float> kbuf(hd), vbuf(hd);
      for (int64_t p = kr.lo; p <= kr.hi; ++p) {
        const HeadKV kv = head_kv(past, k_cur, v_cur, p, kvh, hd, kv_stride, kbuf.data(), vbuf.data());
        double d = 0;
        for (int64_t i = 0; i < hd; ++i) d += static_cast<double>(q[(t * s.n_heads + h) * hd + i]) * kv.k[i];
        sc.push_back(d * s.scale);
        vs.emplace_back(kv.v, kv.v + hd);
      }
      const double mx = *std::max_element(sc.begin(), sc.end());
      double z = 0;
      for (auto& v : sc) z += (v = std::exp(v - mx));
      for (int64_t i = 0; i < hd; ++i) {
        double a = 0;
        for (size_t j = 0; j < sc.size(); ++j) a += sc[j] / z * vs[j][i];
        out[(t * s.n_heads + h) * hd + i] = static_cast<float>(a);
      }
    }
  }
}

}  // namespace exaone
