#include "kernels/attention.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
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
  const int64_t slot = past.ring > 0 ? p % past.ring : p;
  if (past.dtype == DType::F32) {
    const int64_t off = slot * kv_dim + kvh * hd;
    return {static_cast<const float*>(past.k) + off, static_cast<const float*>(past.v) + off};
  }
  const size_t off = slot * dtype_bytes_for(past.dtype, kv_dim) + dtype_bytes_for(past.dtype, kvh * hd);
  dequantize_row(MatrixRef{past.dtype, static_cast<const uint8_t*>(past.k) + off, 1, hd}, 0, kbuf);
  dequantize_row(MatrixRef{past.dtype, static_cast<const uint8_t*>(past.v) + off, 1, hd}, 0, vbuf);
  return {kbuf, vbuf};
}

void check_past(const PastKV& past, int64_t lo) {
  if (past.ring > 0 && lo < past.n_past && lo < past.n_past - past.ring)
    fail("attention: position " + std::to_string(lo) + " is no longer in the sliding-window cache");
}

}  // namespace

namespace {

// Dot and axpy over one head's vector (head_dim floats; any length, AVX2 for each 8).
#define EXAONE_AVX2 __attribute__((target("avx2,fma")))
EXAONE_AVX2 float dot_avx2(const float* a, const float* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  s0 = _mm256_add_ps(s0, s1);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
  float r = _mm_cvtss_f32(h);
  for (; i < n; ++i) r += a[i] * b[i];
  return r;
}
EXAONE_AVX2 void axpy_avx2(float a, const float* x, float* y, int64_t n) {  // y += a x
  const __m256 av = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}
float dot_plain(const float* a, const float* b, int64_t n) {
  float r = 0;
  for (int64_t i = 0; i < n; ++i) r += a[i] * b[i];
  return r;
}
void axpy_plain(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

constexpr int64_t kKeyTile = 64;  // keys scored per softmax step

}  // namespace

void attention(const float* q, const float* k_cur, const float* v_cur, int64_t T, const PastKV& past,
               const AttentionShape& s, float* out) {
  const int64_t hd = s.head_dim, kv_stride = s.n_kv_heads * hd, group = s.n_heads / s.n_kv_heads;
  if (T > 0) check_past(past, visible(past.n_past, s).lo);
  if (past.dtype != DType::F32 && hd % dtype_block_elems(past.dtype) != 0)
    fail(std::string("attention: head_dim must be a multiple of the ") + dtype_name(past.dtype) + " block");
  const bool simd = !force_scalar_kernels() && cpu_features().avx2 && cpu_features().fma;
  const auto dot = simd ? dot_avx2 : dot_plain;
  const auto axpy = simd ? axpy_avx2 : axpy_plain;
  // Work items are (token, kv head): the `group` query heads that share a kv head read each K/V
  // row once (widened once for F16/BF16/Q8_0 caches). Keys go in tiles with a softmax rescale per
  // tile, not per key.
  const int64_t items = T * s.n_kv_heads;
  parallel_for(items, balanced_chunk(items, 1, 4), [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> acc, kbuf, vbuf, score, m, l;
    thread_local std::vector<HeadKV> rows;
    acc.resize(group * hd);
    kbuf.resize(kKeyTile * hd);
    vbuf.resize(kKeyTile * hd);
    score.resize(group * kKeyTile);
    m.resize(group);
    l.resize(group);
    rows.resize(kKeyTile);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / s.n_kv_heads, kvh = item % s.n_kv_heads;
      const KeyRange kr = visible(past.n_past + t, s);
      const float* qg = q + (t * s.n_heads + kvh * group) * hd;  // the group's query heads, consecutive
      std::fill(acc.begin(), acc.end(), 0.0f);
      std::fill(m.begin(), m.end(), -std::numeric_limits<float>::infinity());
      std::fill(l.begin(), l.end(), 0.0f);
      for (int64_t p0 = kr.lo; p0 <= kr.hi; p0 += kKeyTile) {
        const int64_t n = std::min(kKeyTile, kr.hi - p0 + 1);
        for (int64_t j = 0; j < n; ++j)
          rows[j] = head_kv(past, k_cur, v_cur, p0 + j, kvh, hd, kv_stride, kbuf.data() + j * hd, vbuf.data() + j * hd);
        for (int64_t g = 0; g < group; ++g) {
          float* sc = score.data() + g * kKeyTile;
          float tile_max = -std::numeric_limits<float>::infinity();
          for (int64_t j = 0; j < n; ++j) {
            sc[j] = dot(qg + g * hd, rows[j].k, hd) * s.scale;
            tile_max = std::max(tile_max, sc[j]);
          }
          if (tile_max > m[g]) {
            const float corr = std::exp(m[g] - tile_max);  // exp(-inf) = 0 on the first tile
            l[g] *= corr;
            for (int64_t i = 0; i < hd; ++i) acc[g * hd + i] *= corr;
            m[g] = tile_max;
          }
          for (int64_t j = 0; j < n; ++j) {
            sc[j] = std::exp(sc[j] - m[g]);
            l[g] += sc[j];
          }
        }
        for (int64_t j = 0; j < n; ++j)
          for (int64_t g = 0; g < group; ++g) axpy(score[g * kKeyTile + j], rows[j].v, acc.data() + g * hd, hd);
      }
      for (int64_t g = 0; g < group; ++g) {
        float* o = out + (t * s.n_heads + kvh * group + g) * hd;
        const float inv = 1.0f / l[g];
        for (int64_t i = 0; i < hd; ++i) o[i] = acc[g * hd + i] * inv;
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
