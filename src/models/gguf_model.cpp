#include "models/gguf_model.h"

#include <cmath>
#include <cstring>
#include <filesystem>

#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "models/model.h"
#include "util/error.h"

namespace exaone {

namespace {

// llama.cpp's llama_ftype values for general.file_type.
uint32_t file_type_of(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::BF16: return 32;
    default: return 0;
  }
}

const char* arch_of(Family f) { return f == Family::Exaone3 ? "exaone" : "exaone4"; }

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
  else fail(f.path + ": metadata key 'general.architecture': unsupported architecture '" + arch + "'");
  c.model_type = arch;
  const std::string p = arch + ".";
  c.hidden = f.get_int(p + "embedding_length");
  c.n_layers = f.get_int(p + "block_count");
  c.n_heads = f.get_int(p + "attention.head_count");
  c.n_kv_heads = f.opt_int(p + "attention.head_count_kv").value_or(c.n_heads);
  if (c.n_heads <= 0) fail(f.path + ": metadata key '" + p + "attention.head_count' must be positive");
  if (c.n_layers <= 0 || c.n_layers > 4096)
    fail(f.path + ": metadata key '" + p + "block_count' is out of range");
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

  // Sliding window layout (EXAONE 4.0 only; EXAONE 3.x is full attention with RoPE everywhere).
  c.layer_sliding.assign(c.n_layers, false);
  if (c.family == Family::Exaone4) {
    c.sliding_window = f.opt_int(p + "attention.sliding_window").value_or(0);
    if (c.sliding_window < 0) fail(f.path + ": metadata key '" + p + "attention.sliding_window' is negative");
    if (c.sliding_window > 0) {
      const std::string key = p + "attention.sliding_window_pattern";
      if (const GgufValue* pat = f.find(key)) {
        if (pat->type != GgufType::ARRAY || pat->elem_type != GgufType::BOOL)
          fail(f.path + ": metadata key '" + key + "': expected an array of bool");
        if (static_cast<int64_t>(pat->value.size()) != c.n_layers)
          fail(f.path + ": metadata key '" + key + "' has " + std::to_string(pat->value.size()) + " entries for " +
               std::to_string(c.n_layers) + " layers");
        for (int64_t l = 0; l < c.n_layers; ++l) c.layer_sliding[l] = pat->value[l].get<bool>();
      } else {
        for (int64_t l = 0; l < c.n_layers; ++l) c.layer_sliding[l] = l % 4 < 3;  // llama.cpp's default period
      }
    }
  }
  c.layer_rope.resize(c.n_layers);
  for (int64_t l = 0; l < c.n_layers; ++l) c.layer_rope[l] = c.sliding_window == 0 || c.layer_sliding[l];

  c.bos_id = f.opt_int("tokenizer.ggml.bos_token_id").value_or(-1);
  c.pad_id = f.opt_int("tokenizer.ggml.padding_token_id").value_or(-1);
  if (auto e = f.opt_int("tokenizer.ggml.eos_token_id")) c.eos_ids.push_back(*e);
  if (auto e = f.opt_int("tokenizer.ggml.eot_token_id"); e && (c.eos_ids.empty() || c.eos_ids[0] != *e))
    c.eos_ids.push_back(*e);
  if (auto ft = f.opt_int("general.file_type")) c.source_dtype = "gguf file_type " + std::to_string(*ft);
  return c;
}

GgufWriter build_gguf(const ModelConfig& c, const WeightStore& weights, DType type) {
  if (type != DType::F32 && type != DType::F16 && type != DType::BF16 && type != DType::Q8_0 && type != DType::Q4_0)
    fail(std::string("convert: output type ") + dtype_name(type) + " is not supported (f32, f16, bf16, q8_0, q4_0)");
  const std::string arch = arch_of(c.family);
  const std::string p = arch + ".";
  GgufWriter w;
  using T = GgufType;
  w.set("general.architecture", T::STRING, arch);
  w.set("general.file_type", T::U32, file_type_of(type));
  w.set(p + "context_length", T::U32, c.max_position);
  w.set(p + "embedding_length", T::U32, c.hidden);
  w.set(p + "block_count", T::U32, c.n_layers);
  w.set(p + "feed_forward_length", T::U32, c.intermediate);
  w.set(p + "attention.head_count", T::U32, c.n_heads);
  w.set(p + "attention.head_count_kv", T::U32, c.n_kv_heads);
  w.set(p + "attention.key_length", T::U32, c.head_dim);
  w.set(p + "attention.value_length", T::U32, c.head_dim);
  w.set(p + "rope.freq_base", T::F32, c.rope.theta);
  w.set(p + "attention.layer_norm_rms_epsilon", T::F32, c.rms_eps);
  w.set(p + "vocab_size", T::U32, c.vocab_size);
  if (c.family == Family::Exaone3) w.set(p + "rope.dimension_count", T::U32, c.head_dim);
  if (c.family == Family::Exaone4 && c.sliding_window > 0) {
    w.set(p + "attention.sliding_window", T::U32, c.sliding_window);
    json pat = json::array();
    for (bool s : c.layer_sliding) pat.push_back(s);
    w.set_array(p + "attention.sliding_window_pattern", T::BOOL, pat);
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

  for (const auto& [name, t] : weights.tensors()) {
    if (name == "lm_head.weight" && c.tie_embeddings) continue;  // tied: llama.cpp falls back to token_embd
    const std::string g = hf_to_gguf_name(arch, name);
    if (g.empty()) fail(t.file + ": tensor '" + name + "' has no GGUF name for arch " + arch);
    std::vector<float> x = widen_all(t);
    DType out = t.shape.size() >= 2 ? type : DType::F32;
    if (t.cols() % dtype_block_elems(out) != 0) out = DType::F16;
    w.add_tensor(g, out, t.shape, quantize_matrix(out, x.data(), t.rows(), t.cols()));
  }
  return w;
}

void convert_to_gguf(const std::string& src, const std::string& out, DType type, bool force) {
  std::error_code ec;
  if (std::filesystem::exists(out, ec) && !force) fail(out + ": already exists (use --force to overwrite)");
  auto model = load_model(src);
  build_gguf(model->config(), model->weights(), type).write(out);
}

DType parse_gguf_out_type(const std::string& s) {
  if (s == "f32") return DType::F32;
  if (s == "f16") return DType::F16;
  if (s == "bf16") return DType::BF16;
  if (s == "q8_0") return DType::Q8_0;
  if (s == "q4_0") return DType::Q4_0;
  fail("--type: unknown output type '" + s + "' (f32, f16, bf16, q8_0, q4_0)");
}

}  // namespace exaone
