// The training loop: batches sampled from a token stream, gradient accumulation, clipping,
// AdamW with warmup + cosine, checkpoints and exact resume.
//
// Determinism: the batch of step s, micro-batch k is drawn from an Rng keyed by (seed, s, k) and
// nothing else, every kernel sums in a fixed order, and a checkpoint stores parameters and AdamW
// moments bit for bit. So a run resumed from step s continues exactly as the uninterrupted run
// (same thread count), and two runs with the same seed give the same losses.
//
// Data parallel (data_parallel.h): under mpirun the `accum` micro-batches of a step are shared
// between the ranks (micro-batch k on rank k mod R) and their gradients summed in micro-batch
// order, so R processes take the same steps, bit for bit, as one process with the same options.
// Every rank keeps the whole model and optimizer and applies the same update; only rank 0 writes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "train/data_parallel.h"
#include "train/model.h"
#include "train/optim.h"

namespace exaone::train {

struct TrainOptions {
  int64_t steps = 100;        // optimizer steps in the whole run (the cosine ends here)
  int64_t batch = 4;          // sequences per micro-batch
  int64_t seq = 128;          // tokens per sequence
  int64_t accum = 1;          // micro-batches per optimizer step
  double lr = 3e-4, min_lr = 3e-5;
  int64_t warmup = 10;
  double clip = 1.0;          // global gradient norm limit (<= 0: off)
  AdamWConfig adamw;
  uint64_t seed = 1234;
};

struct StepStats {
  int64_t step = 0;           // 0-based index of the step just taken
  double loss = 0;            // mean over the micro-batches
  double grad_norm = 0;       // before clipping
  double lr = 0;
  int64_t tokens = 0;         // tokens processed in this step (all ranks together)
  double seconds = 0;
  double comm_seconds = 0;    // of which exchanging gradients between ranks
};

class Trainer {
 public:
  // `data`: the token stream; sequences are windows of seq+1 tokens starting anywhere in it.
  // `dp`: the process group sharing the micro-batches (default: this process alone);
  // `bucket_floats`: gradient elements per exchange message.
  Trainer(TrainableModel& model, std::vector<int32_t> data, TrainOptions opt,
          const DataParallel& dp = DataParallel::single(), size_t bucket_floats = size_t{1} << 22);

  StepStats step();
  int64_t next_step() const { return step_; }
  const TrainOptions& options() const { return opt_; }
  const LrSchedule& schedule() const { return sched_; }
  AdamW& optimizer() { return adam_; }

  // The batch of (step, micro-batch): B·T tokens and targets, row-major.
  void sample(int64_t step, int64_t micro, std::vector<int32_t>& tokens, std::vector<int32_t>& targets) const;

  const DataParallel& group() const { return dp_; }

  // config.json + model.safetensors + optimizer.safetensors + trainer_state.json into `dir`
  // (rank 0 only; the other ranks hold the same values).
  void save(const std::string& dir) const;
  // Restores parameters, AdamW state and the step from a checkpoint written by save(); the
  // options that shape the run (seed, batch, seq, accum) must match, or Error.
  void resume(const std::string& dir);

 private:
  TrainableModel& model_;
  std::vector<int32_t> data_;
  TrainOptions opt_;
  LrSchedule sched_;
  AdamW adam_;
  const DataParallel& dp_;
  GradientReducer reducer_;
  int64_t step_ = 0;
  bool checked_ = false;  // ranks compared (weights, data, options) before the first step
};

}  // namespace exaone::train
