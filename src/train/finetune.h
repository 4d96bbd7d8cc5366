// Supervised fine-tuning (`exaone finetune`): the loop over chat rows (sft_data.h) with the loss on
// assistant tokens, AdamW with warmup + cosine and clipping as `exaone train`, over either every
// parameter of the model (full fine-tuning) or only a set of adapter parameters (LoRA).
//
// Determinism: epoch e visits the rows in a permutation drawn from (seed, e); the rows of step s,
// micro-batch k are the next batch of that order, so a step's batch depends on (seed, s, k) only.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "train/model.h"
#include "train/optim.h"
#include "train/sft_data.h"
#include "train/trainer.h"

namespace exaone::train {

class SftTrainer {
 public:
  // `trainable`: the parameters the optimizer updates (the model's own for full fine-tuning).
  // opt.steps must be set (steps_for_epochs gives it from a number of epochs).
  SftTrainer(TrainableModel& model, std::vector<Param>& trainable, std::vector<SftRow> rows, TrainOptions opt,
             int32_t pad_id);

  StepStats step();
  int64_t next_step() const { return step_; }
  const std::vector<SftRow>& rows() const { return rows_; }
  // Row indices of (step, micro-batch).
  std::vector<size_t> batch_rows(int64_t step, int64_t micro) const;
  // Mean loss over the trained tokens of all rows (no gradients), in batches of opt.batch.
  double evaluate();

 private:
  TrainableModel& model_;
  std::vector<Param>& trainable_;
  std::vector<SftRow> rows_;
  TrainOptions opt_;
  LrSchedule sched_;
  AdamW adam_;
  int32_t pad_;
  int64_t step_ = 0;
  mutable std::vector<size_t> perm_;
  mutable int64_t perm_epoch_ = -1;
};

// Optimizer steps for `epochs` passes over `rows` rows at batch × accum rows per step (at least 1).
int64_t steps_for_epochs(double epochs, int64_t rows, int64_t batch, int64_t accum);

// Copies the files that make a folder a usable model besides its weights (tokenizer, chat template,
// generation config) from the base model's folder (or the folder of a file) to `to`.
void copy_model_side_files(const std::string& from, const std::string& to);

}  // namespace exaone::train
