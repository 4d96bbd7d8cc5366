#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

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

void attention(const float* q, const float* k_cur, const float* v_cur, int64_t T, const PastKV& past,
               const AttentionShape& s, float* out) {
  const int64_t hd = s.head_dim, kv_stride = s.n_kv_heads * hd, group = s.n_heads / s.n_kv_heads;
  if (T > 0) check_past(past, visible(past.n_past, s).lo);
  if (past.dtype != DType::F32 && hd % dtype_block_elems(past.dtype) != 0)
    fail(std::string("attention: head_dim must be a multiple of the ") + dtype_name(past.dtype) + " block");
  // Work items are (token, head) pairs; buffers are per thread.
  const int64_t items = T * s.n_heads;
  parallel_for(items, balanced_chunk(items, 1, 8), [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> acc, kbuf, vbuf;
    acc.resize(hd);
    kbuf.resize(hd);
    vbuf.resize(hd);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / s.n_heads, h = item % s.n_heads;
      {
        const int64_t pos = past.n_past + t;
        const KeyRange kr = visible(pos, s);
        const float* qv = q + (t * s.n_heads + h) * hd;
        const int64_t kvh = h / group;
        float m = -std::numeric_limits<float>::infinity(), l = 0;
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t p = kr.lo; p <= kr.hi; ++p) {
          const HeadKV kv = head_kv(past, k_cur, v_cur, p, kvh, hd, kv_stride, kbuf.data(), vbuf.data());
          const float sc = dot_f32(qv, kv.k, hd) * s.scale;
          const float* vv = kv.v;
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
