#include "train/finetune.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "train/rng.h"
#include "util/error.h"

namespace exaone::train {

SftTrainer::SftTrainer(TrainableModel& model, std::vector<Param>& trainable, std::vector<SftRow> rows,
                       TrainOptions opt, int32_t pad_id)
    : model_(model), trainable_(trainable), rows_(std::move(rows)), opt_(opt), adam_(trainable, opt.adamw), pad_(pad_id) {
  if (opt_.batch <= 0 || opt_.seq <= 0 || opt_.accum <= 0 || opt_.steps <= 0)
    fail("finetune: steps, batch, seq and accum must be positive");
  if (rows_.empty()) fail("finetune: no training rows (no assistant turn fits; see the data summary)");
  // Checked here, not at the first batch that holds a long row (possibly many steps in).
  int64_t longest = 1;  // positions of the longest batch row (sft_batch: rows cut to seq)
  for (const SftRow& r : rows_) longest = std::max<int64_t>(longest, static_cast<int64_t>(r.tokens.size()) - 1);
  longest = std::min(longest, opt_.seq);
  if (longest > model.config().max_position)
    fail("finetune: rows of up to " + std::to_string(longest) + " positions exceed the model's max_position_embeddings (" +
         std::to_string(model.config().max_position) + "); lower --seq to " +
         std::to_string(model.config().max_position) + " or less");
  for (const SftRow& r : rows_)
    for (int32_t t : r.tokens)
      if (t < 0 || t >= model.config().vocab_size)
        fail("finetune: token id " + std::to_string(t) + " is outside the model's vocabulary (" +
             std::to_string(model.config().vocab_size) + "): the tokenizer does not belong to the model");
  sched_ = LrSchedule{opt_.lr, opt_.min_lr, opt_.warmup, opt_.steps};
}

std::vector<size_t> SftTrainer::batch_rows(int64_t step, int64_t micro) const {
  const uint64_t n = rows_.size();
  std::vector<size_t> out;
  uint64_t k = static_cast<uint64_t>((step * opt_.accum + micro) * opt_.batch);
  for (int64_t b = 0; b < opt_.batch; ++b, ++k) {
    const int64_t epoch = static_cast<int64_t>(k / n);
    if (epoch != perm_epoch_) {
      perm_.resize(n);
      for (size_t i = 0; i < n; ++i) perm_[i] = i;
      Rng rng(opt_.seed, 0x5F7000000000ull + static_cast<uint64_t>(epoch));
      for (size_t i = n; i > 1; --i) std::swap(perm_[i - 1], perm_[rng.below(i)]);  // Fisher-Yates
      perm_epoch_ = epoch;
    }
    out.push_back(perm_[k % n]);
  }
  return out;
}

StepStats SftTrainer::step() {
  const auto t0 = std::chrono::steady_clock::now();
  StepStats st;
  st.step = step_;
  for (Param& p : trainable_) std::fill(p.g.begin(), p.g.end(), 0.0f);
  std::vector<int32_t> tok, tgt;
  double loss = 0;
  for (int64_t k = 0; k < opt_.accum; ++k) {
    std::vector<const SftRow*> rows;
    for (size_t i : batch_rows(step_, k)) rows.push_back(&rows_[i]);
    int64_t T = 0;
    sft_batch(rows, opt_.seq, pad_, tok, tgt, T);
    loss += model_.forward_backward(Batch{tok.data(), tgt.data(), opt_.batch, T}, 1.0f / static_cast<float>(opt_.accum));
    st.tokens += opt_.batch * T;
  }
  st.loss = loss / static_cast<double>(opt_.accum);
  st.grad_norm = clip_grad_norm(trainable_, opt_.clip);
  st.lr = sched_.at(step_);
  adam_.step(st.lr);
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++step_;
  return st;
}

double SftTrainer::evaluate() {
  double total = 0;
  int64_t counted = 0;
  std::vector<int32_t> tok, tgt;
  for (size_t i = 0; i < rows_.size(); i += static_cast<size_t>(opt_.batch)) {
    std::vector<const SftRow*> rows;
    for (size_t j = i; j < std::min(rows_.size(), i + static_cast<size_t>(opt_.batch)); ++j) rows.push_back(&rows_[j]);
    int64_t T = 0;
    sft_batch(rows, opt_.seq, pad_, tok, tgt, T);
    int64_t n = 0;
    for (int32_t t : tgt) n += t >= 0;
    if (n == 0) continue;
    total += model_.forward(Batch{tok.data(), tgt.data(), static_cast<int64_t>(rows.size()), T}) * static_cast<double>(n);
    counted += n;
  }
  return counted ? total / static_cast<double>(counted) : 0.0;
}

int64_t steps_for_epochs(double epochs, int64_t rows, int64_t batch, int64_t accum) {
  const double per_step = static_cast<double>(batch * accum);
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(epochs * static_cast<double>(rows) / per_step)));
}

void copy_model_side_files(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path dir = fs::is_directory(from, ec) ? fs::path(from) : fs::path(from).parent_path();
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                           "merges.txt", "chat_template.jinja", "generation_config.json"})
    if (fs::exists(dir / name)) fs::copy_file(dir / name, fs::path(to) / name, fs::copy_options::overwrite_existing);
}

}  // namespace exaone::train
