// AdamW (decoupled weight decay, bias correction; the update of torch.optim.AdamW), a linear
// warmup + cosine learning-rate schedule and global-norm gradient clipping
// (torch.nn.utils.clip_grad_norm_). All element-wise or summed in a fixed order: deterministic.
#pragma once
#include <cstdint>
#include <vector>

#include "train/model.h"

namespace exaone::train {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.1;  // applied to parameters with Param::decay (matrices), not norm weights
};

class AdamW {
 public:
  AdamW(std::vector<Param>& params, AdamWConfig cfg);
  // One update of every parameter from its gradient with learning rate `lr`.
  void step(double lr);
  int64_t steps_taken() const { return t_; }
  const AdamWConfig& config() const { return cfg_; }
  // State for checkpoints: first and second moments per parameter (in params order) and the step count.
  std::vector<std::vector<float>>& exp_avg() { return m_; }
  std::vector<std::vector<float>>& exp_avg_sq() { return v_; }
  void set_steps_taken(int64_t t) { t_ = t; }

 private:
  std::vector<Param>* params_;
  AdamWConfig cfg_;
  std::vector<std::vector<float>> m_, v_;
  int64_t t_ = 0;
};

struct LrSchedule {
  double lr = 3e-4, min_lr = 3e-5;
  int64_t warmup = 0, total = 1;
  // Learning rate of 0-based step `step`: lr·(step+1)/warmup during warmup, then cosine from lr
  // down to min_lr at step `total` (min_lr after it).
  double at(int64_t step) const;
};

// sqrt(Σ g²) over all gradients (double, fixed order: chunks of fixed size summed in order).
double grad_global_norm(const std::vector<Param>& params);
// Scales every gradient by min(1, max_norm / (norm + 1e-6)) as PyTorch does; returns the norm
// before clipping. max_norm <= 0: no clipping (the norm is still returned).
double clip_grad_norm(std::vector<Param>& params, double max_norm);

}  // namespace exaone::train
