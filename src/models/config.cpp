#include "models/config.h"

#include <cmath>

#include "util/error.h"
#include "util/paths.h"

namespace exaone {

const char* family_name(Family f) {
  switch (f) {
    case Family::Exaone3: return "EXAONE 3.x";
    case Family::Exaone4: return "EXAONE 4.0";
    case Family::ExaoneMoe: return "K-EXAONE (MoE)";
  }
  return "?";
}

void ModelConfig::validate(const std::string& where) const {
  auto positive = [&](int64_t v, const char* name) {
    if (v <= 0) fail(where + ": field '" + name + "' must be positive, got " + std::to_string(v));
  };
  positive(hidden, "hidden_size");
  positive(n_layers, "num_hidden_layers");
  positive(n_heads, "num_attention_heads");
  positive(n_kv_heads, "num_key_value_heads");
  positive(head_dim, "head_dim");
  positive(intermediate, "intermediate_size");
  positive(vocab_size, "vocab_size");
  positive(max_position, "max_position_embeddings");
  if (n_heads % n_kv_heads != 0)
    fail(where + ": num_attention_heads (" + std::to_string(n_heads) + ") is not a multiple of num_key_value_heads (" +
         std::to_string(n_kv_heads) + ")");
  if (head_dim % 2 != 0) fail(where + ": head_dim must be even for rotary embeddings, got " + std::to_string(head_dim));
  if (static_cast<int64_t>(layer_sliding.size()) != n_layers || static_cast<int64_t>(layer_rope.size()) != n_layers)
    fail(where + ": per-layer attention layout does not cover " + std::to_string(n_layers) + " layers");
  if (!(rms_eps > 0) || !std::isfinite(rms_eps)) fail(where + ": RMS norm epsilon must be positive");
  if (!(rope.theta > 0) || !std::isfinite(rope.theta)) fail(where + ": rope_theta must be positive");
  if (n_experts > 0) {
    positive(n_experts_used, "num_experts_per_tok");
    positive(moe_intermediate, "moe_intermediate_size");
    positive(n_group, "n_group");
    positive(topk_group, "topk_group");
    if (n_shared_experts < 0) fail(where + ": field 'num_shared_experts' must not be negative");
    if (n_experts > 65536) fail(where + ": field 'num_experts': implausible expert count " + std::to_string(n_experts));
    if (n_experts_used > n_experts)
      fail(where + ": field 'num_experts_per_tok' (" + std::to_string(n_experts_used) + ") exceeds num_experts (" +
           std::to_string(n_experts) + ")");
    if (n_experts % n_group != 0)
      fail(where + ": field 'n_group' (" + std::to_string(n_group) + ") does not divide num_experts (" +
           std::to_string(n_experts) + ")");
    // transformers scores each group by the sum of its two best experts (topk(2) inside the group).
    if (n_experts / n_group < 2)
      fail(where + ": field 'n_group' (" + std::to_string(n_group) + ") leaves fewer than 2 experts per group");
    if (topk_group > n_group)
      fail(where + ": field 'topk_group' (" + std::to_string(topk_group) + ") exceeds n_group (" +
           std::to_string(n_group) + ")");
    if (topk_group * (n_experts / n_group) < n_experts_used)
      fail(where + ": field 'topk_group' (" + std::to_string(topk_group) + ") x group size (" +
           std::to_string(n_experts / n_group) + ") is smaller than num_experts_per_tok (" +
           std::to_string(n_experts_used) + ")");
    if (!(routed_scaling > 0) || !std::isfinite(routed_scaling))
      fail(where + ": field 'routed_scaling_factor' must be positive");
    if (static_cast<int64_t>(layer_moe.size()) != n_layers)
      fail(where + ": per-layer MLP layout does not cover " + std::to_string(n_layers) + " layers");
  } else {
    for (bool m : layer_moe)
      if (m) fail(where + ": a layer is marked sparse but 'num_experts' is 0");
  }
  const int64_t limit = int64_t{1} << 31;
  if (hidden > limit || vocab_size > limit || intermediate > limit || n_layers > 4096 || head_dim > 4096)
    fail(where + ": implausible model dimensions");
}

std::vector<bool> resolve_sliding_layers(int64_t n_layers, const json& j, const std::string& where) {
  std::vector<bool> sliding(n_layers, false);
  // 1. sliding_window null -> every layer global. HF's default when the key is absent is 4096.
  auto sw = j.find("sliding_window");
  if (sw != j.end() && sw->is_null()) return sliding;
  // 2. explicit layer_types
  if (auto lt = j.find("layer_types"); lt != j.end() && !lt->is_null()) {
    if (!lt->is_array()) fail(where + ": field 'layer_types': expected array");
    if (static_cast<int64_t>(lt->size()) != n_layers)
      fail(where + ": field 'layer_types' has " + std::to_string(lt->size()) + " entries for " +
           std::to_string(n_layers) + " layers");
    for (int64_t i = 0; i < n_layers; ++i) {
      const auto& t = (*lt)[i];
      if (t == "sliding_attention") sliding[i] = true;
      else if (t == "full_attention") sliding[i] = false;
      else fail(where + ": field 'layer_types'[" + std::to_string(i) + "]: unknown layer type " + t.dump());
    }
    return sliding;
  }
  // 3./4. pattern: string of L/G (last layer always global) or integer period (default 4).
  auto pat = j.find("sliding_window_pattern");
  if (pat != j.end() && pat->is_string()) {
    const std::string p = pat->get<std::string>();
    if (p.empty()) fail(where + ": field 'sliding_window_pattern' is an empty string");
    for (size_t k = 0; k < p.size(); ++k)
      if (p[k] != 'L' && p[k] != 'G')
        fail(where + ": field 'sliding_window_pattern': character " + std::to_string(k) + " is not 'L' or 'G'");
    for (int64_t i = 0; i < n_layers; ++i) sliding[i] = p[i % p.size()] == 'L';
    sliding[n_layers - 1] = false;
    return sliding;
  }
  int64_t period = 4;
  if (pat != j.end() && !pat->is_null()) {
    if (!pat->is_number_integer()) fail(where + ": field 'sliding_window_pattern': expected string or integer");
    period = pat->get<int64_t>();
    if (period <= 0) fail(where + ": field 'sliding_window_pattern' must be positive");
  }
  for (int64_t i = 0; i < n_layers; ++i) sliding[i] = (i + 1) % period != 0;
  return sliding;
}

void parse_hybrid_attention(const json& j, const std::string& where, ModelConfig& c) {
  // HF default when the key is absent is a 4096 window with period 4; null disables it.
  auto sw = j.find("sliding_window");
  if (sw == j.end()) c.sliding_window = 4096;
  else if (sw->is_null()) c.sliding_window = 0;
  else c.sliding_window = get_int(j, "sliding_window", where);
  if (sw != j.end() && !sw->is_null() && c.sliding_window <= 0)
    fail(where + ": field 'sliding_window' must be positive or null");
  if (c.n_layers <= 0) fail(where + ": field 'num_hidden_layers' must be positive");
  c.layer_sliding = resolve_sliding_layers(c.n_layers, j, where);
  if (c.sliding_window == 0) c.layer_sliding.assign(c.n_layers, false);
  // RoPE on sliding layers; on every layer when the model has no sliding window at all.
  c.layer_rope.resize(c.n_layers);
  for (int64_t l = 0; l < c.n_layers; ++l) c.layer_rope[l] = c.sliding_window == 0 || c.layer_sliding[l];
  // The MTP layer (K-EXAONE, EXAONE 4.5): its own type when given, else main layer 0's.
  c.mtp_layers = opt_int(j, "num_nextn_predict_layers", where).value_or(0);
  if (c.mtp_layers < 0) fail(where + ": field 'num_nextn_predict_layers' must not be negative");
  c.mtp_sliding = c.layer_sliding[0];
  c.mtp_window = c.mtp_sliding ? c.sliding_window : 0;
  if (auto mt = j.find("mtp_layer_types"); mt != j.end() && !mt->is_null()) {
    if (!mt->is_array() || mt->empty()) fail(where + ": field 'mtp_layer_types': expected a non-empty array");
    const auto& t = (*mt)[0];
    if (t == "sliding_attention") c.mtp_sliding = true;
    else if (t == "full_attention") c.mtp_sliding = false;
    else fail(where + ": field 'mtp_layer_types'[0]: unknown layer type " + t.dump());
    c.mtp_window = c.mtp_sliding ? c.sliding_window : 0;
    if (auto mw = j.find("mtp_sliding_windows"); c.mtp_sliding && mw != j.end() && !mw->is_null()) {
      if (!mw->is_array() || mw->empty() || !(*mw)[0].is_number_integer())
        fail(where + ": field 'mtp_sliding_windows': expected a non-empty array of integers");
      if ((*mw)[0].get<int64_t>() > 0) c.mtp_window = (*mw)[0].get<int64_t>();
    }
    if (c.mtp_sliding && c.mtp_window <= 0)
      fail(where + ": field 'mtp_layer_types'[0] is sliding_attention but no window is given");
  }
  c.mtp_rope = c.sliding_window == 0 || c.mtp_sliding;
}

RopeConfig parse_hf_rope(const json& j, const std::string& where, double default_theta) {
  RopeConfig r;
  r.theta = default_theta;
  // transformers >= 5 writes `rope_parameters` (with rope_theta inside); older files write
  // `rope_theta` plus an optional `rope_scaling` block.
  const json* params = nullptr;
  if (auto it = j.find("rope_parameters"); it != j.end() && !it->is_null()) params = &*it;
  if (auto it = j.find("rope_scaling"); !params && it != j.end() && !it->is_null()) params = &*it;
  if (auto t = opt_number(j, "rope_theta", where)) r.theta = *t;
  if (!params) return r;
  if (!params->is_object()) fail(where + ": field 'rope_scaling': expected object");
  const std::string w = where + ": rope scaling";
  if (auto t = opt_number(*params, "rope_theta", w)) r.theta = *t;
  std::string type = "default";
  if (auto t = opt_string(*params, "rope_type", w)) type = *t;
  else if (auto t2 = opt_string(*params, "type", w)) type = *t2;
  r.type = type;
  if (type == "default") return r;
  if (type == "linear") {
    r.factor = get_number(*params, "factor", w);
  } else if (type == "llama3") {
    r.factor = get_number(*params, "factor", w);
    r.low_freq_factor = get_number(*params, "low_freq_factor", w);
    r.high_freq_factor = get_number(*params, "high_freq_factor", w);
    r.original_max_position = get_int(*params, "original_max_position_embeddings", w);
    if (r.high_freq_factor == r.low_freq_factor) fail(w + ": high_freq_factor equals low_freq_factor");
  } else {
    fail(where + ": rope scaling type '" + type + "' is not supported (supported: default, linear, llama3)");
  }
  if (!(r.factor > 0)) fail(w + ": factor must be positive");
  return r;
}

std::vector<float> rope_inv_freq(const RopeConfig& rope, int64_t head_dim) {
  // Same float32 arithmetic order as HF's rope init functions.
  const int64_t half = head_dim / 2;
  std::vector<float> inv(half);
  for (int64_t j = 0; j < half; ++j) {
    float expo = static_cast<float>(2 * j) / static_cast<float>(head_dim);
    inv[j] = 1.0f / std::pow(static_cast<float>(rope.theta), expo);
  }
  if (!rope.freq_divisors.empty()) {
    if (static_cast<int64_t>(rope.freq_divisors.size()) != half)
      fail("rope_freqs: " + std::to_string(rope.freq_divisors.size()) + " divisors for head_dim " +
           std::to_string(head_dim) + " (expected " + std::to_string(half) + ")");
    for (int64_t j = 0; j < half; ++j) inv[j] = inv[j] / rope.freq_divisors[j];
    return inv;
  }
  if (rope.type == "linear") {
    for (auto& f : inv) f = f / static_cast<float>(rope.factor);
  } else if (rope.type == "llama3") {
    const float factor = static_cast<float>(rope.factor);
    const float lo = static_cast<float>(rope.low_freq_factor), hi = static_cast<float>(rope.high_freq_factor);
    const float old_len = static_cast<float>(rope.original_max_position);
    const float low_wl = old_len / lo, high_wl = old_len / hi;
    for (auto& f : inv) {
      const float wl = 2.0f * static_cast<float>(M_PI) / f;
      float g = wl > low_wl ? f / factor : f;
      if (!(wl < high_wl) && !(wl > low_wl)) {
        const float s = (old_len / wl - lo) / (hi - lo);
        g = (1 - s) * g / factor + s * g;
      }
      f = g;
    }
  }
  return inv;
}

static std::vector<int64_t> read_id_list(const json& j, const std::string& key, const std::string& where) {
  std::vector<int64_t> ids;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return ids;
  if (it->is_array()) {
    for (size_t i = 0; i < it->size(); ++i) {
      if (!(*it)[i].is_number_integer()) fail(where + ": field '" + key + "'[" + std::to_string(i) + "]: expected integer");
      ids.push_back((*it)[i].get<int64_t>());
    }
  } else {
    ids.push_back(get_int(j, key, where));
  }
  return ids;
}

void parse_hf_common(const json& j, const std::string& where, const HfKeys& keys, ModelConfig& c) {
  c.hidden = get_int(j, "hidden_size", where);
  c.n_layers = get_int(j, keys.n_layers, where);
  c.n_heads = get_int(j, "num_attention_heads", where);
  c.n_kv_heads = opt_int(j, "num_key_value_heads", where).value_or(c.n_heads);
  if (c.n_heads <= 0) fail(where + ": field 'num_attention_heads' must be positive");
  c.head_dim = opt_int(j, "head_dim", where).value_or(0);
  if (c.head_dim == 0) c.head_dim = c.hidden / c.n_heads;  // HF: `head_dim or hidden // heads`
  c.intermediate = get_int(j, "intermediate_size", where);
  c.vocab_size = get_int(j, "vocab_size", where);
  c.max_position = opt_int(j, "max_position_embeddings", where).value_or(keys.default_max_position);
  c.rms_eps = opt_number(j, keys.rms_eps, where).value_or(1e-5);
  c.tie_embeddings = opt_bool(j, "tie_word_embeddings", where).value_or(false);
  auto act = opt_string(j, keys.act, where).value_or("silu");
  if (act != "silu") fail(where + ": field '" + std::string(keys.act) + "': activation '" + act + "' is not supported (silu)");
  if (opt_bool(j, "attention_bias", where).value_or(false) || opt_bool(j, "mlp_bias", where).value_or(false))
    fail(where + ": biased projections (attention_bias/mlp_bias) are not supported");
  c.rope = parse_hf_rope(j, where, keys.default_theta);
  c.bos_id = opt_int(j, "bos_token_id", where).value_or(-1);
  c.pad_id = opt_int(j, "pad_token_id", where).value_or(-1);
  c.eos_ids = read_id_list(j, "eos_token_id", where);
  c.source_dtype = opt_string(j, "torch_dtype", where).value_or(opt_string(j, "dtype", where).value_or(""));
}

void read_generation_config(const std::string& dir, ModelConfig& c) {
  const std::string path = path_join(dir, "generation_config.json");
  if (!file_exists(path)) return;
  json g = read_json_file(path);
  if (!g.is_object()) fail(path + ": expected a JSON object");
  for (auto id : read_id_list(g, "eos_token_id", path)) {
    bool seen = false;
    for (auto e : c.eos_ids) seen |= e == id;
    if (!seen) c.eos_ids.push_back(id);
  }
  if (auto b = opt_int(g, "bos_token_id", path)) c.bos_id = *b;
  if (auto t = opt_number(g, "temperature", path)) c.gen_temperature = *t;
  if (auto t = opt_number(g, "top_p", path)) c.gen_top_p = *t;
  if (auto t = opt_int(g, "top_k", path)) c.gen_top_k = *t;
  if (auto t = opt_number(g, "repetition_penalty", path)) c.gen_repetition_penalty = *t;
}

}  // namespace exaone
