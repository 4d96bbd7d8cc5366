// K-EXAONE (ExaoneMoeForCausalLM, model_type exaone_moe): pre-norm layers (input_layernorm before
// attention, post_attention_layernorm before the MLP) with EXAONE 4.0 attention (q/k norms, hybrid
// sliding window, NoPE on global layers), a few dense MLP layers first, then mixture-of-experts
// layers (models/moe.h). Spec: shared/spec/exaone.md §3.1; computation: docs/architecture.md.
#include "models/family.h"
#include "util/error.h"

namespace exaone {

namespace {

ModelConfig parse_exaone_moe(const json& j, const std::string& where) {
  ModelConfig c;
  c.family = Family::ExaoneMoe;
  c.model_type = opt_string(j, "model_type", where).value_or("exaone_moe");
  HfKeys keys;
  keys.default_theta = 10000.0;  // transformers' rope default (ExaoneMoeConfig sets none of its own)
  parse_hf_common(j, where, keys, c);
  parse_hybrid_attention(j, where, c);
  // Defaults are ExaoneMoeConfig's, so a config.json that omits a field means what it means there.
  c.n_experts = opt_int(j, "num_experts", where).value_or(64);
  if (c.n_experts <= 0) fail(where + ": field 'num_experts' must be positive, got " + std::to_string(c.n_experts));
  c.n_experts_used = opt_int(j, "num_experts_per_tok", where).value_or(8);
  c.moe_intermediate = opt_int(j, "moe_intermediate_size", where).value_or(1024);
  c.n_shared_experts = opt_int(j, "num_shared_experts", where).value_or(1);
  c.norm_topk_prob = opt_bool(j, "norm_topk_prob", where).value_or(true);
  c.routed_scaling = opt_number(j, "routed_scaling_factor", where).value_or(2.5);
  c.n_group = opt_int(j, "n_group", where).value_or(1);
  c.topk_group = opt_int(j, "topk_group", where).value_or(1);
  // mlp_layer_types wins over first_k_dense_replace (as in ExaoneMoeConfig.__post_init__).
  c.layer_moe.assign(static_cast<size_t>(c.n_layers), false);
  if (auto mt = j.find("mlp_layer_types"); mt != j.end() && !mt->is_null()) {
    if (!mt->is_array()) fail(where + ": field 'mlp_layer_types': expected array");
    if (static_cast<int64_t>(mt->size()) != c.n_layers)
      fail(where + ": field 'mlp_layer_types' has " + std::to_string(mt->size()) + " entries for " +
           std::to_string(c.n_layers) + " layers");
    for (int64_t i = 0; i < c.n_layers; ++i) {
      const auto& t = (*mt)[i];
      if (t == "sparse") c.layer_moe[i] = true;
      else if (t != "dense")
        fail(where + ": field 'mlp_layer_types'[" + std::to_string(i) + "]: unknown MLP type " + t.dump() +
             " (dense or sparse)");
    }
  } else {
    const int64_t k = opt_int(j, "first_k_dense_replace", where).value_or(1);
    if (k < 0) fail(where + ": field 'first_k_dense_replace' must not be negative");
    for (int64_t i = k; i < c.n_layers; ++i) c.layer_moe[i] = true;
  }
  return c;
}

std::string layer_prefix(int64_t l) { return "model.layers." + std::to_string(l) + "."; }

std::unique_ptr<MoeLayerWeights> bind_moe(const ModelConfig& c, const WeightStore& s, const std::string& p) {
  auto m = std::make_unique<MoeLayerWeights>();
  const int64_t E = c.n_experts, H = c.hidden, I = c.moe_intermediate;
  // More per-expert tensors than the config counts: say so rather than report a router shape.
  const std::string extra = p + "mlp.experts." + std::to_string(E) + ".gate_proj.weight";
  if (const TensorView* t = s.find(extra))
    fail(t->file + ": tensor '" + extra + "' is beyond field 'num_experts' (" + std::to_string(E) +
         ") of config.json");
  m->router = matrix(s.require(p + "mlp.gate.weight", {E, H}));
  // Released files keep the correction bias beside the router; transformers renames it into the gate.
  std::string bias_name = p + "mlp.gate.e_score_correction_bias";
  if (!s.find(bias_name) && s.find(p + "mlp.e_score_correction_bias")) bias_name = p + "mlp.e_score_correction_bias";
  m->expert_bias = widen_vector(s.require(bias_name, {E}));
  m->gate.resize(E);
  m->up.resize(E);
  m->down.resize(E);
  if (s.find(p + "mlp.experts.gate_exps.weight")) {
    // GGUF (llama.cpp's ffn_{gate,up,down}_exps): gate and up stacked separately.
    const TensorView& g = s.require(p + "mlp.experts.gate_exps.weight", {E, I, H});
    const TensorView& u = s.require(p + "mlp.experts.up_exps.weight", {E, I, H});
    const TensorView& dn = s.require(p + "mlp.experts.down_exps.weight", {E, H, I});
    for (int64_t e = 0; e < E; ++e) {
      m->gate[e] = stacked_matrix(g, e);
      m->up[e] = stacked_matrix(u, e);
      m->down[e] = stacked_matrix(dn, e);
    }
  } else if (s.find(p + "mlp.experts.gate_up_proj")) {
    // transformers 5 layout: gate_up_proj [E, 2I, H] (gate rows first), down_proj [E, H, I].
    const TensorView& gu = s.require(p + "mlp.experts.gate_up_proj", {E, 2 * I, H});
    const TensorView& dn = s.require(p + "mlp.experts.down_proj", {E, H, I});
    for (int64_t e = 0; e < E; ++e) {
      const MatrixRef both = stacked_matrix(gu, e);
      m->gate[e] = row_slice(both, 0, I);
      m->up[e] = row_slice(both, I, I);
      m->down[e] = stacked_matrix(dn, e);
    }
  } else {
    for (int64_t e = 0; e < E; ++e) {
      const std::string q = p + "mlp.experts." + std::to_string(e) + ".";
      m->gate[e] = matrix(s.require(q + "gate_proj.weight", {I, H}));
      m->up[e] = matrix(s.require(q + "up_proj.weight", {I, H}));
      m->down[e] = matrix(s.require(q + "down_proj.weight", {H, I}));
    }
  }
  if (c.n_shared_experts > 0) {
    const int64_t SI = I * c.n_shared_experts;
    m->shared_gate = matrix(s.require(p + "mlp.shared_experts.gate_proj.weight", {SI, H}));
    m->shared_up = matrix(s.require(p + "mlp.shared_experts.up_proj.weight", {SI, H}));
    m->shared_down = matrix(s.require(p + "mlp.shared_experts.down_proj.weight", {H, SI}));
  }
  return m;
}

// The MTP layer (mtp.*, ignored by transformers; names as vLLM's exaone_moe_mtp loads them): a
// pre-norm layer with the main attention and a dense MLP of intermediate_size. Only mtp.layers.0
// is read (K-EXAONE has one).
std::unique_ptr<MtpWeights> bind_mtp(const ModelConfig& c, const WeightStore& s) {
  auto m = bind_mtp_head(c, s);
  if (!m) return nullptr;
  const int64_t H = c.hidden;
  const std::string p = "mtp.layers.0.";
  DecoderLayerWeights& L = m->layer;
  L.attn_pre_norm = widen_vector(s.require(p + "input_layernorm.weight", {H}));
  bind_exaone4_attention(c, s, p, L);
  L.mlp_pre_norm = widen_vector(s.require(p + "post_attention_layernorm.weight", {H}));
  L.w_gate = matrix(s.require(p + "mlp.gate_proj.weight", {c.intermediate, H}));
  L.w_up = matrix(s.require(p + "mlp.up_proj.weight", {c.intermediate, H}));
  L.w_down = matrix(s.require(p + "mlp.down_proj.weight", {H, c.intermediate}));
  return m;
}

DecoderWeights bind_exaone_moe(const ModelConfig& c, const WeightStore& s) {
  DecoderWeights w;
  const int64_t H = c.hidden;
  w.embed = matrix(s.require("model.embed_tokens.weight", {c.vocab_size, H}));
  w.lm_head = bind_lm_head(c, s, w.embed);
  w.final_norm = widen_vector(s.require("model.norm.weight", {H}));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = layer_prefix(l);
    DecoderLayerWeights L;
    L.attn_pre_norm = widen_vector(s.require(p + "input_layernorm.weight", {H}));
    bind_exaone4_attention(c, s, p, L);
    L.mlp_pre_norm = widen_vector(s.require(p + "post_attention_layernorm.weight", {H}));
    if (c.is_moe_layer(l)) {
      L.moe = bind_moe(c, s, p);
    } else {
      L.w_gate = matrix(s.require(p + "mlp.gate_proj.weight", {c.intermediate, H}));
      L.w_up = matrix(s.require(p + "mlp.up_proj.weight", {c.intermediate, H}));
      L.w_down = matrix(s.require(p + "mlp.down_proj.weight", {H, c.intermediate}));
    }
    w.layers.push_back(std::move(L));
  }
  w.mtp = bind_mtp(c, s);
  return w;
}

}  // namespace

const FamilyInfo& exaone_moe_family() {
  static const FamilyInfo f{Family::ExaoneMoe,
                            {"exaone_moe"},
                            {"ExaoneMoeForCausalLM", "ExaoneMoEForCausalLM"},
                            parse_exaone_moe,
                            bind_exaone_moe};
  return f;
}

}  // namespace exaone
