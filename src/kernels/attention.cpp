#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/matmul.h"
#include "util/error.h"

namespace exaone {

namespace {

struct KeyRange {
  int64_t lo, hi;  // inclusive positions
};

KeyRange visible(int64_t pos, const AttentionShape& s) {
  int64_t lo = s.window > 0 ? std::max<int64_t>(0, pos - s.window + 1) : 0;
  return {lo, pos};
}

// K and V rows of position `p`: from the cache (slot p, or p % ring) before the chunk, else
// from the chunk itself.
struct KVRows {
  const float* k;
  const float* v;
};
inline KVRows kv_rows(const PastKV& past, const float* k_cur, const float* v_cur, int64_t p, int64_t stride) {
  if (p >= past.n_past) return {k_cur + (p - past.n_past) * stride, v_cur + (p - past.n_past) * stride};
  const int64_t slot = past.ring > 0 ? p % past.ring : p;
  return {past.k + slot * stride, past.v + slot * stride};
}

void check_past(const PastKV& past, int64_t lo) {
  if (past.ring > 0 && lo < past.n_past && lo < past.n_past - past.ring)
    fail("attention: position " + std::to_string(lo) + " is no longer in the sliding-window cache");
}

}  // namespace

void attention(const float* q, const float* k_cur, const float* v_cur, int64_t T, const PastKV& past,
               const AttentionShape& s, float* out) {
  const int64_t hd = s.head_dim, kv_stride = s.n_kv_heads * hd, group = s.n_heads / s.n_kv_heads;
  if (T > 0) check_past(past, visible(past.n_past, s).lo);
#pragma omp parallel
  {
    std::vector<float> acc(hd);
#pragma omp for collapse(2) schedule(static)
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t h = 0; h < s.n_heads; ++h) {
        const int64_t pos = past.n_past + t;
        const KeyRange kr = visible(pos, s);
        const float* qv = q + (t * s.n_heads + h) * hd;
        const int64_t kvh = h / group;
        float m = -std::numeric_limits<float>::infinity(), l = 0;
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t p = kr.lo; p <= kr.hi; ++p) {
          const KVRows rows = kv_rows(past, k_cur, v_cur, p, kv_stride);
          const float sc = dot_f32(qv, rows.k + kvh * hd, hd) * s.scale;
          const float* vv = rows.v + kvh * hd;
          if (sc > m) {
            const float corr = std::exp(m - sc);  // exp(-inf) = 0 on the first key
            l *= corr;
            for (int64_t i = 0; i < hd; ++i) acc[i] *= corr;
            m = sc;
          }
          const float e = std::exp(sc - m);
          l += e;
          for (int64_t i = 0; i < hd; ++i) acc[i] += e * vv[i];
        }
        float* o = out + (t * s.n_heads + h) * hd;
        const float inv = 1.0f / l;
        for (int64_t i = 0; i < hd; ++i) o[i] = acc[i] * inv;
      }
    }
  }
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
      std::vector<const float*> vs;
      for (int64_t p = kr.lo; p <= kr.hi; ++p) {
        const KVRows rows = kv_rows(past, k_cur, v_cur, p, kv_stride);
        const float *kp = rows.k, *vp = rows.v;
        double d = 0;
        for (int64_t i = 0; i < hd; ++i) d += static_cast<double>(q[(t * s.n_heads + h) * hd + i]) * kp[kvh * hd + i];
        sc.push_back(d * s.scale);
        vs.push_back(vp + kvh * hd);
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
