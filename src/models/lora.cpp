#include "models/lora.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <regex>

#include "kernels/matmul.h"
#include "models/decoder.h"
#include "util/error.h"

namespace exaone {

LoraSpec parse_lora_spec(const std::string& arg) {
  LoraSpec s;
  s.path = arg;
  if (const size_t colon = arg.rfind(':'); colon != std::string::npos) {
    const std::string tail = arg.substr(colon + 1);
    char* end = nullptr;
    const double v = std::strtod(tail.c_str(), &end);
    if (!tail.empty() && end == tail.c_str() + tail.size()) {
      if (!std::isfinite(v)) fail("--lora " + arg + ": scale '" + tail + "' is not a finite number");
      s.path = arg.substr(0, colon);
      s.scale = v;
    }
  }
  if (s.path.empty()) fail("--lora " + arg + ": empty adapter path");
  return s;
}

std::vector<LoraSpec> parse_lora_specs(const std::vector<std::string>& args) {
  std::vector<LoraSpec> out;
  for (const std::string& a : args) out.push_back(parse_lora_spec(a));
  return out;
}

std::unique_ptr<Model> load_model(const std::string& path, const std::vector<LoraSpec>& loras) {
  std::unique_ptr<Model> model = load_model(path);
  for (const LoraSpec& spec : loras) {
    LoraAdapter a = read_lora_adapter(spec.path);
    a.source = spec.path;
    model->add_lora(a, spec.scale);
  }
  return model;
}

std::vector<std::string> describe_loras(const Model& model) {
  std::vector<std::string> out;
  char buf[160];
  for (const LoraApplied& l : model.loras()) {
    std::snprintf(buf, sizeof buf, ": scale %g, %lld matrices, rank %lld, alpha %g", l.scale,
                  static_cast<long long>(l.matrices), static_cast<long long>(l.rank), l.alpha);
    out.push_back("lora " + l.source + buf);
  }
  return out;
}

void Model::add_lora(const LoraAdapter& adapter, double) {
  fail(adapter.source + ": this model does not take LoRA adapters");
}

namespace {

const char* gguf_arch_of(Family f) {
  switch (f) {
    case Family::Exaone3: return "exaone";
    case Family::Exaone4: return "exaone4";
    case Family::ExaoneMoe: return "exaone-moe";
  }
  return "exaone4";
}

// A target's layer and matrix: the HF spellings of EXAONE 4.0 / K-EXAONE / 4.5 and of EXAONE 3.x.
struct Target {
  int64_t layer = -1;
  int slot = -1;  // q k v o gate up down
};

Target parse_target(const std::string& t) {
  static const std::regex modern(R"(model\.layers\.(\d+)\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj))");
  static const std::regex legacy(
      R"(transformer\.h\.(\d+)\.(attn\.attention\.(q_proj|k_proj|v_proj|out_proj)|mlp\.(c_fc_0|c_fc_1|c_proj)))");
  std::smatch m;
  Target r;
  if (std::regex_match(t, m, modern)) {
    r.layer = std::stoll(m[1].str());
    const std::string a = m[3].str(), b = m[4].str();
    r.slot = a == "q" ? 0 : a == "k" ? 1 : a == "v" ? 2 : a == "o" ? 3 : b == "gate" ? 4 : b == "up" ? 5 : 6;
  } else if (std::regex_match(t, m, legacy)) {
    r.layer = std::stoll(m[1].str());
    const std::string a = m[3].str(), b = m[4].str();
    r.slot = a == "q_proj" ? 0 : a == "k_proj" ? 1 : a == "v_proj" ? 2 : a == "out_proj" ? 3
           : b == "c_fc_0" ? 4 : b == "c_fc_1" ? 5 : 6;
  }
  return r;
}

bool is_moe_target(const std::string& t) {
  return t.find(".experts.") != std::string::npos || t.find(".shared_experts.") != std::string::npos ||
         t.find(".shared_expert.") != std::string::npos ||
         (t.size() >= 9 && t.compare(t.size() - 9, 9, ".mlp.gate") == 0);
}

// EXAONE 4.5 checkpoints nest the language model (model.language_model.*); the store, and so
// the decoder, use the plain EXAONE 4.0 names.
std::string normalise_target(const ModelConfig& c, const std::string& t) {
  if (c.model_type == "exaone4_5")
    for (const char* p : {"model.language_model.", "language_model.model."})
      if (t.rfind(p, 0) == 0) return "model." + t.substr(std::strlen(p));
  return t;
}

}  // namespace

void DecoderModel::add_lora(const LoraAdapter& adapter, double scale) {
  const ModelConfig& c = cfg_;
  const std::string& src = adapter.source.empty() ? std::string("LoRA adapter") : adapter.source;
  if (!adapter.arch.empty() && adapter.arch != gguf_arch_of(c.family))
    fail(src + ": general.architecture '" + adapter.arch + "' is not the model's ('" + gguf_arch_of(c.family) + "')");
  if (adapter.pairs.empty()) fail(src + ": the adapter has no LoRA matrices");
  // Everything is checked before the model changes: a bad adapter leaves it as it was.
  std::vector<LayerLora> next = lora_;
  if (next.empty()) next.resize(static_cast<size_t>(c.n_layers));
  for (const LoraPair& p : adapter.pairs) {
    const std::string where = src + ": tensor '" + p.target + "'";
    const std::string target = normalise_target(c, p.target);
    if (target.rfind("mtp.", 0) == 0) fail(where + ": LoRA on the MTP layer is not supported");
    if (is_moe_target(target))
      fail(where + ": targets a mixture-of-experts block (experts or router): not supported yet");
    const Target t = parse_target(target);
    if (t.layer < 0)
      fail(where + ": unknown target module (supported: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, "
                   "or EXAONE 3's attn.attention.*_proj / out_proj, mlp.c_fc_0 / c_fc_1 / c_proj)");
    if (t.layer >= c.n_layers)
      fail(where + ": layer " + std::to_string(t.layer) + ", but the model has " + std::to_string(c.n_layers) +
           " layers (an adapter for another model?)");
    if (t.slot >= kLoraGate && c.is_moe_layer(t.layer))
      fail(where + ": layer " + std::to_string(t.layer) + " is a mixture-of-experts layer: LoRA on experts is not supported yet");
    if (!weights_->find(target + ".weight"))
      fail(where + ": the model has no tensor '" + target + ".weight' (an adapter for another architecture?)");
    const DecoderLayerWeights& L = w_.layers[static_cast<size_t>(t.layer)];
    const MatrixRef* ms[kLoraSlots] = {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down};
    const MatrixRef& W = *ms[t.slot];
    if (p.out != W.rows || p.in != W.cols)
      fail(where + ": lora_B x lora_A is [" + std::to_string(p.out) + ", " + std::to_string(p.in) +
           "], the model's matrix is [" + std::to_string(W.rows) + ", " + std::to_string(W.cols) + "]");
    if (p.a.size() != static_cast<size_t>(p.rank * p.in) || p.b.size() != static_cast<size_t>(p.out * p.rank))
      fail(where + ": A/B sizes do not match rank " + std::to_string(p.rank));
    if (scale == 0) continue;  // scale 0: the base model exactly, no work per token
    LoraStack& st = next[static_cast<size_t>(t.layer)].slot[t.slot];
    const float s = static_cast<float>(scale * adapter.scale_of(p));
    st.a.insert(st.a.end(), p.a.begin(), p.a.end());
    // b [out, R + rank]: the earlier adapters' columns, then this one's, scaled.
    const int64_t R = st.rank + p.rank;
    std::vector<float> b(static_cast<size_t>(p.out * R));
    for (int64_t o = 0; o < p.out; ++o) {
      std::copy_n(st.b.data() + o * st.rank, st.rank, b.data() + o * R);
      for (int64_t r = 0; r < p.rank; ++r)
        b[static_cast<size_t>(o * R + st.rank + r)] = s * p.b[static_cast<size_t>(o * p.rank + r)];
    }
    st.b = std::move(b);
    st.rank = R;
  }
  for (LayerLora& L : next) L.rebuild_groups();
  lora_ = std::move(next);
  loras_.push_back({src, scale, static_cast<int64_t>(adapter.pairs.size()), adapter.rank, adapter.alpha});
}

std::map<std::string, std::vector<float>> merge_lora(const WeightStore& weights, const LoraAdapter& adapter,
                                                     double scale) {
  const std::string& src = adapter.source.empty() ? std::string("LoRA adapter") : adapter.source;
  std::map<std::string, std::vector<float>> out;
  for (const LoraPair& p : adapter.pairs) {
    const std::string name = p.target + ".weight";
    const std::string where = src + ": tensor '" + p.target + "'";
    const TensorView* t = weights.find(name);
    if (!t) fail(where + ": the base has no tensor '" + name + "'");
    if (t->dtype != DType::F32 && t->dtype != DType::F16 && t->dtype != DType::BF16)
      fail(where + ": the base matrix is " + dtype_name(t->dtype) + "; merging needs F32, F16 or BF16 (use --lora unmerged)");
    if (t->shape.size() != 2 || t->shape[0] != p.out || t->shape[1] != p.in)
      fail(where + ": lora_B x lora_A is [" + std::to_string(p.out) + ", " + std::to_string(p.in) + "], the base's is " +
           t->shape_str());
    std::vector<float> w(static_cast<size_t>(p.out * p.in));
    const MatrixRef m{t->dtype, t->data, p.out, p.in};
    for (int64_t o = 0; o < p.out; ++o) dequantize_row(m, o, w.data() + o * p.in);
    const double s = scale * adapter.scale_of(p);
    std::vector<double> row(static_cast<size_t>(p.in));
    for (int64_t o = 0; o < p.out; ++o) {
      std::fill(row.begin(), row.end(), 0.0);
      for (int64_t r = 0; r < p.rank; ++r) {
        const double b = p.b[static_cast<size_t>(o * p.rank + r)];
        const float* a = p.a.data() + r * p.in;
        for (int64_t i = 0; i < p.in; ++i) row[static_cast<size_t>(i)] += b * a[i];
      }
      float* wr = w.data() + o * p.in;
      for (int64_t i = 0; i < p.in; ++i) wr[i] = static_cast<float>(wr[i] + s * row[static_cast<size_t>(i)]);
    }
    out[name] = std::move(w);
  }
  return out;
}

}  // namespace exaone
