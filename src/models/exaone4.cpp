// EXAONE 4.0 (Exaone4ForCausalLM): post-norm ("QK-Reorder-Norm") layers with per-head q/k
// RMSNorm, hybrid sliding-window/global attention, NoPE on global layers of hybrid models.
// Spec: shared/spec/exaone.md §1.
#include "models/family.h"
#include "util/error.h"

namespace exaone {

namespace {

ModelConfig parse_exaone4(const json& j, const std::string& where) {
  ModelConfig c;
  c.family = Family::Exaone4;
  c.model_type = opt_string(j, "model_type", where).value_or("exaone4");
  HfKeys keys;
  keys.default_theta = 10000.0;  // transformers' Exaone4Config default
  parse_hf_common(j, where, keys, c);
  parse_hybrid_attention(j, where, c);
  return c;
}

DecoderWeights bind_exaone4(const ModelConfig& c, const WeightStore& s) {
  DecoderWeights w;
  const int64_t H = c.hidden;
  w.embed = matrix(s.require("model.embed_tokens.weight", {c.vocab_size, H}));
  w.lm_head = bind_lm_head(c, s, w.embed);
  w.final_norm = widen_vector(s.require("model.norm.weight", {H}));
  for (int64_t l = 0; l < c.n_layers; ++l)
    w.layers.push_back(bind_exaone4_layer(c, s, "model.layers." + std::to_string(l) + "."));
  return w;
}

}  // namespace

void bind_exaone4_attention(const ModelConfig& c, const WeightStore& s, const std::string& p, DecoderLayerWeights& L) {
  const int64_t H = c.hidden;
  L.wq = matrix(s.require(p + "self_attn.q_proj.weight", {c.q_dim(), H}));
  L.wk = matrix(s.require(p + "self_attn.k_proj.weight", {c.kv_dim(), H}));
  L.wv = matrix(s.require(p + "self_attn.v_proj.weight", {c.kv_dim(), H}));
  L.wo = matrix(s.require(p + "self_attn.o_proj.weight", {H, c.q_dim()}));
  L.q_norm = widen_vector(s.require(p + "self_attn.q_norm.weight", {c.head_dim}));
  L.k_norm = widen_vector(s.require(p + "self_attn.k_norm.weight", {c.head_dim}));
}

DecoderLayerWeights bind_exaone4_layer(const ModelConfig& c, const WeightStore& s, const std::string& p) {
  const int64_t H = c.hidden;
  DecoderLayerWeights L;
  bind_exaone4_attention(c, s, p, L);
  L.attn_post_norm = widen_vector(s.require(p + "post_attention_layernorm.weight", {H}));
  L.w_gate = matrix(s.require(p + "mlp.gate_proj.weight", {c.intermediate, H}));
  L.w_up = matrix(s.require(p + "mlp.up_proj.weight", {c.intermediate, H}));
  L.w_down = matrix(s.require(p + "mlp.down_proj.weight", {H, c.intermediate}));
  L.mlp_post_norm = widen_vector(s.require(p + "post_feedforward_layernorm.weight", {H}));
  return L;
}

const FamilyInfo& exaone4_family() {
  static const FamilyInfo f{Family::Exaone4, {"exaone4"}, {"Exaone4ForCausalLM"}, parse_exaone4, bind_exaone4};
  return f;
}

}  // namespace exaone
