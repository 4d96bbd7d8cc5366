#include "train/ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <immintrin.h>

#include "kernels/cpu_features.h"
#include "kernels/gemm_train.h"
#include "kernels/matmul.h"
#include "util/parallel.h"

namespace exaone::train {

namespace {

// out[c, r] = in[r, c] for an [R, C] matrix, in 32x32 tiles (both sides stay in cache).
void transpose(const float* in, int64_t R, int64_t C, float* out) {
  constexpr int64_t kTile = 32;
  const int64_t tiles = (R + kTile - 1) / kTile;
  parallel_for(tiles, balanced_chunk(tiles, 1, 4), [&](int64_t t0, int64_t t1) {
    for (int64_t r0 = t0 * kTile; r0 < std::min(R, t1 * kTile); r0 += kTile)
      for (int64_t c0 = 0; c0 < C; c0 += kTile)
        for (int64_t r = r0; r < std::min(R, r0 + kTile); ++r)
          for (int64_t c = c0; c < std::min(C, c0 + kTile); ++c) out[c * R + r] = in[r * C + c];
  });
}

GemmPrecision g_precision = GemmPrecision::F32;

// Elementwise loops big enough to be worth waking the pool.
template <typename Fn>
void elementwise(int64_t n, Fn&& fn) {
  if (n <= 32768) return fn(int64_t{0}, n);
  parallel_for(n, balanced_chunk(n, 8192, 2), fn);
}

}  // namespace

void linear_forward(const float* x, int64_t T, int64_t K, const float* W, int64_t N, float* y) {
  gemm_train(T, N, K, {x, K, false}, {W, K, true}, y, N, false, g_precision);
}

void linear_backward(const float* dy, const float* x, const float* W, int64_t T, int64_t K, int64_t N, float* dx,
                     float* dW, bool accumulate) {
  // dx = dy·W reads W row-major, dW += dyᵀ·x reads dy transposed: the packed GEMM takes both in
  // place, no transposed copies.
  if (dx) gemm_train(T, K, N, {dy, N, false}, {W, K, false}, dx, K, accumulate, g_precision);
  if (dW) linear_backward_weight(dy, x, T, K, N, dW);
}

void transpose_matrix(const float* in, int64_t rows, int64_t cols, float* out) { transpose(in, rows, cols, out); }

void linear_backward_input_t(const float* dy, const float* Wt, int64_t T, int64_t K, int64_t N, float* dx) {
  gemm_train(T, K, N, {dy, N, false}, {Wt, N, true}, dx, K, false, g_precision);
}

void linear_backward_weight(const float* dy, const float* x, int64_t T, int64_t K, int64_t N, float* dW) {
  gemm_train(N, K, T, {dy, N, true}, {x, K, false}, dW, K, true, g_precision);
}

void set_matmul_precision(GemmPrecision p) { g_precision = p; }
GemmPrecision matmul_precision() { return g_precision; }

void rmsnorm_forward(const float* x, const float* w, float eps, int64_t rows, int64_t dim, float* y, float* rstd) {
  parallel_for(rows, balanced_chunk(rows, 4, 4), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * dim;
      float* o = y + r * dim;
      double ss = 0;
      for (int64_t i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      const float inv = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(dim)) + eps);
      rstd[r] = inv;
      for (int64_t i = 0; i < dim; ++i) o[i] = (xr[i] * inv) * w[i];
    }
  });
}

void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* rstd, int64_t rows, int64_t dim,
                      float* dx, float* dw, bool accumulate) {
  // y_i = x_i r w_i, r = (mean(x²) + eps)^-1/2, dr/dx_i = -r³ x_i / dim:
  // dx_i = r (dy_i w_i) - x_i r³/dim Σ_j dy_j w_j x_j.
  if (dx) {
    parallel_for(rows, balanced_chunk(rows, 4, 4), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const float* g = dy + r * dim;
        const float* xr = x + r * dim;
        float* o = dx + r * dim;
        double dot = 0;
        for (int64_t i = 0; i < dim; ++i) dot += static_cast<double>(g[i]) * w[i] * xr[i];
        const double rs = rstd[r];
        const float c = static_cast<float>(dot * rs * rs * rs / static_cast<double>(dim));
        const float rf = rstd[r];
        if (accumulate)
          for (int64_t i = 0; i < dim; ++i) o[i] += rf * (g[i] * w[i]) - xr[i] * c;
        else
          for (int64_t i = 0; i < dim; ++i) o[i] = rf * (g[i] * w[i]) - xr[i] * c;
      }
    });
  }
  if (dw) {
    // Each column sums its rows in row order: the same result for any split of the columns.
    parallel_for(dim, balanced_chunk(dim, 16, 2), [&](int64_t c0, int64_t c1) {
      std::vector<double> acc(static_cast<size_t>(c1 - c0), 0.0);
      for (int64_t r = 0; r < rows; ++r) {
        const float* g = dy + r * dim;
        const float* xr = x + r * dim;
        const double rs = rstd[r];
        for (int64_t i = c0; i < c1; ++i) acc[i - c0] += static_cast<double>(g[i]) * xr[i] * rs;
      }
      for (int64_t i = c0; i < c1; ++i) dw[i] += static_cast<float>(acc[i - c0]);
    });
  }
}

namespace {

// Rotates each (j, j+half) pair by +angle (forward) or -angle (backward: the transpose of a rotation).
void rope_rotate(float* x, int64_t rows, int64_t n_heads, int64_t head_dim, const int32_t* positions,
                 const float* inv_freq, float sign) {
  const int64_t half = head_dim / 2;
  parallel_for(rows, balanced_chunk(rows, 1, 4), [&](int64_t b, int64_t e) {
    std::vector<float> cs(static_cast<size_t>(half)), sn(static_cast<size_t>(half));
    for (int64_t t = b; t < e; ++t) {
      const float pos = static_cast<float>(positions[t]);
      for (int64_t j = 0; j < half; ++j) {
        const float angle = pos * inv_freq[j];  // float32 product, as the inference kernel and HF
        cs[j] = static_cast<float>(std::cos(static_cast<double>(angle)));
        sn[j] = sign * static_cast<float>(std::sin(static_cast<double>(angle)));
      }
      for (int64_t h = 0; h < n_heads; ++h) {
        float* v = x + (t * n_heads + h) * head_dim;
        for (int64_t j = 0; j < half; ++j) {
          const float a = v[j], c = v[j + half];
          v[j] = a * cs[j] - c * sn[j];
          v[j + half] = c * cs[j] + a * sn[j];
        }
      }
    }
  });
}

// The inference kernels' SIMD dot: forward and backward recompute the same scores with it, so the
// probabilities the backward rebuilds from the saved log-sum-exp match the forward's.
float dot(const float* a, const float* b, int64_t n) { return dot_f32(a, b, n); }

}  // namespace

void rope_forward(float* x, int64_t rows, int64_t n_heads, int64_t head_dim, const int32_t* positions,
                  const float* inv_freq) {
  rope_rotate(x, rows, n_heads, head_dim, positions, inv_freq, 1.0f);
}

void rope_backward(float* dx, int64_t rows, int64_t n_heads, int64_t head_dim, const int32_t* positions,
                   const float* inv_freq) {
  rope_rotate(dx, rows, n_heads, head_dim, positions, inv_freq, -1.0f);
}

namespace {

// exp over a row with a common affine argument, out[j] = exp(s[j] * mul - shift), and their sum.
// Cephes' expf polynomial (about 1 ulp) in AVX-512 / AVX2 lanes; std::exp on other CPUs. Arguments
// below -87 give 0 (masked entries never reach here: callers only pass the visible keys).
// GCC 12 takes the _mm512_undefined_*() inside the AVX-512 intrinsics for uninitialised reads.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f"))) float exp_row_avx512(const float* s, float mul, float shift, int64_t n, float* out) {
  const __m512 vmul = _mm512_set1_ps(mul), vshift = _mm512_set1_ps(shift);
  const __m512 log2e = _mm512_set1_ps(1.44269504088896341f), ln2hi = _mm512_set1_ps(0.693359375f),
               ln2lo = _mm512_set1_ps(-2.12194440e-4f), lo = _mm512_set1_ps(-87.0f), hi = _mm512_set1_ps(88.3f);
  const __m512 c0 = _mm512_set1_ps(1.9875691500e-4f), c1 = _mm512_set1_ps(1.3981999507e-3f),
               c2 = _mm512_set1_ps(8.3334519073e-3f), c3 = _mm512_set1_ps(4.1665795894e-2f),
               c4 = _mm512_set1_ps(1.6666665459e-1f), c5 = _mm512_set1_ps(5.0000001201e-1f), one = _mm512_set1_ps(1.0f);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = n - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - j)) - 1);
    __m512 x = _mm512_fmsub_ps(_mm512_maskz_loadu_ps(m, s + j), vmul, vshift);
    const __mmask16 under = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
    const __m512 nf = _mm512_roundscale_ps(_mm512_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(nf, ln2hi, x);
    r = _mm512_fnmadd_ps(nf, ln2lo, r);
    __m512 p = _mm512_fmadd_ps(c0, r, c1);
    p = _mm512_fmadd_ps(p, r, c2);
    p = _mm512_fmadd_ps(p, r, c3);
    p = _mm512_fmadd_ps(p, r, c4);
    p = _mm512_fmadd_ps(p, r, c5);
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, one));
    __m512 e = _mm512_scalef_ps(p, nf);
    e = _mm512_maskz_mov_ps(static_cast<__mmask16>(m & ~under), e);
    _mm512_mask_storeu_ps(out + j, m, e);
    sum = _mm512_add_ps(sum, e);
  }
  return _mm512_reduce_add_ps(sum);
}
#pragma GCC diagnostic pop

float exp_row(const float* s, float mul, float shift, int64_t n, float* out) {
  if (cpu_features().avx512f && !force_scalar_kernels()) return exp_row_avx512(s, mul, shift, n, out);
  float sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += (out[j] = std::exp(s[j] * mul - shift));
  return sum;
}

constexpr int64_t kAttnRows = 64;  // query rows per attention block

// Visible keys of query i, as [first, last] in absolute positions.
inline int64_t first_key(const AttnDims& d, int64_t i) { return d.window > 0 ? std::max<int64_t>(0, i - d.window + 1) : 0; }

GemmOperand rows(const float* p, int64_t ld) { return {p, ld, false}; }
GemmOperand rows_t(const float* p, int64_t ld) { return {p, ld, true}; }

}  // namespace

void attention_forward(const float* q, const float* k, const float* v, const AttnDims& d, float* out, float* lse) {
  // Per (sequence, head, block of query rows): S = Q·Kᵀ over the block's visible keys (one GEMM),
  // masked softmax row by row, O = P·V (one GEMM). Scores are the same fmaf chains in backward.
  const int64_t hd = d.head_dim, qd = d.n_heads * hd, kvd = d.n_kv * hd, group = d.n_heads / d.n_kv;
  const int64_t nqb = (d.T + kAttnRows - 1) / kAttnRows;
  const int64_t n = d.B * d.n_heads * nqb;
  parallel_for(n, 1, [&](int64_t t0, int64_t t1) {
    thread_local std::vector<float> S;
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t b = task / (d.n_heads * nqb), h = (task / nqb) % d.n_heads, qb = task % nqb;
      const int64_t i0 = qb * kAttnRows, i1 = std::min(d.T, i0 + kAttnRows), r = i1 - i0;
      const int64_t kvh = h / group, lo = first_key(d, i0), nk = i1 - lo;
      S.resize(static_cast<size_t>(r * nk));
      gemm_train(r, nk, hd, rows(q + (b * d.T + i0) * qd + h * hd, qd), rows_t(k + (b * d.T + lo) * kvd + kvh * hd, kvd),
                 S.data(), nk, false);
      for (int64_t ii = 0; ii < r; ++ii) {
        const int64_t i = i0 + ii, jl = first_key(d, i) - lo, jh = i - lo;  // visible: [jl, jh]
        float* row = S.data() + ii * nk;
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t j = jl; j <= jh; ++j) m = std::max(m, d.scale * row[j]);
        const float sum = exp_row(row + jl, d.scale, m, jh - jl + 1, row + jl);
        const float inv = 1.0f / sum;
        std::fill(row, row + jl, 0.0f);
        for (int64_t j = jl; j <= jh; ++j) row[j] *= inv;
        std::fill(row + jh + 1, row + nk, 0.0f);
        lse[(b * d.n_heads + h) * d.T + i] = m + std::log(sum);
      }
      gemm_train(r, hd, nk, rows(S.data(), nk), rows(v + (b * d.T + lo) * kvd + kvh * hd, kvd),
                 out + (b * d.T + i0) * qd + h * hd, qd, false);
    }
  });
}

void attention_backward(const float* dout, const float* q, const float* k, const float* v, const float* out,
                        const float* lse, const AttnDims& d, float* dq, float* dk, float* dv) {
  // p_ij = exp(s_ij - lse_i); dp_ij = dO_i·v_j; ds_ij = p_ij (dp_ij - D_i) with D_i = dO_i·O_i
  // (= Σ_j p_ij dp_ij); dQ = scale dS·K, dK = scale dSᵀ·Q, dV = Pᵀ·dO, all GEMMs per block of query
  // rows. One task per (sequence, kv head) owns its dK/dV rows and the dQ rows of its query heads,
  // and sums heads and blocks in a fixed order: no atomics, the same result for any thread count.
  const int64_t hd = d.head_dim, qd = d.n_heads * hd, kvd = d.n_kv * hd, group = d.n_heads / d.n_kv;
  const int64_t nqb = (d.T + kAttnRows - 1) / kAttnRows;
  parallel_for(d.B * d.n_kv, 1, [&](int64_t t0, int64_t t1) {
    thread_local std::vector<float> P, dP;
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t b = task / d.n_kv, kvh = task % d.n_kv;
      for (int64_t t = 0; t < d.T; ++t) {
        std::fill_n(dk + (b * d.T + t) * kvd + kvh * hd, hd, 0.0f);
        std::fill_n(dv + (b * d.T + t) * kvd + kvh * hd, hd, 0.0f);
      }
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h)
        for (int64_t qb = 0; qb < nqb; ++qb) {
          const int64_t i0 = qb * kAttnRows, i1 = std::min(d.T, i0 + kAttnRows), r = i1 - i0;
          const int64_t lo = first_key(d, i0), nk = i1 - lo;
          const int64_t qoff = (b * d.T + i0) * qd + h * hd, koff = (b * d.T + lo) * kvd + kvh * hd;
          P.resize(static_cast<size_t>(r * nk));
          dP.resize(static_cast<size_t>(r * nk));
          gemm_train(r, nk, hd, rows(q + qoff, qd), rows_t(k + koff, kvd), P.data(), nk, false);
          gemm_train(r, nk, hd, rows(dout + qoff, qd), rows_t(v + koff, kvd), dP.data(), nk, false);
          for (int64_t ii = 0; ii < r; ++ii) {
            const int64_t i = i0 + ii, jl = first_key(d, i) - lo, jh = i - lo;
            float* p = P.data() + ii * nk;
            float* g = dP.data() + ii * nk;
            const float Di = dot(dout + qoff + ii * qd, out + qoff + ii * qd, hd);
            exp_row(p + jl, d.scale, lse[(b * d.n_heads + h) * d.T + i], jh - jl + 1, p + jl);
            std::fill(p, p + jl, 0.0f);
            std::fill(p + jh + 1, p + nk, 0.0f);
            for (int64_t j = 0; j < nk; ++j) g[j] = p[j] * (g[j] - Di) * d.scale;  // dS (0 where masked)
          }
          gemm_train(r, hd, nk, rows(dP.data(), nk), rows(k + koff, kvd), dq + qoff, qd, false);
          gemm_train(nk, hd, r, rows_t(dP.data(), nk), rows(q + qoff, qd), dk + koff, kvd, true);
          gemm_train(nk, hd, r, rows_t(P.data(), nk), rows(dout + qoff, qd), dv + koff, kvd, true);
        }
    }
  });
}

void swiglu_forward(const float* gate, const float* up, int64_t n, float* act) {
  elementwise(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float g = gate[i];
      act[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
  });
}

void swiglu_backward(const float* dact, const float* gate, const float* up, int64_t n, float* dgate, float* dup) {
  // silu(g) = g σ(g), silu'(g) = σ(g) (1 + g (1 - σ(g))).
  elementwise(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float g = gate[i], s = 1.0f / (1.0f + std::exp(-g)), da = dact[i];
      dup[i] = da * g * s;
      dgate[i] = da * up[i] * s * (1.0f + g * (1.0f - s));
    }
  });
}

void embedding_forward(const int32_t* ids, int64_t rows, const float* E, int64_t dim, float* x) {
  for (int64_t r = 0; r < rows; ++r) std::copy_n(E + static_cast<int64_t>(ids[r]) * dim, dim, x + r * dim);
}

void embedding_backward(const float* dx, const int32_t* ids, int64_t rows, int64_t dim, float* dE) {
  // Columns split across threads, rows in order: a repeated id sums in the same order every run.
  parallel_for(dim, balanced_chunk(dim, 64, 1), [&](int64_t c0, int64_t c1) {
    for (int64_t r = 0; r < rows; ++r) {
      float* g = dE + static_cast<int64_t>(ids[r]) * dim;
      const float* s = dx + r * dim;
      for (int64_t c = c0; c < c1; ++c) g[c] += s[c];
    }
  });
}

double cross_entropy_forward_backward(const float* logits, const int32_t* targets, int64_t rows, int64_t V,
                                      float grad_scale, float* dlogits, int64_t* counted) {
  std::vector<double> loss(static_cast<size_t>(rows), 0.0);
  parallel_for(rows, balanced_chunk(rows, 1, 4), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* l = logits + r * V;
      const int32_t t = targets[r];
      if (t < 0) {
        if (dlogits) std::fill(dlogits + r * V, dlogits + (r + 1) * V, 0.0f);
        continue;
      }
      const float m = *std::max_element(l, l + V);
      double sum = 0;
      for (int64_t c = 0; c < V; ++c) sum += std::exp(static_cast<double>(l[c] - m));
      const double lse = m + std::log(sum);
      loss[r] = lse - l[t];
      if (dlogits) {
        float* g = dlogits + r * V;
        for (int64_t c = 0; c < V; ++c) g[c] = static_cast<float>(std::exp(static_cast<double>(l[c]) - lse)) * grad_scale;
        g[t] -= grad_scale;
      }
    }
  });
  double total = 0;
  int64_t n = 0;
  for (int64_t r = 0; r < rows; ++r) {
    total += loss[r];
    n += targets[r] >= 0;
  }
  if (counted) *counted = n;
  return total;
}

void add_into(float* y, const float* x, int64_t n) {
  elementwise(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] += x[i];
  });
}

}  // namespace exaone::train
