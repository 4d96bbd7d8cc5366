#include "models/gguf_model.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "kernels/quant_k.h"
#include "models/family.h"
#include "models/model.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/mapped_file.h"

namespace exaone {

namespace {

const char* arch_of(Family f) {
  switch (f) {
    case Family::Exaone3: return "exaone";
    case Family::Exaone4: return "exaone4";
    case Family::ExaoneMoe: return "exaone-moe";
  }
  return "exaone4";
}

// llama.cpp's LLAMA_EXPERT_GATING_FUNC_TYPE_SIGMOID (K-EXAONE's router).
constexpr int64_t kGatingSigmoid = 2;

std::vector<float> widen_all(const TensorView& t) {
  MatrixRef m{t.dtype, t.data, t.rows(), t.cols()};
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (int64_t r = 0; r < m.rows; ++r) dequantize_row(m, r, out.data() + r * m.cols);
  return out;
}

}  // namespace

ModelConfig gguf_model_config(const GgufFile& f) {
  ModelConfig c;
  const std::string arch = f.get_string("general.architecture");
  if (arch == "exaone4") c.family = Family::Exaone4;
  else if (arch == "exaone") c.family = Family::Exaone3;
  else if (arch == "exaone-moe") c.family = Family::ExaoneMoe;
  else fail(f.path + ": metadata key 'general.architecture': unsupported architecture '" + arch + "'");
  c.model_type = arch == "exaone-moe" ? "exaone_moe" : arch;  // the HF spelling (chat format detection keys on it)
  const std::string p = arch + ".";
  c.hidden = f.get_int(p + "embedding_length");
  c.n_layers = f.get_int(p + "block_count");
  c.n_heads = f.get_int(p + "attention.head_count");
  c.n_kv_heads = f.opt_int(p + "attention.head_count_kv").value_or(c.n_heads);
  if (c.n_heads <= 0) fail(f.path + ": metadata key '" + p + "attention.head_count' must be positive");
  if (c.n_layers <= 0 || c.n_layers > 4096)
    fail(f.path + ": metadata key '" + p + "block_count' is out of range");
  // block_count includes the multi-token-prediction (NextN) blocks, which the base model skips.
  if (auto nextn = f.opt_int(p + "nextn_predict_layers"); nextn && *nextn > 0) {
    if (*nextn >= c.n_layers)
      fail(f.path + ": metadata key '" + p + "nextn_predict_layers' (" + std::to_string(*nextn) +
           ") leaves no layers of block_count " + std::to_string(c.n_layers));
    c.n_layers -= *nextn;
    c.mtp_layers = *nextn;
  }
  c.head_dim = f.opt_int(p + "attention.key_length")
                   .value_or(f.opt_int(p + "rope.dimension_count").value_or(c.hidden / c.n_heads));
  c.intermediate = f.get_int(p + "feed_forward_length");
  if (auto v = f.opt_int(p + "vocab_size")) {
    c.vocab_size = *v;
  } else if (const GgufTensorInfo* e = f.find_tensor("token_embd.weight"); e && e->ne.size() == 2) {
    c.vocab_size = e->ne[1];
  } else {
    fail(f.path + ": missing metadata key '" + p + "vocab_size' (and no token_embd.weight)");
  }
  c.max_position = f.opt_int(p + "context_length").value_or(2048);
  c.rms_eps = f.opt_float(p + "attention.layer_norm_rms_epsilon").value_or(1e-5);
  c.rope.theta = f.opt_float(p + "rope.freq_base").value_or(arch == "exaone" ? 500000.0 : 10000.0);
  if (const GgufValue* st = f.find(p + "rope.scaling.type")) {
    const std::string type = f.get_string(p + "rope.scaling.type");
    (void)st;
    if (type == "linear") {
      c.rope.type = "linear";
      c.rope.factor = f.get_float(p + "rope.scaling.factor");
      if (!(c.rope.factor > 0)) fail(f.path + ": metadata key '" + p + "rope.scaling.factor' must be positive");
    } else if (type != "none") {
      fail(f.path + ": metadata key '" + p + "rope.scaling.type': '" + type + "' is not supported (none, linear)");
    }
  }
  if (const GgufTensorInfo* rf = f.find_tensor("rope_freqs.weight")) {
    if (rf->view.dtype != DType::F32 || rf->ne.size() != 1 || rf->ne[0] * 2 != c.head_dim)
      fail(f.path + ": tensor 'rope_freqs.weight': expected F32 [" + std::to_string(c.head_dim / 2) + "], got " +
           dtype_name(rf->view.dtype) + " " + rf->view.shape_str());
    c.rope.type = "rope_freqs";  // llama3-style scaling given as per-frequency divisors
    c.rope.freq_divisors.resize(static_cast<size_t>(rf->ne[0]));
    std::memcpy(c.rope.freq_divisors.data(), rf->view.data, rf->view.nbytes);
    for (size_t j = 0; j < c.rope.freq_divisors.size(); ++j)
      if (!(c.rope.freq_divisors[j] > 0) || !std::isfinite(c.rope.freq_divisors[j]))
        fail(f.path + ": tensor 'rope_freqs.weight'[" + std::to_string(j) + "]: divisor must be positive");
  }
  c.tie_embeddings = f.find_tensor("output.weight") == nullptr;

  // Sliding window layout (EXAONE 4.0 and K-EXAONE; EXAONE 3.x is full attention with RoPE everywhere).
  c.layer_sliding.assign(c.n_layers, false);
  bool mtp_from_pattern = false;
  if (c.family != Family::Exaone3) {
    c.sliding_window = f.opt_int(p + "attention.sliding_window").value_or(0);
    if (c.sliding_window < 0) fail(f.path + ": metadata key '" + p + "attention.sliding_window' is negative");
    if (c.sliding_window > 0) {
      const std::string key = p + "attention.sliding_window_pattern";
      if (const GgufValue* pat = f.find(key)) {
        if (pat->type != GgufType::ARRAY || pat->elem_type != GgufType::BOOL)
          fail(f.path + ": metadata key '" + key + "': expected an array of bool");
        // Per main layer; llama.cpp may also list the NextN blocks after them.
        if (static_cast<int64_t>(pat->value.size()) != c.n_layers &&
            static_cast<int64_t>(pat->value.size()) != f.get_int(p + "block_count"))
          fail(f.path + ": metadata key '" + key + "' has " + std::to_string(pat->value.size()) + " entries for " +
               std::to_string(c.n_layers) + " layers");
        for (int64_t l = 0; l < c.n_layers; ++l) c.layer_sliding[l] = pat->value[l].get<bool>();
        // The first NextN block's entry is the MTP layer's attention type (else main layer 0's, below).
        if (c.mtp_layers > 0 && static_cast<int64_t>(pat->value.size()) > c.n_layers) {
          c.mtp_sliding = pat->value[c.n_layers].get<bool>();
          mtp_from_pattern = true;
        }
      } else {
        for (int64_t l = 0; l < c.n_layers; ++l) c.layer_sliding[l] = l % 4 < 3;  // llama.cpp's default period
      }
    }
  }
  c.layer_rope.resize(c.n_layers);
  for (int64_t l = 0; l < c.n_layers; ++l) c.layer_rope[l] = c.sliding_window == 0 || c.layer_sliding[l];
  // The MTP layer as parse_hybrid_attention resolves it; a GGUF has one window for every layer.
  if (!mtp_from_pattern) c.mtp_sliding = c.layer_sliding[0];
  c.mtp_sliding = c.mtp_sliding && c.sliding_window > 0;
  c.mtp_window = c.mtp_sliding ? c.sliding_window : 0;
  c.mtp_rope = c.sliding_window == 0 || c.mtp_sliding;

  if (c.family == Family::ExaoneMoe) {
    c.n_experts = f.get_int(p + "expert_count");
    c.n_experts_used = f.get_int(p + "expert_used_count");
    c.moe_intermediate = f.get_int(p + "expert_feed_forward_length");
    c.n_shared_experts = f.opt_int(p + "expert_shared_count").value_or(0);
    c.n_group = f.opt_int(p + "expert_group_count").value_or(1);
    c.topk_group = f.opt_int(p + "expert_group_used_count").value_or(1);
    c.routed_scaling = f.opt_float(p + "expert_weights_scale").value_or(1.0);
    if (const GgufValue* v = f.find(p + "expert_weights_norm")) {
      if (v->type != GgufType::BOOL) fail(f.path + ": metadata key '" + p + "expert_weights_norm': expected bool");
      c.norm_topk_prob = v->value.get<bool>();
    } else {
      c.norm_topk_prob = false;  // llama.cpp's default
    }
    if (auto g = f.opt_int(p + "expert_gating_func"); g && *g != kGatingSigmoid)
      fail(f.path + ": metadata key '" + p + "expert_gating_func' is " + std::to_string(*g) +
           "; K-EXAONE routes with sigmoid (2)");
    if (c.n_shared_experts > 0) {
      const int64_t w = f.opt_int(p + "expert_shared_feed_forward_length").value_or(c.moe_intermediate * c.n_shared_experts);
      if (w != c.moe_intermediate * c.n_shared_experts)
        fail(f.path + ": metadata key '" + p + "expert_shared_feed_forward_length' (" + std::to_string(w) +
             ") is not expert_feed_forward_length x expert_shared_count");
    }
    // A layer is MoE when it has a router, as llama.cpp's graph decides (leading_dense_block_count
    // only tells the usual layout).
    c.layer_moe.resize(c.n_layers);
    for (int64_t l = 0; l < c.n_layers; ++l)
      c.layer_moe[l] = f.find_tensor("blk." + std::to_string(l) + ".ffn_gate_inp.weight") != nullptr;
  }

  c.bos_id = f.opt_int("tokenizer.ggml.bos_token_id").value_or(-1);
  c.pad_id = f.opt_int("tokenizer.ggml.padding_token_id").value_or(-1);
  if (auto e = f.opt_int("tokenizer.ggml.eos_token_id")) c.eos_ids.push_back(*e);
  if (auto e = f.opt_int("tokenizer.ggml.eot_token_id"); e && (c.eos_ids.empty() || c.eos_ids[0] != *e))
    c.eos_ids.push_back(*e);
  if (auto ft = f.opt_int("general.file_type")) c.source_dtype = "gguf file_type " + std::to_string(*ft);
  return c;
}

namespace {

// Layer index of "blk.<N>.<rest>", or -1.
int64_t gguf_layer_of(const std::string& name) {
  if (name.compare(0, 4, "blk.") != 0) return -1;
  const size_t dot = name.find('.', 4);
  if (dot == std::string::npos || dot == 4) return -1;
  try {
    return std::stoll(name.substr(4, dot - 4));
  } catch (const std::exception&) {
    return -1;
  }
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// llama.cpp's use_more_bits: the first and last eighth of the layers, and every third in between.
bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

}  // namespace

GgufOutType parse_gguf_out_type(const std::string& s) {
  if (s == "f32") return DType::F32;
  if (s == "f16") return DType::F16;
  if (s == "bf16") return DType::BF16;
  if (s == "q8_0") return DType::Q8_0;
  if (s == "q4_0") return DType::Q4_0;
  if (s == "q4_k") return DType::Q4_K;
  if (s == "q6_k") return DType::Q6_K;
  if (s == "q4_k_m") {
    GgufOutType t(DType::Q4_K);
    t.q4_k_m = true;
    return t;
  }
  if (s == "q5_k_m") {
    GgufOutType t(DType::Q5_K);
    t.q5_k_m = true;
    return t;
  }
  if (s == "q3_k_m") {
    GgufOutType t(DType::Q3_K);
    t.q3_k_m = true;
    return t;
  }
  fail("--type: unknown output type '" + s + "' (f32, f16, bf16, q8_0, q4_0, q4_k, q6_k, q4_k_m, q5_k_m, q3_k_m)");
}

std::string gguf_out_type_name(const GgufOutType& t) {
  if (t.q4_k_m) return "Q4_K_M";
  if (t.q5_k_m) return "Q5_K_M";
  if (t.q3_k_m) return "Q3_K_M";
  return dtype_name(t.type);
}

uint32_t gguf_file_type(const GgufOutType& t) {
  if (t.q4_k_m) return 15;  // LLAMA_FTYPE_MOSTLY_Q4_K_M
  if (t.q5_k_m) return 17;  // LLAMA_FTYPE_MOSTLY_Q5_K_M
  if (t.q3_k_m) return 12;  // LLAMA_FTYPE_MOSTLY_Q3_K_M
  switch (t.type) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::Q4_K: return 14;  // LLAMA_FTYPE_MOSTLY_Q4_K_S: the "mostly Q4_K" file type
    case DType::Q6_K: return 18;
    case DType::BF16: return 32;
    default: return 0;  // no single-type file type written for the other types
  }
}

DType gguf_tensor_type(const GgufOutType& t, const std::string& name, const std::vector<int64_t>& shape,
                       int64_t n_layers, bool has_output) {
  if (shape.size() < 2) return DType::F32;
  // The MoE router stays float32, as llama-quantize leaves ffn_gate_inp: routing decisions are discrete.
  if (ends_with(name, ".ffn_gate_inp.weight")) return DType::F32;
  DType out = t.type;
  const bool attn_v = ends_with(name, ".attn_v.weight"), ffn_down = ends_with(name, ".ffn_down.weight");
  const int64_t layer = gguf_layer_of(name);
  if (t.q4_k_m || t.q5_k_m || t.q3_k_m) {
    if (name == "output.weight" || (!has_output && name == "token_embd.weight")) {
      out = DType::Q6_K;
    } else if (layer >= 0 && t.q3_k_m) {
      if (attn_v) out = layer < 2 ? DType::Q5_K : DType::Q4_K;
      else if (ffn_down) out = layer < n_layers / 16 ? DType::Q5_K : DType::Q4_K;
      else if (ends_with(name, ".attn_output.weight")) out = DType::Q4_K;
    } else if (layer >= 0 && (attn_v || ffn_down) && use_more_bits(layer, n_layers)) {
      out = DType::Q6_K;
    }
  }
  const int64_t cols = shape.back();
  if (cols % dtype_block_elems(out) != 0) {
    if (t.q5_k_m || t.q3_k_m) {  // llama-quant.cpp's fallbacks
      switch (out) {
        case DType::Q2_K:
        case DType::Q3_K:
        case DType::IQ4_XS: out = DType::IQ4_NL; break;
        case DType::Q4_K: out = DType::Q5_0; break;
        case DType::Q5_K: out = DType::Q5_1; break;
        case DType::Q6_K: out = DType::Q8_0; break;
        default: break;
      }
    } else if (out == DType::Q4_K || out == DType::Q6_K) {
      out = DType::Q8_0;
    }
    if (cols % dtype_block_elems(out) != 0) out = DType::F16;
  }
  return out;
}

GgufWriter build_gguf(const ModelConfig& c, const WeightStore& weights, GgufOutType type,
                      const GgufProgress& progress) {
  const std::string arch = arch_of(c.family);
  const std::string p = arch + ".";
  GgufWriter w;
  using T = GgufType;
  // K-EXAONE's MTP layer goes out as llama.cpp's NextN block (blk.<n_layers>.*, counted in
  // block_count) when the file can state its attention: GGUF has one window for every layer.
  const bool export_mtp = c.family == Family::ExaoneMoe && weights.find("mtp.fc.weight") != nullptr &&
                          (!c.mtp_sliding || c.mtp_window == c.sliding_window);
  w.set("general.architecture", T::STRING, arch);
  w.set("general.file_type", T::U32, gguf_file_type(type));
  w.set("general.quantization_version", T::U32, 2);  // GGML_QNT_VERSION, written by llama-quantize
  w.set(p + "context_length", T::U32, c.max_position);
  w.set(p + "embedding_length", T::U32, c.hidden);
  w.set(p + "block_count", T::U32, c.n_layers + (export_mtp ? 1 : 0));
  w.set(p + "feed_forward_length", T::U32, c.intermediate);
  w.set(p + "attention.head_count", T::U32, c.n_heads);
  w.set(p + "attention.head_count_kv", T::U32, c.n_kv_heads);
  w.set(p + "attention.key_length", T::U32, c.head_dim);
  w.set(p + "attention.value_length", T::U32, c.head_dim);
  w.set(p + "rope.freq_base", T::F32, c.rope.theta);
  w.set(p + "attention.layer_norm_rms_epsilon", T::F32, c.rms_eps);
  w.set(p + "vocab_size", T::U32, c.vocab_size);
  if (c.family == Family::Exaone3) w.set(p + "rope.dimension_count", T::U32, c.head_dim);
  if (c.family != Family::Exaone3 && c.sliding_window > 0) {
    w.set(p + "attention.sliding_window", T::U32, c.sliding_window);
    json pat = json::array();
    for (bool s : c.layer_sliding) pat.push_back(s);
    if (export_mtp) pat.push_back(c.mtp_sliding);  // llama.cpp's pattern covers the NextN blocks too
    w.set_array(p + "attention.sliding_window_pattern", T::BOOL, pat);
  }
  if (c.family == Family::ExaoneMoe) {
    int64_t lead = 0;
    while (lead < c.n_layers && !c.is_moe_layer(lead)) ++lead;
    w.set(p + "expert_count", T::U32, c.n_experts);
    w.set(p + "expert_used_count", T::U32, c.n_experts_used);
    w.set(p + "expert_group_count", T::U32, c.n_group);
    w.set(p + "expert_group_used_count", T::U32, c.topk_group);
    w.set(p + "expert_feed_forward_length", T::U32, c.moe_intermediate);
    w.set(p + "expert_shared_count", T::U32, c.n_shared_experts);
    w.set(p + "expert_shared_feed_forward_length", T::U32, c.moe_intermediate * c.n_shared_experts);
    w.set(p + "expert_weights_scale", T::F32, c.routed_scaling);
    w.set(p + "expert_weights_norm", T::BOOL, c.norm_topk_prob);
    w.set(p + "expert_gating_func", T::U32, kGatingSigmoid);
    w.set(p + "leading_dense_block_count", T::U32, lead);  // the MoE layers are also told by their ffn_gate_inp
    w.set(p + "nextn_predict_layers", T::U32, export_mtp ? 1 : 0);
  }
  if (c.rope.type == "linear") {
    w.set(p + "rope.scaling.type", T::STRING, "linear");
    w.set(p + "rope.scaling.factor", T::F32, c.rope.factor);
  }
  if (c.bos_id >= 0) w.set("tokenizer.ggml.bos_token_id", T::U32, c.bos_id);
  if (!c.eos_ids.empty() && c.eos_ids[0] >= 0) w.set("tokenizer.ggml.eos_token_id", T::U32, c.eos_ids[0]);
  if (c.pad_id >= 0) w.set("tokenizer.ggml.padding_token_id", T::U32, c.pad_id);

  // llama3 scaling is stored as per-frequency divisors (no scaling metadata), as llama.cpp does.
  if (c.rope.type == "llama3" || !c.rope.freq_divisors.empty()) {
    RopeConfig plain;
    plain.theta = c.rope.theta;
    const std::vector<float> base = rope_inv_freq(plain, c.head_dim);
    const std::vector<float> scaled = rope_inv_freq(c.rope, c.head_dim);
    std::vector<float> div(base.size());
    for (size_t j = 0; j < div.size(); ++j) div[j] = base[j] / scaled[j];
    std::vector<uint8_t> bytes(div.size() * 4);
    std::memcpy(bytes.data(), div.data(), bytes.size());
    w.add_tensor("rope_freqs.weight", DType::F32, {static_cast<int64_t>(div.size())}, std::move(bytes));
  }

  const bool has_output = !c.tie_embeddings && weights.find("lm_head.weight") != nullptr;
  // One job per GGUF tensor: a stored tensor, or (K-EXAONE) a stack of per-expert matrices.
  struct Job {
    std::string gguf;
    const TensorView* t = nullptr;
    std::vector<MatrixRef> stack;  // experts, each [rows, cols], written as [E, rows, cols]
  };
  std::vector<Job> todo;
  for (const auto& [name, t] : weights.tensors()) {
    if (name == "lm_head.weight" && c.tie_embeddings) continue;  // tied: llama.cpp falls back to token_embd
    if (c.family == Family::ExaoneMoe && name.find(".mlp.experts.") != std::string::npos)
      continue;  // experts are restacked below from their bound views
    // EXAONE 4.5's MTP layer has no place in an exaone4 GGUF (llama.cpp lists no NextN tensors for it).
    if (c.family != Family::ExaoneMoe && name.compare(0, 4, "mtp.") == 0) continue;
    const bool mtp = c.family == Family::ExaoneMoe && name.compare(0, 4, "mtp.") == 0;
    // Only the first MTP layer is read, so only it is exported.
    const bool later_mtp_layer = name.compare(0, 11, "mtp.layers.") == 0 && name.compare(0, 13, "mtp.layers.0.") != 0;
    if (mtp && (!export_mtp || later_mtp_layer)) continue;
    const std::string g = mtp ? hf_mtp_to_gguf_name(arch, name, c.n_layers) : hf_to_gguf_name(arch, name);
    if (g.empty()) fail(t.file + ": tensor '" + name + "' has no GGUF name for arch " + arch);
    todo.push_back({g, &t, {}});
  }
  DecoderWeights bound;
  if (c.family == Family::ExaoneMoe) {
    // Per-expert, fused gate_up or stacked: the family's binding splits them all into per-expert views.
    bound = exaone_moe_family().bind_weights(c, weights);
    for (int64_t l = 0; l < c.n_layers; ++l) {
      const MoeLayerWeights* m = bound.layers[l].moe.get();
      if (!m) continue;
      const std::string b = "blk." + std::to_string(l) + ".";
      todo.push_back({b + "ffn_gate_exps.weight", nullptr, m->gate});
      todo.push_back({b + "ffn_up_exps.weight", nullptr, m->up});
      todo.push_back({b + "ffn_down_exps.weight", nullptr, m->down});
    }
  }
  for (size_t i = 0; i < todo.size(); ++i) {
    const Job& j = todo[i];
    std::vector<int64_t> shape;
    std::vector<float> x;
    if (j.t) {
      shape = j.t->shape;
      x = widen_all(*j.t);
    } else {
      const int64_t E = static_cast<int64_t>(j.stack.size()), R = j.stack[0].rows, C = j.stack[0].cols;
      shape = {E, R, C};
      x.resize(static_cast<size_t>(E * R * C));
      for (int64_t e = 0; e < E; ++e)
        for (int64_t r = 0; r < R; ++r) dequantize_row(j.stack[e], r, x.data() + (e * R + r) * C);
    }
    const int64_t cols = shape.empty() ? 1 : shape.back(), rows = cols ? static_cast<int64_t>(x.size()) / cols : 0;
    const DType out = gguf_tensor_type(type, j.gguf, shape, c.n_layers, has_output);
    w.add_tensor(j.gguf, out, shape, quantize_matrix_any(out, x.data(), rows, cols));
    if (progress) progress(i + 1, todo.size(), j.gguf, out);
  }
  return w;
}

// ---- tokenizer metadata (llama.cpp's convert_hf_to_gguf.py keys) ----

namespace {

using hjson = nlohmann::json;  // unordered: a 100k-entry vocab would make ordered_json quadratic

hjson read_hjson(const std::string& path) {
  try {
    return hjson::parse(read_text_file(path));
  } catch (const hjson::parse_error& e) {
    fail(path + ": invalid JSON at byte " + std::to_string(e.byte));
  } catch (const hjson::exception& e) {  // e.g. a number too large for a double
    fail(path + ": invalid JSON: " + e.what());
  }
}

// The K-EXAONE pre-tokenizer regex as its tokenizer.json spells it (spec §5.2).
constexpr const char* kKExaoneSplit =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";

bool is_type(const hjson& j, const char* type) {
  return j.is_object() && j.contains("type") && j["type"].is_string() && j["type"].get<std::string>() == type;
}
bool flag(const hjson& j, const char* key, bool def) {
  return j.contains(key) && j[key].is_boolean() ? j[key].get<bool>() : def;
}
bool byte_level(const hjson& j, bool use_regex) {
  return is_type(j, "ByteLevel") && !flag(j, "add_prefix_space", true) && flag(j, "use_regex", true) == use_regex;
}

// GGUF tokenizer.ggml.pre for the pre-tokenizer a tokenizer.json declares; Error when none fits.
std::string gguf_pre_of(const hjson& pre, const std::string& where) {
  if (byte_level(pre, true)) return "exaone4";
  if (is_type(pre, "Sequence") && pre.contains("pretokenizers") && pre["pretokenizers"].is_array() &&
      pre["pretokenizers"].size() == 2) {
    const hjson& a = pre["pretokenizers"][0];
    const hjson& b = pre["pretokenizers"][1];
    if (is_type(a, "Digits") && flag(a, "individual_digits", false) && byte_level(b, true)) return "exaone";
    if (is_type(a, "Split") && a.contains("pattern") && a["pattern"].is_object() &&
        a["pattern"].value("Regex", std::string()) == kKExaoneSplit && a.value("behavior", std::string()) == "Isolated" &&
        !flag(a, "invert", false) && byte_level(b, false))
      return "exaone-moe";
  }
  fail(where + ": pre_tokenizer " + pre.dump().substr(0, 120) +
       " has no GGUF equivalent (supported: ByteLevel -> exaone4, Digits+ByteLevel -> exaone, K-EXAONE Split -> "
       "exaone-moe)");
}

std::string chat_template_of(const std::string& dir) {
  const std::string jinja = dir + "/chat_template.jinja";
  if (file_exists(jinja)) return read_text_file(jinja);
  const std::string cfg_path = dir + "/tokenizer_config.json";
  if (!file_exists(cfg_path)) return "";
  const hjson cfg = read_hjson(cfg_path);
  if (!cfg.is_object() || !cfg.contains("chat_template")) return "";
  const hjson& t = cfg["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array())
    for (const auto& e : t)
      if (e.is_object() && e.value("name", std::string()) == "default" && e.contains("template") &&
          e["template"].is_string())
        return e["template"].get<std::string>();
  return "";
}

// Name of a special token in tokenizer_config.json: a string or {"content": ...}.
std::string token_name(const hjson& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

}  // namespace

bool add_hf_tokenizer_metadata(GgufWriter& w, const std::string& dir, int64_t vocab_size,
                               std::vector<std::string>* notes) {
  using T = GgufType;
  const std::string tj_path = dir + "/tokenizer.json";
  if (!file_exists(tj_path)) return false;
  const hjson tj = read_hjson(tj_path);
  if (!tj.is_object() || !tj.contains("model") || !tj["model"].is_object())
    fail(tj_path + ": missing object 'model'");
  const hjson& model = tj["model"];
  if (model.value("type", std::string("BPE")) != "BPE") fail(tj_path + ": model.type: only BPE converts to GGUF");
  if (flag(model, "byte_fallback", false) || !model.value("continuing_subword_prefix", hjson()).is_null() ||
      !model.value("end_of_word_suffix", hjson()).is_null())
    fail(tj_path + ": model: byte_fallback / subword prefixes have no GGUF gpt2 equivalent");
  if (tj.contains("normalizer") && !tj["normalizer"].is_null())
    fail(tj_path + ": normalizer " + tj["normalizer"].dump().substr(0, 80) +
         " has no GGUF equivalent (llama.cpp applies none for gpt2 tokenizers)");
  const std::string pre = gguf_pre_of(tj.value("pre_tokenizer", hjson()), tj_path);
  if (!model.contains("vocab") || !model["vocab"].is_object()) fail(tj_path + ": model.vocab: expected an object");

  // id -> token text; byte-level form for the vocabulary, the content for added tokens.
  std::vector<std::string> tokens(static_cast<size_t>(std::max<int64_t>(vocab_size, 0)));
  std::vector<int32_t> types(tokens.size(), 0);
  auto place = [&](int64_t id, const std::string& text, int32_t type, const std::string& what) {
    if (id < 0 || id >= vocab_size)
      fail(tj_path + ": " + what + ": token id " + std::to_string(id) + " is outside the model's vocab_size " +
           std::to_string(vocab_size));
    tokens[id] = text;
    types[id] = type;
  };
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    if (!it.value().is_number_integer()) fail(tj_path + ": model.vocab['" + it.key() + "']: expected an integer id");
    place(it.value().get<int64_t>(), it.key(), 1, "model.vocab['" + it.key() + "']");
  }
  if (tj.contains("added_tokens") && tj["added_tokens"].is_array()) {
    for (size_t i = 0; i < tj["added_tokens"].size(); ++i) {
      const hjson& a = tj["added_tokens"][i];
      const std::string what = "added_tokens[" + std::to_string(i) + "]";
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string())
        fail(tj_path + ": " + what + ": expected {id, content}");
      const std::string content = a["content"].get<std::string>();
      place(a["id"].get<int64_t>(), content, flag(a, "special", false) ? 3 : 4, what);
      if (notes && (flag(a, "lstrip", false) || flag(a, "rstrip", false) || flag(a, "single_word", false)))
        notes->push_back(tj_path + ": added token '" + content +
                         "': lstrip/rstrip/single_word flags cannot be stored in GGUF and are dropped");
    }
  }
  json tok_arr = json::array(), type_arr = json::array();
  for (size_t id = 0; id < tokens.size(); ++id) {
    if (types[id] == 0) {  // an id no token uses (embedding rows padded to a round size)
      tokens[id] = "[PAD" + std::to_string(id) + "]";
      types[id] = 5;
    }
    tok_arr.push_back(tokens[id]);
    type_arr.push_back(types[id]);
  }

  json merges = json::array();
  if (!model.contains("merges") || !model["merges"].is_array()) fail(tj_path + ": model.merges: expected an array");
  for (size_t i = 0; i < model["merges"].size(); ++i) {
    const hjson& m = model["merges"][i];
    std::string text;
    if (m.is_string()) {
      text = m.get<std::string>();
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      if (m[0].get<std::string>().find(' ') != std::string::npos || m[1].get<std::string>().find(' ') != std::string::npos)
        fail(tj_path + ": model.merges[" + std::to_string(i) + "]: a token with a space cannot be stored as \"a b\"");
      text = m[0].get<std::string>() + " " + m[1].get<std::string>();
    } else {
      fail(tj_path + ": model.merges[" + std::to_string(i) + "]: expected \"left right\" or [left, right]");
    }
    merges.push_back(std::move(text));
  }

  w.set("tokenizer.ggml.model", T::STRING, "gpt2");
  w.set("tokenizer.ggml.pre", T::STRING, pre);
  w.set_array("tokenizer.ggml.tokens", T::STRING, std::move(tok_arr));
  w.set_array("tokenizer.ggml.token_type", T::I32, std::move(type_arr));
  w.set_array("tokenizer.ggml.merges", T::STRING, std::move(merges));

  // Special ids by name from tokenizer_config.json (as llama.cpp's SpecialVocab), config ids otherwise
  // (build_gguf already wrote those).
  const std::string cfg_path = dir + "/tokenizer_config.json";
  const hjson cfg = file_exists(cfg_path) ? read_hjson(cfg_path) : hjson::object();
  if (cfg.is_object()) {
    std::map<std::string, int64_t> by_text;
    for (size_t id = 0; id < tokens.size(); ++id)
      if (types[id] != 5) by_text.emplace(tokens[id], static_cast<int64_t>(id));
    for (const auto& [field, key] : {std::pair<const char*, const char*>{"bos_token", "bos_token_id"},
                                     {"eos_token", "eos_token_id"},
                                     {"pad_token", "padding_token_id"},
                                     {"unk_token", "unknown_token_id"}}) {
      if (!cfg.contains(field)) continue;
      const std::string name = token_name(cfg[field]);
      auto it = by_text.find(name);
      if (!name.empty() && it != by_text.end()) w.set(std::string("tokenizer.ggml.") + key, T::U32, it->second);
    }
    for (const char* key : {"add_bos_token", "add_eos_token"})
      if (cfg.contains(key) && cfg[key].is_boolean())
        w.set(std::string("tokenizer.ggml.") + key, T::BOOL, cfg[key].get<bool>());
  }
  const std::string tmpl = chat_template_of(dir);
  if (!tmpl.empty()) w.set("tokenizer.chat_template", T::STRING, tmpl);
  return true;
}

void copy_tokenizer_metadata(GgufWriter& w, const GgufFile& src) {
  for (const std::string& key : src.kv_order) {
    const bool copy = key.rfind("tokenizer.", 0) == 0 || key == "general.name" || key == "general.license" ||
                      key == "general.basename" || key == "general.size_label";
    if (!copy) continue;
    const GgufValue& v = src.kv.at(key);
    if (v.type == GgufType::ARRAY)
      w.set_array(key, v.elem_type, v.value);
    else
      w.set(key, v.type, v.value);
  }
}

std::vector<std::string> convert_to_gguf(const std::string& src, const std::string& out, GgufOutType type, bool force,
                                         const GgufProgress& progress) {
  std::error_code ec;
  if (std::filesystem::exists(out, ec) && !force) fail(out + ": already exists (use --force to overwrite)");
  if (std::filesystem::exists(src, ec) && std::filesystem::exists(out, ec) &&
      std::filesystem::equivalent(src, out, ec))
    fail(out + ": is the input file; write to another path");
  std::vector<std::string> notes;
  auto model = load_model(src);
  GgufWriter w = build_gguf(model->config(), model->weights(), type, progress);
  if (std::filesystem::is_directory(src, ec)) {
    if (!add_hf_tokenizer_metadata(w, src, model->config().vocab_size, &notes))
      notes.push_back(src + ": no tokenizer.json; the GGUF has no tokenizer metadata");
  } else {
    MappedFile m(src);
    copy_tokenizer_metadata(w, parse_gguf(m.data(), m.size(), src));
    if (model->weight_dtype_summary().find('Q') != std::string::npos)
      notes.push_back(src + ": re-quantising already quantised weights compounds their error");
  }
  w.write(out);
  return notes;
}

}  // namespace exaone
