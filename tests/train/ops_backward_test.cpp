// Every backward kernel of src/train/ops.h against central finite differences of its forward.
// The scalar probed is L = Σ r_i y_i for a fixed random r (so dL/dy = r), summed in double.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "train/ops.h"

namespace exaone::train {
namespace {

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// Central differences of `loss` w.r.t. every element of `x`, compared with `grad`.
// Returns the largest |numeric - analytic| / (1 + |analytic|).
double check_fd(std::vector<float>& x, const std::vector<float>& grad, const std::function<double()>& loss,
                const char* what, float h = 4e-3f, double tol = 2e-3) {
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float keep = x[i];
    x[i] = keep + h;
    const double lp = loss();
    x[i] = keep - h;
    const double lm = loss();
    x[i] = keep;
    const double num = (lp - lm) / (2.0 * static_cast<double>(h));
    const double err = std::fabs(num - grad[i]) / (1.0 + std::fabs(grad[i]));
    worst = std::max(worst, err);
    EXPECT_LT(err, tol) << what << "[" << i << "]: numeric " << num << " analytic " << grad[i];
    if (err >= tol) break;
  }
  std::string key = what;
  std::replace(key.begin(), key.end(), ' ', '_');
  ::testing::Test::RecordProperty(key, std::to_string(worst));
  std::printf("  %-24s max rel err %.3g\n", what, worst);
  return worst;
}

TEST(TrainOpsBackward, Linear) {
  const int64_t T = 5, K = 7, N = 6;
  auto x = randn(T * K, 1), W = randn(N * K, 2, 0.5f), r = randn(T * N, 3);
  std::vector<float> y(T * N);
  auto loss = [&] {
    linear_forward(x.data(), T, K, W.data(), N, y.data());
    return dot(y, r);
  };
  std::vector<float> dx(T * K, 0.0f), dW(N * K, 0.0f);
  loss();
  linear_backward(r.data(), x.data(), W.data(), T, K, N, dx.data(), dW.data());
  check_fd(x, dx, loss, "linear dx");
  check_fd(W, dW, loss, "linear dW");
  // Accumulating forms add to what is there.
  std::vector<float> dx2(T * K, 1.0f), dW2(N * K, 2.0f);
  linear_backward(r.data(), x.data(), W.data(), T, K, N, dx2.data(), dW2.data(), true);
  for (int64_t i = 0; i < T * K; ++i) EXPECT_NEAR(dx2[i], dx[i] + 1.0f, 1e-5);
  for (int64_t i = 0; i < N * K; ++i) EXPECT_NEAR(dW2[i], dW[i] + 2.0f, 1e-5);
}

TEST(TrainOpsBackward, LinearLargeUsesThreadedGemm) {
  // Sizes past the GEMM's small-T paths; checked against a double reference instead of FD.
  const int64_t T = 37, K = 70, N = 45;
  auto x = randn(T * K, 4), W = randn(N * K, 5), dy = randn(T * N, 6);
  std::vector<float> dx(T * K), dW(N * K, 0.0f);
  linear_backward(dy.data(), x.data(), W.data(), T, K, N, dx.data(), dW.data());
  double worst = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k) {
      double s = 0;
      for (int64_t n = 0; n < N; ++n) s += double(dy[t * N + n]) * W[n * K + k];
      worst = std::max(worst, std::fabs(s - dx[t * K + k]));
    }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      double s = 0;
      for (int64_t t = 0; t < T; ++t) s += double(dy[t * N + n]) * x[t * K + k];
      worst = std::max(worst, std::fabs(s - dW[n * K + k]));
    }
  EXPECT_LT(worst, 1e-4);
}

TEST(TrainOpsBackward, RmsNorm) {
  const int64_t rows = 4, dim = 12;
  auto x = randn(rows * dim, 7), w = randn(dim, 8), r = randn(rows * dim, 9);
  for (auto& v : w) v += 1.0f;
  std::vector<float> y(rows * dim), rstd(rows);
  auto loss = [&] {
    rmsnorm_forward(x.data(), w.data(), 1e-5f, rows, dim, y.data(), rstd.data());
    return dot(y, r);
  };
  loss();
  std::vector<float> dx(rows * dim), dw(dim, 0.0f);
  rmsnorm_backward(r.data(), x.data(), w.data(), rstd.data(), rows, dim, dx.data(), dw.data());
  check_fd(x, dx, loss, "rmsnorm dx");
  check_fd(w, dw, loss, "rmsnorm dw");
}

TEST(TrainOpsBackward, Rope) {
  const int64_t rows = 6, nh = 3, hd = 8;
  auto x = randn(rows * nh * hd, 10), r = randn(rows * nh * hd, 11);
  const std::vector<float> inv = {1.0f, 0.3f, 0.05f, 0.001f};
  const std::vector<int32_t> pos = {0, 1, 2, 7, 100, 5};
  std::vector<float> y;
  auto loss = [&] {
    y = x;
    rope_forward(y.data(), rows, nh, hd, pos.data(), inv.data());
    return dot(y, r);
  };
  std::vector<float> dx = r;
  rope_backward(dx.data(), rows, nh, hd, pos.data(), inv.data());
  check_fd(x, dx, loss, "rope dx");
}

void attention_case(int64_t B, int64_t T, int64_t nH, int64_t nKV, int64_t hd, int64_t window, const char* name) {
  const AttnDims d{B, T, nH, nKV, hd, window, 1.0f / std::sqrt(static_cast<float>(hd))};
  auto q = randn(B * T * nH * hd, 20), k = randn(B * T * nKV * hd, 21), v = randn(B * T * nKV * hd, 22);
  auto r = randn(B * T * nH * hd, 23);
  std::vector<float> out(q.size()), lse(B * nH * T);
  auto loss = [&] {
    attention_forward(q.data(), k.data(), v.data(), d, out.data(), lse.data());
    return dot(out, r);
  };
  loss();
  std::vector<float> dq(q.size()), dk(k.size()), dv(v.size());
  attention_backward(r.data(), q.data(), k.data(), v.data(), out.data(), lse.data(), d, dq.data(), dk.data(), dv.data());
  check_fd(q, dq, loss, (std::string(name) + " dq").c_str());
  check_fd(k, dk, loss, (std::string(name) + " dk").c_str());
  check_fd(v, dv, loss, (std::string(name) + " dv").c_str());
}

TEST(TrainOpsBackward, AttentionCausalGqa) { attention_case(2, 6, 4, 2, 4, 0, "attn causal"); }
TEST(TrainOpsBackward, AttentionSlidingWindow) { attention_case(2, 7, 4, 1, 4, 3, "attn window3"); }
TEST(TrainOpsBackward, AttentionMha) { attention_case(1, 5, 2, 2, 6, 2, "attn mha window2"); }

TEST(TrainOpsBackward, AttentionMatchesMaskedSoftmax) {
  // Forward against a direct implementation of the mask rule (q - W < k <= q).
  const int64_t T = 7, hd = 4, W = 3;
  const AttnDims d{1, T, 2, 1, hd, W, 0.5f};
  auto q = randn(T * 2 * hd, 30), k = randn(T * hd, 31), v = randn(T * hd, 32);
  std::vector<float> out(q.size()), lse(2 * T);
  attention_forward(q.data(), k.data(), v.data(), d, out.data(), lse.data());
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t i = 0; i < T; ++i) {
      std::vector<double> s(T, -INFINITY);
      double m = -INFINITY;
      for (int64_t j = 0; j < T; ++j)
        if (j <= i && i - W < j) {
          double dd = 0;
          for (int64_t c = 0; c < hd; ++c) dd += double(q[(i * 2 + h) * hd + c]) * k[j * hd + c];
          s[j] = 0.5 * dd;
          m = std::max(m, s[j]);
        }
      double z = 0;
      for (int64_t j = 0; j < T; ++j) z += std::exp(s[j] - m);
      for (int64_t c = 0; c < hd; ++c) {
        double o = 0;
        for (int64_t j = 0; j < T; ++j) o += std::exp(s[j] - m) / z * v[j * hd + c];
        EXPECT_NEAR(out[(i * 2 + h) * hd + c], o, 1e-5);
      }
    }
}

TEST(TrainOpsBackward, SwiGlu) {
  const int64_t n = 40;
  auto g = randn(n, 40, 2.0f), u = randn(n, 41), r = randn(n, 42);
  std::vector<float> a(n);
  auto loss = [&] {
    swiglu_forward(g.data(), u.data(), n, a.data());
    return dot(a, r);
  };
  std::vector<float> dg(n), du(n);
  swiglu_backward(r.data(), g.data(), u.data(), n, dg.data(), du.data());
  check_fd(g, dg, loss, "swiglu dgate");
  check_fd(u, du, loss, "swiglu dup");
}

TEST(TrainOpsBackward, Embedding) {
  const int64_t V = 6, H = 5, rows = 7;
  const std::vector<int32_t> ids = {1, 3, 1, 0, 5, 3, 1};  // repeated ids accumulate
  auto E = randn(V * H, 50), r = randn(rows * H, 51);
  std::vector<float> x(rows * H);
  auto loss = [&] {
    embedding_forward(ids.data(), rows, E.data(), H, x.data());
    return dot(x, r);
  };
  std::vector<float> dE(V * H, 0.0f);
  embedding_backward(r.data(), ids.data(), rows, H, dE.data());
  check_fd(E, dE, loss, "embedding dE");
}

TEST(TrainOpsBackward, CrossEntropy) {
  const int64_t rows = 5, V = 9;
  auto logits = randn(rows * V, 60, 2.0f);
  const std::vector<int32_t> tg = {3, -100, 0, 8, 3};
  auto loss = [&] { return cross_entropy_forward_backward(logits.data(), tg.data(), rows, V, 1.0f, nullptr); };
  std::vector<float> d(rows * V);
  int64_t counted = 0;
  const double l = cross_entropy_forward_backward(logits.data(), tg.data(), rows, V, 1.0f, d.data(), &counted);
  EXPECT_EQ(counted, 4);
  EXPECT_DOUBLE_EQ(l, loss());
  for (int64_t c = 0; c < V; ++c) EXPECT_EQ(d[V + c], 0.0f);  // ignored row
  check_fd(logits, d, loss, "cross-entropy dlogits");
  // In place (dlogits aliasing logits) gives the same gradient.
  auto in_place = logits;
  cross_entropy_forward_backward(in_place.data(), tg.data(), rows, V, 1.0f, in_place.data());
  for (int64_t i = 0; i < rows * V; ++i) EXPECT_EQ(in_place[i], d[i]);
}

}  // namespace
}  // namespace exaone::train
