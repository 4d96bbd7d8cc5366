#include "train/optim.h"

#include <algorithm>
#include <cmath>

#include "util/parallel.h"

namespace exaone::train {

namespace {
// Fixed-size pieces for parallel loops whose results are summed: the sum order then does not
// depend on the thread count.
constexpr int64_t kPiece = 16384;
}  // namespace

AdamW::AdamW(std::vector<Param>& params, AdamWConfig cfg) : params_(&params), cfg_(cfg) {
  for (const Param& p : params) {
    m_.emplace_back(p.w.size(), 0.0f);
    v_.emplace_back(p.w.size(), 0.0f);
  }
}

void AdamW::step(double lr) {
  ++t_;
  const double b1 = cfg_.beta1, b2 = cfg_.beta2;
  const double bc1 = 1.0 - std::pow(b1, static_cast<double>(t_));
  const double bc2_sqrt = std::sqrt(1.0 - std::pow(b2, static_cast<double>(t_)));
  const float step_size = static_cast<float>(lr / bc1);
  for (size_t i = 0; i < params_->size(); ++i) {
    Param& p = (*params_)[i];
    const float decay = p.decay ? static_cast<float>(1.0 - lr * cfg_.weight_decay) : 1.0f;
    float* w = p.w.data();
    const float* g = p.g.data();
    float* m = m_[i].data();
    float* v = v_[i].data();
    const float fb1 = static_cast<float>(b1), fb2 = static_cast<float>(b2), eps = static_cast<float>(cfg_.eps);
    const float fbc2 = static_cast<float>(bc2_sqrt);
    const int64_t n = p.numel();
    parallel_for(n, kPiece, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) {
        w[j] *= decay;  // decoupled weight decay, before the Adam update (torch order)
        m[j] = fb1 * m[j] + (1.0f - fb1) * g[j];
        v[j] = fb2 * v[j] + (1.0f - fb2) * g[j] * g[j];
        w[j] -= step_size * m[j] / (std::sqrt(v[j]) / fbc2 + eps);
      }
    });
  }
}

double LrSchedule::at(int64_t step) const {
  if (step < warmup) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (step >= total) return min_lr;
  const double p = static_cast<double>(step - warmup) / static_cast<double>(total - warmup);
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(M_PI * p));
}

double grad_global_norm(const std::vector<Param>& params) {
  double total = 0;
  for (const Param& p : params) {
    const int64_t n = static_cast<int64_t>(p.g.size()), pieces = (n + kPiece - 1) / kPiece;
    std::vector<double> part(static_cast<size_t>(pieces), 0.0);
    parallel_for(pieces, 1, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        double s = 0;
        for (int64_t j = k * kPiece; j < std::min(n, (k + 1) * kPiece); ++j) s += static_cast<double>(p.g[j]) * p.g[j];
        part[k] = s;
      }
    });
    for (double s : part) total += s;
  }
  return std::sqrt(total);
}

double clip_grad_norm(std::vector<Param>& params, double max_norm) {
  const double norm = grad_global_norm(params);
  if (max_norm <= 0) return norm;
  const double coef = max_norm / (norm + 1e-6);
  if (coef >= 1.0) return norm;
  const float c = static_cast<float>(coef);
  for (Param& p : params)
    parallel_for(static_cast<int64_t>(p.g.size()), kPiece, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) p.g[j] *= c;
    });
  return norm;
}

}  // namespace exaone::train
