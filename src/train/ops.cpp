#include "train/ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

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

MatrixRef f32(const float* w, int64_t rows, int64_t cols) { return MatrixRef{DType::F32, w, rows, cols}; }

// Elementwise loops big enough to be worth waking the pool.
template <typename Fn>
void elementwise(int64_t n, Fn&& fn) {
  if (n <= 32768) return fn(int64_t{0}, n);
  parallel_for(n, balanced_chunk(n, 8192, 2), fn);
}

}  // namespace

void linear_forward(const float* x, int64_t T, int64_t K, const float* W, int64_t N, float* y) {
  matmul(x, T, f32(W, N, K), y);
}

void linear_backward(const float* dy, const float* x, const float* W, int64_t T, int64_t K, int64_t N, float* dx,
                     float* dW, bool accumulate) {
  // Both products go through the project's float GEMM (y = a·bᵀ) on transposed copies: the
  // transposes cost O(NK + TN + TK), the products O(TNK).
  if (dx) {
    std::vector<float> wt(static_cast<size_t>(K * N));
    transpose(W, N, K, wt.data());  // [K, N]
    if (!accumulate) {
      matmul(dy, T, f32(wt.data(), K, N), dx);
    } else {
      std::vector<float> tmp(static_cast<size_t>(T * K));
      matmul(dy, T, f32(wt.data(), K, N), tmp.data());
      add_into(dx, tmp.data(), T * K);
    }
  }
  if (dW) linear_backward_weight(dy, x, T, K, N, dW);
}

void transpose_matrix(const float* in, int64_t rows, int64_t cols, float* out) { transpose(in, rows, cols, out); }

void linear_backward_input_t(const float* dy, const float* Wt, int64_t T, int64_t K, int64_t N, float* dx) {
  matmul(dy, T, f32(Wt, K, N), dx);
}

void linear_backward_weight(const float* dy, const float* x, int64_t T, int64_t K, int64_t N, float* dW) {
  std::vector<float> dyt(static_cast<size_t>(N * T)), xt(static_cast<size_t>(K * T)), g(static_cast<size_t>(N * K));
  transpose(dy, T, N, dyt.data());  // [N, T]
  transpose(x, T, K, xt.data());    // [K, T]
  matmul(dyt.data(), N, f32(xt.data(), K, T), g.data());
  add_into(dW, g.data(), N * K);
}

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

void attention_forward(const float* q, const float* k, const float* v, const AttnDims& d, float* out, float* lse) {
  const int64_t hd = d.head_dim, qd = d.n_heads * hd, kvd = d.n_kv * hd, group = d.n_heads / d.n_kv;
  const int64_t n = d.B * d.n_heads * d.T;  // one task per (sequence, head, query row)
  parallel_for(n, balanced_chunk(n, 4, 8), [&](int64_t t0, int64_t t1) {
    std::vector<float> s(static_cast<size_t>(d.T));
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t b = task / (d.n_heads * d.T), h = (task / d.T) % d.n_heads, i = task % d.T;
      const int64_t kvh = h / group, lo = d.window > 0 ? std::max<int64_t>(0, i - d.window + 1) : 0;
      const float* qi = q + (b * d.T + i) * qd + h * hd;
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t j = lo; j <= i; ++j) {
        s[j] = d.scale * dot(qi, k + (b * d.T + j) * kvd + kvh * hd, hd);
        m = std::max(m, s[j]);
      }
      float sum = 0;
      for (int64_t j = lo; j <= i; ++j) sum += (s[j] = std::exp(s[j] - m));
      float* o = out + (b * d.T + i) * qd + h * hd;
      std::fill(o, o + hd, 0.0f);
      for (int64_t j = lo; j <= i; ++j) {
        const float* vj = v + (b * d.T + j) * kvd + kvh * hd;
        const float p = s[j] / sum;
        for (int64_t c = 0; c < hd; ++c) o[c] += p * vj[c];
      }
      lse[task] = m + std::log(sum);
    }
  });
}

void attention_backward(const float* dout, const float* q, const float* k, const float* v, const float* out,
                        const float* lse, const AttnDims& d, float* dq, float* dk, float* dv) {
  // p_ij = exp(s_ij - lse_i); dp_ij = dO_i·v_j; ds_ij = p_ij (dp_ij - D_i) with D_i = dO_i·O_i
  // (= Σ_j p_ij dp_ij); dq_i = scale Σ_j ds_ij k_j; dk_j = scale Σ_i ds_ij q_i; dv_j = Σ_i p_ij dO_i.
  // Two passes so that every output row is owned by one task (no atomics, fixed sum order):
  // query rows for dq, then key rows (all query heads of their group) for dk and dv.
  const int64_t hd = d.head_dim, qd = d.n_heads * hd, kvd = d.n_kv * hd, group = d.n_heads / d.n_kv;
  const int64_t nq = d.B * d.n_heads * d.T;
  std::vector<float> D(static_cast<size_t>(nq));
  parallel_for(nq, balanced_chunk(nq, 4, 8), [&](int64_t t0, int64_t t1) {
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t b = task / (d.n_heads * d.T), h = (task / d.T) % d.n_heads, i = task % d.T;
      const int64_t kvh = h / group, lo = d.window > 0 ? std::max<int64_t>(0, i - d.window + 1) : 0;
      const int64_t row = (b * d.T + i) * qd + h * hd;
      const float* qi = q + row;
      const float* gi = dout + row;
      const float Di = dot(gi, out + row, hd);
      D[task] = Di;
      float* dqi = dq + row;
      std::fill(dqi, dqi + hd, 0.0f);
      for (int64_t j = lo; j <= i; ++j) {
        const float* kj = k + (b * d.T + j) * kvd + kvh * hd;
        const float p = std::exp(d.scale * dot(qi, kj, hd) - lse[task]);
        const float ds = p * (dot(gi, v + (b * d.T + j) * kvd + kvh * hd, hd) - Di) * d.scale;
        for (int64_t c = 0; c < hd; ++c) dqi[c] += ds * kj[c];
      }
    }
  });
  const int64_t nk = d.B * d.n_kv * d.T;
  parallel_for(nk, balanced_chunk(nk, 4, 8), [&](int64_t t0, int64_t t1) {
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t b = task / (d.n_kv * d.T), kvh = (task / d.T) % d.n_kv, j = task % d.T;
      const int64_t hi = d.window > 0 ? std::min(d.T - 1, j + d.window - 1) : d.T - 1;
      const int64_t krow = (b * d.T + j) * kvd + kvh * hd;
      const float* kj = k + krow;
      const float* vj = v + krow;
      float* dkj = dk + krow;
      float* dvj = dv + krow;
      std::fill(dkj, dkj + hd, 0.0f);
      std::fill(dvj, dvj + hd, 0.0f);
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        for (int64_t i = j; i <= hi; ++i) {
          const int64_t qtask = (b * d.n_heads + h) * d.T + i;
          const int64_t row = (b * d.T + i) * qd + h * hd;
          const float* qi = q + row;
          const float* gi = dout + row;
          const float p = std::exp(d.scale * dot(qi, kj, hd) - lse[qtask]);
          const float ds = p * (dot(gi, vj, hd) - D[qtask]) * d.scale;
          for (int64_t c = 0; c < hd; ++c) {
            dvj[c] += p * gi[c];
            dkj[c] += ds * qi[c];
          }
        }
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
