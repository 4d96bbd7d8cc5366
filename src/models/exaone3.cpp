// EXAONE 3.0 / 3.5 / Deep (ExaoneForCausalLM): Llama-style pre-norm decoder with RoPE on
// every layer and `transformer.*` tensor names. Spec: shared/spec/exaone.md §2.
#include "models/family.h"
#include "util/error.h"

namespace exaone {

namespace {

ModelConfig parse_exaone3(const json& j, const std::string& where) {
  ModelConfig c;
  c.family = Family::Exaone3;
  c.model_type = opt_string(j, "model_type", where).value_or("exaone");
  HfKeys keys;
  // The original remote-code config spells these keys differently from Llama; accept both.
  keys.n_layers = j.contains("num_layers") ? "num_layers" : "num_hidden_layers";
  keys.rms_eps = j.contains("layer_norm_epsilon") ? "layer_norm_epsilon" : "rms_norm_eps";
  keys.act = j.contains("activation_function") ? "activation_function" : "hidden_act";
  keys.default_theta = 500000.0;  // transformers' ExaoneConfig default
  keys.default_max_position = 4096;
  parse_hf_common(j, where, keys, c);
  if (c.n_layers <= 0) fail(where + ": field '" + std::string(keys.n_layers) + "' must be positive");
  c.sliding_window = 0;
  c.layer_sliding.assign(c.n_layers, false);
  c.layer_rope.assign(c.n_layers, true);
  return c;
}

DecoderWeights bind_exaone3(const ModelConfig& c, const WeightStore& s) {
  DecoderWeights w;
  const int64_t H = c.hidden;
  w.embed = matrix(s.require("transformer.wte.weight", {c.vocab_size, H}));
  w.lm_head = bind_lm_head(c, s, w.embed);
  w.final_norm = widen_vector(s.require("transformer.ln_f.weight", {H}));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "transformer.h." + std::to_string(l) + ".";
    DecoderLayerWeights L;
    L.attn_pre_norm = widen_vector(s.require(p + "ln_1.weight", {H}));
    L.wq = matrix(s.require(p + "attn.attention.q_proj.weight", {c.q_dim(), H}));
    L.wk = matrix(s.require(p + "attn.attention.k_proj.weight", {c.kv_dim(), H}));
    L.wv = matrix(s.require(p + "attn.attention.v_proj.weight", {c.kv_dim(), H}));
    L.wo = matrix(s.require(p + "attn.attention.out_proj.weight", {H, c.q_dim()}));
    L.mlp_pre_norm = widen_vector(s.require(p + "ln_2.weight", {H}));
    L.w_gate = matrix(s.require(p + "mlp.c_fc_0.weight", {c.intermediate, H}));
    L.w_up = matrix(s.require(p + "mlp.c_fc_1.weight", {c.intermediate, H}));
    L.w_down = matrix(s.require(p + "mlp.c_proj.weight", {H, c.intermediate}));
    w.layers.push_back(std::move(L));
  }
  return w;
}

}  // namespace

const FamilyInfo& exaone3_family() {
  static const FamilyInfo f{Family::Exaone3, {"exaone"}, {"ExaoneForCausalLM"}, parse_exaone3, bind_exaone3};
  return f;
}

}  // namespace exaone
