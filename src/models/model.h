// A loaded EXAONE model: configuration, memory-mapped weights, and a batched forward pass.
// The forward pass takes a batch of sequences of different lengths, each continuing from its
// own KV cache (continuous batching), and returns logits for the rows asked for.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "loaders/weight_store.h"
#include "models/config.h"
#include "models/kv_cache.h"

namespace exaone {

struct LoraAdapter;

struct SequenceChunk {
  std::span<const int32_t> tokens;  // tokens following what `cache` already holds
  KVCache* cache = nullptr;
  bool all_logits = false;          // logits for every token, or only the last one
};

// Input of the multi-token-prediction layer for one sequence: row i pairs the main model's
// final-normed hidden state of position p = cache->n_past() + i with token p + 1.
struct MtpChunk {
  std::span<const int32_t> tokens;  // token p + 1 of each row
  const float* hidden = nullptr;    // [tokens.size(), hidden] hidden states h_p
  KVCache* cache = nullptr;         // the MTP layer's cache (Model::new_mtp_cache)
  int64_t logit_rows = 1;           // logits (and output hidden states) for this many last rows
};

// One LoRA adapter added to a model (Model::add_lora), for logs and `info`.
struct LoraApplied {
  std::string source;    // the adapter's path
  double scale = 1.0;    // the user's multiplier
  int64_t matrices = 0;  // targeted matrices
  int64_t rank = 0;      // the adapter's r
  double alpha = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  const ModelConfig& config() const { return cfg_; }
  const WeightStore& weights() const { return *weights_; }

  // Runs every chunk, appends their K/V to their caches, and fills `logits` with
  // [rows, vocab_size] floats: per chunk in order, all its positions or only its last.
  virtual void forward(std::span<const SequenceChunk> batch, std::vector<float>& logits) = 0;
  // forward() that also returns the final-normed hidden state of every token row of the batch,
  // [tokens, hidden] in batch order: the input of the multi-token-prediction layer.
  virtual void forward_hidden(std::span<const SequenceChunk> batch, std::vector<float>& logits,
                              std::vector<float>& hidden);

  // Multi-token prediction (self-speculative decoding drafts): whether the checkpoint has an MTP
  // layer; a KV cache for it (one layer); and its forward pass, which appends each chunk's rows to
  // its cache and returns, for the last `logit_rows` rows of each chunk, the logits [rows, vocab]
  // and the MTP layer's own final-normed hidden states [rows, hidden] (the next draft step's input).
  virtual bool has_mtp() const { return false; }
  virtual std::unique_ptr<KVCache> new_mtp_cache(int64_t max_context = 0, DType kv_type = DType::F32) const;
  virtual void mtp_forward(std::span<const MtpChunk> batch, std::vector<float>& logits, std::vector<float>& hidden);

  std::unique_ptr<KVCache> new_cache(int64_t max_context = 0, DType kv_type = DType::F32) const {
    return std::make_unique<KVCache>(cfg_, max_context > 0 ? max_context : cfg_.max_position, kv_type);
  }
  virtual int64_t parameter_count() const = 0;
  // Adds a LoRA adapter applied at run time, unmerged: after each targeted matrix W the forward
  // pass adds scale · alpha/r · B·(A·x) for the whole batch of rows (adapters stack). Errors
  // (unknown target, wrong shape, another architecture, MoE experts) name the adapter file and
  // tensor. Not to be called while a forward pass runs.
  virtual void add_lora(const LoraAdapter& adapter, double scale);
  const std::vector<LoraApplied>& loras() const { return loras_; }
  // Storage type of the big matrices ("BF16", "F32", mixed as "F16+F32"...).
  std::string weight_dtype_summary() const;

 protected:
  ModelConfig cfg_;
  std::unique_ptr<WeightStore> weights_;
  std::vector<LoraApplied> loras_;
};

// Opens a checkpoint (HF folder or single file), picks the family from its config and builds
// the model. Errors name the file and field/tensor at fault.
std::unique_ptr<Model> load_model(const std::string& path);

// Parses a config.json document of any supported family (validated); `where` names it.
ModelConfig parse_model_config(const json& j, const std::string& where);

// Only the configuration (no weights mapped): for `exaone info` on large checkpoints.
ModelConfig load_model_config(const std::string& path);

}  // namespace exaone
