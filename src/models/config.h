// Architecture hyper-parameters of a checkpoint, normalised across EXAONE generations and
// file formats (HF config.json of EXAONE 3.x / 4.0, GGUF metadata). Each model family parses
// its own config.json spelling into this struct (see exaone3.cpp, exaone4.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "util/json_file.h"

namespace exaone {

enum class Family { Exaone3, Exaone4, ExaoneMoe };
const char* family_name(Family f);

struct RopeConfig {
  std::string type = "default";  // default | linear | llama3
  double theta = 10000.0;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position = 8192;
  // GGUF `rope_freqs` tensor (head_dim/2 divisors): when set, inv_freq = theta^(-2j/hd) / divisor
  // and `type` is ignored (llama.cpp stores llama3 scaling this way).
  std::vector<float> freq_divisors;
};

struct ModelConfig {
  Family family = Family::Exaone4;
  std::string model_type;        // as the checkpoint spells it ("exaone4", "exaone")
  int64_t hidden = 0;
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t intermediate = 0;
  int64_t vocab_size = 0;        // rows of the embedding (may exceed the tokenizer's vocabulary)
  int64_t max_position = 0;      // context length the model was trained for
  double rms_eps = 1e-5;
  bool tie_embeddings = false;
  int64_t sliding_window = 0;    // 0: no sliding layers
  std::vector<bool> layer_sliding;  // per layer: sliding-window attention
  std::vector<bool> layer_rope;     // per layer: RoPE applied (false = NoPE)
  RopeConfig rope;
  // Mixture of experts (K-EXAONE, spec §3.1); n_experts == 0: every layer has the dense MLP.
  // Routing as transformers' ExaoneMoeTopkRouter: sigmoid scores, `expert_bias` added for choosing
  // only, the best `topk_group` of `n_group` groups (group score = sum of its two best), top
  // `n_experts_used` inside them; weights = chosen scores, normalised if `norm_topk_prob`, times
  // `routed_scaling`. Shared expert(s) = one SwiGLU of width moe_intermediate * n_shared_experts.
  int64_t n_experts = 0;
  int64_t n_experts_used = 0;       // num_experts_per_tok (top-k)
  int64_t moe_intermediate = 0;
  int64_t n_shared_experts = 0;
  int64_t n_group = 1, topk_group = 1;
  bool norm_topk_prob = true;
  double routed_scaling = 1.0;
  std::vector<bool> layer_moe;      // per layer: routed experts (else the dense MLP); empty = all dense
  // Multi-token-prediction (MTP) layer (K-EXAONE `mtp.*`), read only to draft tokens for
  // self-speculative decoding. Its attention: `mtp_layer_types[0]` (and `mtp_sliding_windows[0]`)
  // when config.json gives them, else that of main layer 0 (as vLLM's first exaone_moe_mtp did);
  // RoPE as on the main layers (sliding, or every layer of a model without a window).
  int64_t mtp_layers = 0;           // num_nextn_predict_layers as declared (0: not declared)
  bool mtp_sliding = false;
  int64_t mtp_window = 0;           // window of a sliding MTP layer
  bool mtp_rope = true;
  // Token ids from config.json / generation_config.json (-1 when absent).
  int64_t bos_id = -1;
  int64_t pad_id = -1;
  std::vector<int64_t> eos_ids;
  // Sampling defaults from generation_config.json (negative / 0 = not given).
  double gen_temperature = -1, gen_top_p = -1, gen_repetition_penalty = -1;
  int64_t gen_top_k = -1;
  std::string source_dtype;      // torch_dtype / storage type as declared
  // EXAONE 4.5 runs text-only: parts of the checkpoint that were found and left unloaded.
  bool vision_tower = false;     // vision_config or vision tensors present

  int64_t q_dim() const { return n_heads * head_dim; }
  int64_t kv_dim() const { return n_kv_heads * head_dim; }
  bool is_moe_layer(int64_t l) const { return !layer_moe.empty() && layer_moe[static_cast<size_t>(l)]; }
  // Checks internal consistency (heads divide, per-layer vectors sized); throws Error naming `where`.
  void validate(const std::string& where) const;
};

// Resolves per-layer sliding flags from the EXAONE 4.0 spellings (spec §1.4): explicit
// `layer_types`, a string pattern such as "LLLG", or an integer period.
std::vector<bool> resolve_sliding_layers(int64_t n_layers, const json& config, const std::string& where);
// `sliding_window` (absent: HF's 4096, null: none), the per-layer sliding flags and the RoPE/NoPE
// rule shared by EXAONE 4.0 and K-EXAONE (RoPE on sliding layers, everywhere without a window).
void parse_hybrid_attention(const json& j, const std::string& where, ModelConfig& c);

// Keys shared by the HF configs of all families (sizes, rope, ids, tying); the family file
// passes the key spellings it uses. `default_theta` is the family's rope_theta default.
struct HfKeys {
  const char* n_layers = "num_hidden_layers";
  const char* rms_eps = "rms_norm_eps";
  const char* act = "hidden_act";
  double default_theta = 10000.0;
  int64_t default_max_position = 2048;
};
void parse_hf_common(const json& j, const std::string& where, const HfKeys& keys, ModelConfig& c);
RopeConfig parse_hf_rope(const json& j, const std::string& where, double default_theta);
// Reads generation_config.json if present (eos ids, sampling defaults); eos ids are merged.
void read_generation_config(const std::string& dir, ModelConfig& c);

// inv_freq[j] for j < head_dim/2 after the configured scaling (HF rope init functions).
std::vector<float> rope_inv_freq(const RopeConfig& rope, int64_t head_dim);

}  // namespace exaone
