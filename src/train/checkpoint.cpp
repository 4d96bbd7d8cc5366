#include "train/checkpoint.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "loaders/safetensors.h"
#include "loaders/weight_store.h"
#include "util/error.h"

namespace exaone::train {

void write_safetensors_f32(const std::string& path, const std::vector<NamedTensor>& tensors) {
  std::vector<SafetensorsF32> ts;
  ts.reserve(tensors.size());
  for (const NamedTensor& t : tensors) ts.push_back({t.name, t.shape, t.data});
  exaone::write_safetensors_f32(path, ts);
}

json hf_config_json(const ModelConfig& c) {
  json rope_scaling = nullptr;
  if (c.rope.type == "llama3")
    rope_scaling = {{"rope_type", "llama3"}, {"factor", c.rope.factor}, {"low_freq_factor", c.rope.low_freq_factor},
                    {"high_freq_factor", c.rope.high_freq_factor},
                    {"original_max_position_embeddings", c.rope.original_max_position}};
  else if (c.rope.type == "linear")
    rope_scaling = {{"rope_type", "linear"}, {"factor", c.rope.factor}};
  json j;
  if (c.family == Family::Exaone4) {
    j["architectures"] = {"Exaone4ForCausalLM"};
    j["model_type"] = "exaone4";
    j["vocab_size"] = c.vocab_size;
    j["hidden_size"] = c.hidden;
    j["intermediate_size"] = c.intermediate;
    j["num_hidden_layers"] = c.n_layers;
    j["num_attention_heads"] = c.n_heads;
    j["num_key_value_heads"] = c.n_kv_heads;
    j["head_dim"] = c.head_dim;
    j["hidden_act"] = "silu";
    j["max_position_embeddings"] = c.max_position;
    j["rms_norm_eps"] = c.rms_eps;
    j["tie_word_embeddings"] = c.tie_embeddings;
    if (c.sliding_window > 0) {
      j["sliding_window"] = c.sliding_window;
      json types = json::array();
      for (int64_t l = 0; l < c.n_layers; ++l) types.push_back(c.layer_sliding[l] ? "sliding_attention" : "full_attention");
      j["layer_types"] = types;
    } else {
      j["sliding_window"] = nullptr;
    }
  } else if (c.family == Family::Exaone3) {
    if (c.head_dim * c.n_heads != c.hidden) fail("train: EXAONE 3.x configs have head_dim = hidden / heads");
    j["architectures"] = {"ExaoneForCausalLM"};
    j["model_type"] = "exaone";
    j["vocab_size"] = c.vocab_size;
    j["hidden_size"] = c.hidden;
    j["intermediate_size"] = c.intermediate;
    j["num_layers"] = c.n_layers;
    j["num_attention_heads"] = c.n_heads;
    j["num_key_value_heads"] = c.n_kv_heads;
    j["activation_function"] = "silu";
    j["max_position_embeddings"] = c.max_position;
    j["layer_norm_epsilon"] = c.rms_eps;
    j["tie_word_embeddings"] = c.tie_embeddings;
  } else {
    fail("train: cannot write a config for this model family");
  }
  j["rope_theta"] = c.rope.theta;
  j["rope_scaling"] = rope_scaling;
  if (c.bos_id >= 0) j["bos_token_id"] = c.bos_id;
  if (!c.eos_ids.empty()) j["eos_token_id"] = c.eos_ids.size() == 1 ? json(c.eos_ids[0]) : json(c.eos_ids);
  if (c.pad_id >= 0) j["pad_token_id"] = c.pad_id;
  j["torch_dtype"] = "float32";
  return j;
}

void save_model(const TrainableModel& m, const std::string& dir) {
  std::filesystem::create_directories(dir);
  std::vector<NamedTensor> ts;
  for (const Param& p : m.params()) ts.push_back({p.name, p.shape, p.w.data()});
  write_safetensors_f32((std::filesystem::path(dir) / "model.safetensors").string(), ts);
  std::ofstream f(std::filesystem::path(dir) / "config.json");
  f << hf_config_json(m.config()).dump(2) << "\n";
  if (!f) fail(dir + "/config.json: write failed");
}

void load_parameters(TrainableModel& m, const std::string& path) {
  WeightStore store;
  load_safetensors_checkpoint(path, store);
  for (Param& p : m.params()) {
    const TensorView& t = store.require(p.name, p.shape);
    if (t.dtype != DType::F32) fail(path + ": tensor '" + p.name + "' is not F32");
    std::memcpy(p.w.data(), t.data, p.w.size() * sizeof(float));
  }
}

}  // namespace exaone::train
