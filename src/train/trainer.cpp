#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "loaders/safetensors.h"
#include "loaders/weight_store.h"
#include "train/checkpoint.h"
#include "train/rng.h"
#include "util/error.h"
#include "util/json_file.h"

namespace exaone::train {

Trainer::Trainer(TrainableModel& model, std::vector<int32_t> data, TrainOptions opt, const DataParallel& dp,
                 size_t bucket_floats)
    : model_(model),
      data_(std::move(data)),
      opt_(opt),
      adam_(model.params(), opt.adamw),
      dp_(dp),
      reducer_(model.params(), dp, bucket_floats) {
  if (opt_.batch <= 0 || opt_.seq <= 0 || opt_.accum <= 0 || opt_.steps <= 0)
    fail("train: steps, batch, seq and accum must be positive");
  if (static_cast<int64_t>(data_.size()) < opt_.seq + 1)
    fail("train: " + std::to_string(data_.size()) + " tokens of data, need at least seq + 1 = " +
         std::to_string(opt_.seq + 1));
  for (int32_t t : data_)
    if (t < 0 || t >= model.config().vocab_size)
      fail("train: token id " + std::to_string(t) + " in the data is outside the vocabulary (" +
           std::to_string(model.config().vocab_size) + ")");
  sched_ = LrSchedule{opt_.lr, opt_.min_lr, opt_.warmup, opt_.steps};
}

void Trainer::sample(int64_t step, int64_t micro, std::vector<int32_t>& tokens, std::vector<int32_t>& targets) const {
  const int64_t B = opt_.batch, T = opt_.seq;
  const uint64_t starts = data_.size() - static_cast<uint64_t>(T);  // window [s, s+T] must fit
  Rng rng(opt_.seed, static_cast<uint64_t>(step * opt_.accum + micro));
  tokens.resize(static_cast<size_t>(B * T));
  targets.resize(static_cast<size_t>(B * T));
  for (int64_t b = 0; b < B; ++b) {
    const uint64_t s = rng.below(starts);
    std::copy_n(data_.begin() + static_cast<int64_t>(s), T, tokens.begin() + b * T);
    std::copy_n(data_.begin() + static_cast<int64_t>(s) + 1, T, targets.begin() + b * T);
  }
}

namespace {
json options_json(const TrainOptions& o) {
  return {{"steps", o.steps}, {"batch", o.batch}, {"seq", o.seq}, {"accum", o.accum}, {"lr", o.lr},
          {"min_lr", o.min_lr}, {"warmup", o.warmup}, {"clip", o.clip}, {"beta1", o.adamw.beta1},
          {"beta2", o.adamw.beta2}, {"eps", o.adamw.eps}, {"weight_decay", o.adamw.weight_decay}, {"seed", o.seed}};
}

// FNV-1a over bytes: a cheap fingerprint to compare ranks' starting points.
uint64_t fnv(uint64_t h, const void* p, size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}
}  // namespace

StepStats Trainer::step() {
  if (!checked_ && dp_.distributed()) {
    // Ranks that started from different weights, data or options would silently train different
    // models that only share gradients; compare fingerprints once.
    uint64_t h = 1469598103934665603ull;
    for (const Param& p : model_.params()) h = fnv(h, p.w.data(), p.w.size() * sizeof(float));
    for (size_t i = 0; i < model_.params().size(); ++i) {
      h = fnv(h, adam_.exp_avg()[i].data(), adam_.exp_avg()[i].size() * sizeof(float));
      h = fnv(h, adam_.exp_avg_sq()[i].data(), adam_.exp_avg_sq()[i].size() * sizeof(float));
    }
    dp_.check_same(h, "the model or optimizer state");
    dp_.check_same(fnv(1469598103934665603ull, data_.data(), data_.size() * sizeof(int32_t)), "the training data");
    const std::string o = options_json(opt_).dump();
    dp_.check_same(fnv(fnv(1469598103934665603ull, o.data(), o.size()), &step_, sizeof step_),
                   "the options or the step");
    checked_ = true;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const double comm0 = reducer_.comm_seconds();
  StepStats st;
  st.step = step_;
  std::vector<int32_t> tok, tgt;
  std::vector<double> losses;
  double loss = 0;
  // The gradient is the sum of the micro-batch gradients in micro-batch order (data_parallel.h),
  // whether this process runs all of them or a share.
  reducer_.begin();
  for (int64_t round = 0; round < reducer_.rounds(opt_.accum); ++round) {
    const int64_t k = reducer_.micro_of(round, opt_.accum);
    double lk = 0;
    if (k >= 0) {
      model_.zero_grad();
      sample(step_, k, tok, tgt);
      lk = model_.forward_backward(Batch{tok.data(), tgt.data(), opt_.batch, opt_.seq},
                                   1.0f / static_cast<float>(opt_.accum));
    }
    reducer_.add_round(round, opt_.accum);
    dp_.allgather(lk, losses);
    for (int64_t j = 0; j < dp_.size() && round * dp_.size() + j < opt_.accum; ++j) loss += losses[static_cast<size_t>(j)];
  }
  reducer_.finish();
  st.loss = loss / static_cast<double>(opt_.accum);
  // Every rank holds the same summed gradient, so the norm, clipping and AdamW agree without more traffic.
  st.grad_norm = clip_grad_norm(model_.params(), opt_.clip);
  st.lr = sched_.at(step_);
  adam_.step(st.lr);
  st.tokens = opt_.accum * opt_.batch * opt_.seq;
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  st.comm_seconds = reducer_.comm_seconds() - comm0;
  ++step_;
  return st;
}


void Trainer::save(const std::string& dir) const {
  if (!dp_.root()) return;
  save_model(model_, dir);
  std::vector<NamedTensor> ts;
  auto& adam = const_cast<AdamW&>(adam_);
  const auto& ps = model_.params();
  for (size_t i = 0; i < ps.size(); ++i) {
    ts.push_back({"exp_avg." + ps[i].name, ps[i].shape, adam.exp_avg()[i].data()});
    ts.push_back({"exp_avg_sq." + ps[i].name, ps[i].shape, adam.exp_avg_sq()[i].data()});
  }
  write_safetensors_f32((std::filesystem::path(dir) / "optimizer.safetensors").string(), ts);
  json state = {{"format", "exaone-train-1"}, {"next_step", step_}, {"adam_steps", adam_.steps_taken()},
                {"options", options_json(opt_)}};
  std::ofstream f(std::filesystem::path(dir) / "trainer_state.json");
  f << state.dump(2) << "\n";
  if (!f) fail(dir + "/trainer_state.json: write failed");
}

void Trainer::resume(const std::string& dir) {
  const std::string state_path = (std::filesystem::path(dir) / "trainer_state.json").string();
  json state = read_json_file(state_path);
  const json& o = state.at("options");
  for (const char* k : {"batch", "seq", "accum"})
    if (o.at(k).get<int64_t>() != options_json(opt_).at(k).get<int64_t>())
      fail(state_path + ": option '" + std::string(k) + "' was " + o.at(k).dump() + ", now " +
           options_json(opt_).at(k).dump() + " (an exact resume needs the same batches)");
  if (o.at("seed").get<uint64_t>() != opt_.seed)
    fail(state_path + ": seed was " + o.at("seed").dump() + ", now " + std::to_string(opt_.seed));
  load_parameters(model_, (std::filesystem::path(dir) / "model.safetensors").string());
  WeightStore store;
  load_safetensors_checkpoint((std::filesystem::path(dir) / "optimizer.safetensors").string(), store);
  const auto& ps = model_.params();
  for (size_t i = 0; i < ps.size(); ++i) {
    for (auto [prefix, vec] : {std::pair{"exp_avg.", &adam_.exp_avg()[i]}, std::pair{"exp_avg_sq.", &adam_.exp_avg_sq()[i]}}) {
      const TensorView& t = store.require(prefix + ps[i].name, ps[i].shape);
      if (t.dtype != DType::F32) fail(dir + ": optimizer tensor '" + t.name + "' is not F32");
      std::memcpy(vec->data(), t.data, vec->size() * sizeof(float));
    }
  }
  step_ = state.at("next_step").get<int64_t>();
  adam_.set_steps_taken(state.at("adam_steps").get<int64_t>());
}

}  // namespace exaone::train
