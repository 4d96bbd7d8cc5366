// LoRA (Hu et al. 2021) on a TrainableModel, as HF `peft` defines it: for each target linear layer
// y = W·x + scale·B·(A·dropout(x)), A [rank, in], B [out, rank], scale = alpha / rank (alpha / sqrt(rank)
// with rsLoRA). A starts Kaiming-uniform as peft's default (U(-1/sqrt(in), 1/sqrt(in)), deterministic for
// the seed), B at zero, so training starts from the base model exactly. The base is frozen: the
// backward computes dx through W but no dW (most of the saving over full fine-tuning), and the
// adapters' dA, dB. Dropout acts on the adapter's input path only, during forward_backward (not in
// forward, the evaluation path), with a mask that is a function of (seed, layer, call, element).
//
// The base may be a float model or a GGUF file kept quantized (TrainableModel::load): QLoRA-style.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "loaders/lora_adapter.h"
#include "train/model.h"

namespace exaone::train {

struct LoraConfig {
  int64_t rank = 8;
  double alpha = 16;
  double dropout = 0.0;
  bool rslora = false;
  // Short module names (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj; EXAONE 3.x's own
  // names out_proj, c_fc_0, c_fc_1, c_proj are accepted too and the EXAONE 4.0 ones map to them).
  // Empty: every linear layer of attention and MLP.
  std::vector<std::string> targets;
  uint64_t seed = 1234;
};

// "q_proj,v_proj" -> the model family's short names (checked against the model's layers); Error naming
// `what` for an unknown name.
std::vector<std::string> resolve_lora_targets(TrainableModel& model, const std::vector<std::string>& names,
                                              const std::string& what);

class LoraLinear;

class Lora {
 public:
  // Freezes the whole base and attaches a fresh adapter (A random, B zero) to every target layer.
  Lora(TrainableModel& model, const LoraConfig& cfg);
  // Attaches the pairs of an adapter read from disk (read_lora_adapter): module names and shapes must
  // match the model. Freezes the base too. Dropout is taken from cfg (0: none).
  Lora(TrainableModel& model, const LoraAdapter& adapter, double dropout = 0.0, uint64_t seed = 1234);
  ~Lora();  // detaches the adapters from the model
  Lora(const Lora&) = delete;
  Lora& operator=(const Lora&) = delete;

  // The adapter parameters (what the optimizer trains): per target "<module>.lora_A.weight" [rank, in]
  // then "<module>.lora_B.weight" [out, rank], in layer order.
  std::vector<Param>& params() { return params_; }
  int64_t parameter_count() const;
  const LoraConfig& config() const { return cfg_; }

  // The trained adapter for write_peft_adapter / write_gguf_lora_adapter; `base_model` is recorded as
  // base_model_name_or_path.
  LoraAdapter adapter(const std::string& base_model) const;

  // Dropout masks come from (seed, layer, call number): each training forward takes the next call
  // number. Setting it replays a mask (tests probe one forward_backward with finite differences).
  void set_dropout_call(uint64_t call);

  // W += scale·B·A into the float base (peft's merge_and_unload), then detaches: the model alone now
  // computes what model + adapter did. Error for a base with stored (quantized) matrices.
  void merge_into_base();

 private:
  void attach(const std::string& module, int64_t rank, double scale);

  TrainableModel& model_;
  LoraConfig cfg_;
  std::vector<Param> params_;                        // reserved up front: adapters hold pointers into it
  std::vector<std::unique_ptr<LoraLinear>> linears_;
  bool attached_ = false;
};

}  // namespace exaone::train
