#include "models/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "util/parallel.h"

namespace exaone {

void moe_route(const ModelConfig& c, const float* logits, const float* bias, int64_t n, int32_t* experts,
               float* weights) {
  const int64_t E = c.n_experts, K = c.n_experts_used, G = c.n_group, gs = E / G, TG = c.topk_group;
  parallel_for(n, balanced_chunk(n, 8, 2), [&](int64_t t0, int64_t t1) {
    std::vector<float> score(E), choice(E), gscore(G);
    std::vector<int32_t> order(std::max(E, G));
    std::vector<char> allowed(E);
    for (int64_t t = t0; t < t1; ++t) {
      const float* lg = logits + t * E;
      for (int64_t e = 0; e < E; ++e) {
        score[e] = 1.0f / (1.0f + std::exp(-lg[e]));
        choice[e] = bias ? score[e] + bias[e] : score[e];
      }
      // Group score: the two best choices of the group.
      for (int64_t g = 0; g < G; ++g) {
        float b1 = -INFINITY, b2 = -INFINITY;
        for (int64_t e = g * gs; e < (g + 1) * gs; ++e) {
          const float v = choice[e];
          if (v > b1) {
            b2 = b1;
            b1 = v;
          } else if (v > b2) {
            b2 = v;
          }
        }
        gscore[g] = b1 + b2;
      }
      std::fill(allowed.begin(), allowed.end(), char{0});
      if (TG >= G) {
        std::fill(allowed.begin(), allowed.end(), char{1});
      } else {
        std::iota(order.begin(), order.begin() + G, 0);
        std::partial_sort(order.begin(), order.begin() + TG, order.begin() + G, [&](int32_t a, int32_t b) {
          return gscore[a] > gscore[b] || (gscore[a] == gscore[b] && a < b);
        });
        for (int64_t i = 0; i < TG; ++i) std::fill_n(allowed.begin() + order[i] * gs, gs, char{1});
      }
      int64_t m = 0;
      for (int64_t e = 0; e < E; ++e)
        if (allowed[e]) order[m++] = static_cast<int32_t>(e);
      std::partial_sort(order.begin(), order.begin() + K, order.begin() + m, [&](int32_t a, int32_t b) {
        return choice[a] > choice[b] || (choice[a] == choice[b] && a < b);
      });
      std::sort(order.begin(), order.begin() + K);
      int32_t* ex = experts + t * K;
      float* wt = weights + t * K;
      float sum = 0;
      for (int64_t j = 0; j < K; ++j) {
        ex[j] = order[j];
        wt[j] = score[order[j]];
        sum += wt[j];
      }
      if (c.norm_topk_prob) {
        const float denom = sum + 1e-20f;
        for (int64_t j = 0; j < K; ++j) wt[j] /= denom;
      }
      for (int64_t j = 0; j < K; ++j) wt[j] *= static_cast<float>(c.routed_scaling);
    }
  });
}

namespace {

// SwiGLU of `n` rows: y = down(silu(gate(x)) * up(x)). `g`, `u` hold n * gate.rows floats.
void swiglu(const float* x, int64_t n, const MatrixRef& gate, const MatrixRef& up, const MatrixRef& down, float* g,
            float* u, float* y) {
  const MatrixRef ws[2] = {gate, up};
  float* const ys[2] = {g, u};
  matmul_multi(x, n, ws, ys);
  silu_mul(g, u, n * gate.rows);
  matmul(g, n, down, y);
}

}  // namespace

void moe_ffn(const ModelConfig& c, const MoeLayerWeights& w, const float* x, int64_t n, float* out) {
  const int64_t E = c.n_experts, K = c.n_experts_used, H = c.hidden, I = c.moe_intermediate;
  // Router in float32 on every token of the batch at once.
  std::vector<float> logits(static_cast<size_t>(n * E));
  matmul(x, n, w.router, logits.data());
  std::vector<int32_t> chosen(static_cast<size_t>(n * K));
  std::vector<float> weight(static_cast<size_t>(n * K));
  moe_route(c, logits.data(), w.expert_bias.empty() ? nullptr : w.expert_bias.data(), n, chosen.data(),
            weight.data());

  // Bucket (token, weight) pairs by expert: counting sort keeps tokens ascending within an expert.
  std::vector<int64_t> start(static_cast<size_t>(E + 1), 0);
  for (int32_t e : chosen) ++start[e + 1];
  for (int64_t e = 0; e < E; ++e) start[e + 1] += start[e];
  std::vector<int32_t> tok(static_cast<size_t>(n * K));
  std::vector<float> tok_w(static_cast<size_t>(n * K));
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t j = 0; j < K; ++j) {
        const int64_t slot = fill[chosen[t * K + j]]++;
        tok[slot] = static_cast<int32_t>(t);
        tok_w[slot] = weight[t * K + j];
      }
  }
  int64_t most = 0;
  for (int64_t e = 0; e < E; ++e) most = std::max(most, start[e + 1] - start[e]);
  const int64_t width = std::max(I, w.shared_gate.rows);
  const int64_t rows = std::max(most, w.shared_gate.rows > 0 ? n : 0);
  std::vector<float> xs(static_cast<size_t>(most * H)), g(static_cast<size_t>(rows * width)),
      u(static_cast<size_t>(rows * width)), y(static_cast<size_t>(rows * H));

  std::fill_n(out, n * H, 0.0f);
  for (int64_t e = 0; e < E; ++e) {
    const int64_t m = start[e + 1] - start[e];
    if (m == 0) continue;
    const int32_t* ts = tok.data() + start[e];
    for (int64_t j = 0; j < m; ++j) std::copy_n(x + int64_t{ts[j]} * H, H, xs.data() + j * H);
    swiglu(xs.data(), m, w.gate[e], w.up[e], w.down[e], g.data(), u.data(), y.data());
    const float* ws = tok_w.data() + start[e];
    for (int64_t j = 0; j < m; ++j) {
      float* o = out + int64_t{ts[j]} * H;
      const float* yr = y.data() + j * H;
      for (int64_t h = 0; h < H; ++h) o[h] += yr[h] * ws[j];
    }
  }
  if (w.shared_gate.rows > 0) {
    swiglu(x, n, w.shared_gate, w.shared_up, w.shared_down, g.data(), u.data(), y.data());
    add_inplace(out, y.data(), n * H);
  }
}

}  // namespace exaone
