#include "loaders/lora_adapter.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

#include "loaders/gguf.h"
#include "loaders/safetensors.h"
#include "util/error.h"
#include "util/half.h"
#include "util/json_file.h"
#include "util/mapped_file.h"

namespace exaone {

namespace fs = std::filesystem;

double LoraAdapter::scale_of(const LoraPair& p) const {
  if (p.rank <= 0) return 0;
  return use_rslora ? p.alpha / std::sqrt(static_cast<double>(p.rank)) : p.alpha / static_cast<double>(p.rank);
}

namespace {

constexpr const char* kConfigName = "adapter_config.json";
constexpr const char* kWeightsName = "adapter_model.safetensors";
constexpr const char* kPeftPrefix = "base_model.model.";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "model.layers.10.x" after "model.layers.2.x": digit runs compare as numbers.
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t i2 = i, j2 = j;
      while (i2 < a.size() && std::isdigit(static_cast<unsigned char>(a[i2]))) ++i2;
      while (j2 < b.size() && std::isdigit(static_cast<unsigned char>(b[j2]))) ++j2;
      const std::string na = a.substr(i, i2 - i), nb = b.substr(j, j2 - j);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = i2;
      j = j2;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

void sort_pairs(LoraAdapter& a) {
  std::sort(a.pairs.begin(), a.pairs.end(),
            [](const LoraPair& x, const LoraPair& y) { return natural_less(x.target, y.target); });
}

std::vector<float> to_f32(const TensorView& t, const std::string& where) {
  const int64_t n = t.numel();
  std::vector<float> out(static_cast<size_t>(n));
  switch (t.dtype) {
    case DType::F32:
      std::memcpy(out.data(), t.data, static_cast<size_t>(n) * 4);
      break;
    case DType::F16:
    case DType::BF16: {
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        out[static_cast<size_t>(i)] = t.dtype == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
      }
      break;
    }
    default:
      fail(where + ": dtype " + dtype_name(t.dtype) + " is not supported for LoRA tensors (F32, F16 or BF16)");
  }
  for (float v : out)
    if (!std::isfinite(v)) fail(where + ": holds a non-finite value");
  return out;
}

// ---- PEFT -------------------------------------------------------------------------------------

// The key of `patterns` that peft's get_pattern_key picks for `module`, or nullptr.
const std::string* pattern_key(const std::vector<std::string>& keys, const std::string& module,
                               const std::string& where) {
  for (const std::string& k : keys) {
    std::regex re;
    try {
      re = std::regex("(.*\\.)?(" + k + ")");
    } catch (const std::regex_error&) {
      fail(where + ": pattern '" + k + "' is not a regular expression this reader understands");
    }
    if (std::regex_match(module, re)) return &k;
  }
  return nullptr;
}

// A field that must be absent, null, false or empty: anything else is a feature we cannot apply.
void require_unset(const json& cfg, const std::string& key, const std::string& where, const std::string& what) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return;
  if (it->is_boolean() && !it->get<bool>()) return;
  if ((it->is_array() || it->is_object()) && it->empty()) return;
  fail(where + ": field '" + key + "' = " + it->dump() + ": " + what + " is not supported");
}

LoraAdapter read_peft(const std::string& dir) {
  const std::string cfg_path = (fs::path(dir) / kConfigName).string();
  const std::string st_path = (fs::path(dir) / kWeightsName).string();
  if (!file_exists(cfg_path)) fail(dir + ": no " + kConfigName + " (not a PEFT adapter folder)");
  if (!file_exists(st_path)) {
    if (file_exists((fs::path(dir) / "adapter_model.bin").string()))
      fail(dir + ": adapter_model.bin (pickle) is not supported; save the adapter with safe_serialization=True");
    fail(dir + ": no " + kWeightsName);
  }
  const json cfg = read_json_file(cfg_path);
  const std::string& w = cfg_path;
  if (!cfg.is_object()) fail(w + ": expected a JSON object");

  LoraAdapter a;
  a.source = dir;
  const auto peft_type = opt_string(cfg, "peft_type", w);
  if (!peft_type) fail(w + ": field 'peft_type': missing (expected \"LORA\")");
  if (*peft_type != "LORA") fail(w + ": field 'peft_type' = \"" + *peft_type + "\": only LORA adapters are supported");
  if (cfg.contains("task_type") && !cfg["task_type"].is_null()) {
    const auto task = opt_string(cfg, "task_type", w);
    if (*task != "CAUSAL_LM") fail(w + ": field 'task_type' = \"" + *task + "\": only CAUSAL_LM adapters are supported");
  }
  a.rank = get_int(cfg, "r", w);
  if (a.rank <= 0) fail(w + ": field 'r': must be positive, got " + std::to_string(a.rank));
  a.alpha = cfg.contains("lora_alpha") ? get_number(cfg, "lora_alpha", w) : 8.0;  // peft's default
  a.dropout = opt_number(cfg, "lora_dropout", w).value_or(0.0);
  a.use_rslora = opt_bool(cfg, "use_rslora", w).value_or(false);
  if (auto base = cfg.find("base_model_name_or_path"); base != cfg.end() && base->is_string())
    a.base_model = base->get<std::string>();
  if (const auto bias = opt_string(cfg, "bias", w); bias && *bias != "none")
    fail(w + ": field 'bias' = \"" + *bias + "\": only \"none\" is supported (trained biases are not applied)");
  require_unset(cfg, "use_dora", w, "DoRA");
  require_unset(cfg, "fan_in_fan_out", w, "fan_in_fan_out (Conv1D-style weights)");
  require_unset(cfg, "modules_to_save", w, "fully trained extra modules");
  require_unset(cfg, "lora_bias", w, "a bias on lora_B");
  require_unset(cfg, "layer_replication", w, "layer replication");
  require_unset(cfg, "trainable_token_indices", w, "trainable token embeddings");
  require_unset(cfg, "target_parameters", w, "LoRA on nn.Parameter targets (MoE experts)");
  require_unset(cfg, "alora_invocation_tokens", w, "activated LoRA");
  require_unset(cfg, "use_qalora", w, "QALoRA");
  if (auto t = cfg.find("target_modules"); t != cfg.end() && !t->is_null()) {
    if (t->is_string()) {
      a.target_modules.push_back(t->get<std::string>());
    } else if (t->is_array()) {
      for (const auto& m : *t) {
        if (!m.is_string()) fail(w + ": field 'target_modules': expected strings");
        a.target_modules.push_back(m.get<std::string>());
      }
    } else {
      fail(w + ": field 'target_modules': expected a list of names or a regular expression");
    }
  }
  std::vector<std::string> rank_keys, alpha_keys;
  std::map<std::string, int64_t> rank_pattern;
  std::map<std::string, double> alpha_pattern;
  for (const char* field : {"rank_pattern", "alpha_pattern"}) {
    auto it = cfg.find(field);
    if (it == cfg.end() || it->is_null()) continue;
    if (!it->is_object()) fail(w + ": field '" + field + "': expected an object");
    for (auto kv = it->begin(); kv != it->end(); ++kv) {
      const std::string where = w + ": field '" + field + "." + kv.key() + "'";
      if (!kv.value().is_number()) fail(where + ": expected a number");
      if (std::string(field) == "rank_pattern") {
        if (!kv.value().is_number_integer() || kv.value().get<int64_t>() <= 0) fail(where + ": expected a positive integer");
        rank_keys.push_back(kv.key());
        rank_pattern[kv.key()] = kv.value().get<int64_t>();
      } else {
        alpha_keys.push_back(kv.key());
        alpha_pattern[kv.key()] = kv.value().get<double>();
      }
    }
  }

  MappedFile file(st_path);
  struct Half {
    const TensorView* a = nullptr;
    const TensorView* b = nullptr;
  };
  const std::vector<TensorView> views = parse_safetensors(file.data(), file.size(), st_path);
  std::map<std::string, Half> halves;
  for (const TensorView& t : views) {
    const std::string where = st_path + ": tensor '" + t.name + "'";
    if (t.name.find("lora_magnitude_vector") != std::string::npos) fail(where + ": DoRA is not supported");
    if (t.name.find("lora_embedding_") != std::string::npos) fail(where + ": LoRA on embeddings is not supported");
    const bool is_a = ends_with(t.name, ".lora_A.weight"), is_b = ends_with(t.name, ".lora_B.weight");
    if (!is_a && !is_b)
      fail(where + ": not a LoRA weight (expected base_model.model.<module>.lora_A.weight or .lora_B.weight)");
    if (t.name.rfind(kPeftPrefix, 0) != 0) fail(where + ": expected the prefix '" + std::string(kPeftPrefix) + "'");
    const std::string module =
        t.name.substr(std::strlen(kPeftPrefix), t.name.size() - std::strlen(kPeftPrefix) - std::strlen(".lora_A.weight"));
    if (module.empty()) fail(where + ": empty module name");
    if (t.shape.size() != 2) fail(where + ": expected a matrix, got shape " + t.shape_str());
    Half& h = halves[module];
    (is_a ? h.a : h.b) = &t;
  }
  if (halves.empty()) fail(st_path + ": holds no LoRA tensors");
  for (const auto& [module, h] : halves) {
    const std::string where = st_path + ": module '" + module + "'";
    if (!h.a) fail(where + ": lora_A.weight is missing");
    if (!h.b) fail(where + ": lora_B.weight is missing");
    LoraPair p;
    p.target = module;
    p.rank = h.a->shape[0];
    p.in = h.a->shape[1];
    p.out = h.b->shape[0];
    if (h.b->shape[1] != p.rank)
      fail(where + ": lora_B.weight " + h.b->shape_str() + " does not match lora_A.weight " + h.a->shape_str() +
           " (expected [out, " + std::to_string(p.rank) + "])");
    if (p.rank <= 0 || p.in <= 0 || p.out <= 0) fail(where + ": empty LoRA matrices " + h.a->shape_str());
    const std::string* rk = pattern_key(rank_keys, module, w + ": field 'rank_pattern'");
    const int64_t want_rank = rk ? rank_pattern[*rk] : a.rank;
    if (want_rank != p.rank)
      fail(where + ": lora_A.weight has rank " + std::to_string(p.rank) + ", but " + kConfigName + " says " +
           std::to_string(want_rank) + (rk ? " (rank_pattern '" + *rk + "')" : " (field 'r')"));
    const std::string* ak = pattern_key(alpha_keys, module, w + ": field 'alpha_pattern'");
    p.alpha = ak ? alpha_pattern[*ak] : a.alpha;
    p.a = to_f32(*h.a, st_path + ": tensor '" + h.a->name + "'");
    p.b = to_f32(*h.b, st_path + ": tensor '" + h.b->name + "'");
    a.pairs.push_back(std::move(p));
  }
  sort_pairs(a);
  return a;
}

// ---- GGUF -------------------------------------------------------------------------------------

LoraAdapter read_gguf_lora(const std::string& path) {
  MappedFile file(path);
  const GgufFile g = parse_gguf(file.data(), file.size(), path);
  const GgufValue* type = g.find("general.type");
  if (!type || type->type != GgufType::STRING || type->value.get<std::string>() != "adapter")
    fail(path + ": metadata 'general.type' is not \"adapter\" (a model file, not a LoRA adapter?)");
  const std::string adapter_type = g.get_string("adapter.type");
  if (adapter_type != "lora") fail(path + ": metadata 'adapter.type' = \"" + adapter_type + "\": only \"lora\" is supported");
  if (g.find("adapter.alora.invocation_tokens")) fail(path + ": metadata 'adapter.alora.invocation_tokens': activated LoRA is not supported");
  LoraAdapter a;
  a.source = path;
  a.arch = g.get_string("general.architecture");
  // llama.cpp: a missing or zero alpha means scale = user scale (alpha = rank for every pair).
  const double alpha = g.opt_float("adapter.lora.alpha").value_or(0.0);
  a.alpha = alpha;

  struct Half {
    const GgufTensorInfo* a = nullptr;
    const GgufTensorInfo* b = nullptr;
  };
  std::map<std::string, Half> halves;
  for (const GgufTensorInfo& t : g.tensors) {
    const std::string where = path + ": tensor '" + t.name + "'";
    const bool is_a = ends_with(t.name, ".lora_a"), is_b = ends_with(t.name, ".lora_b");
    if (!is_a && !is_b) fail(where + ": unexpected name (expected <base tensor>.lora_a / .lora_b)");
    if (t.ne.size() != 2) fail(where + ": expected a matrix, got shape " + t.view.shape_str());
    Half& h = halves[t.name.substr(0, t.name.size() - 7)];
    (is_a ? h.a : h.b) = &t;
  }
  if (halves.empty()) fail(path + ": holds no LoRA tensors");
  for (const auto& [base, h] : halves) {
    const std::string where = path + ": tensor '" + base + "'";
    if (!h.a) fail(where + ".lora_a is missing");
    if (!h.b) fail(where + ".lora_b is missing");
    if (ends_with(base, "token_embd.weight")) fail(where + ": LoRA on the token embedding is not supported");
    const std::string hf = gguf_to_hf_name(a.arch, base);
    if (hf.empty() || !ends_with(hf, ".weight"))
      fail(where + ": not a weight of a '" + a.arch + "' model that exaone.cpp knows");
    LoraPair p;
    p.target = hf.substr(0, hf.size() - 7);
    // llama.cpp's layout: lora_a ne = [in, rank] (PyTorch [rank, in]), lora_b ne = [rank, out].
    p.in = h.a->ne[0];
    p.rank = h.a->ne[1];
    p.out = h.b->ne[1];
    if (h.b->ne[0] != p.rank)
      fail(where + ": lora_b ne " + h.b->view.shape_str() + " does not match lora_a " + h.a->view.shape_str() +
           " (lora_a must be [rank, in] and lora_b [out, rank] in PyTorch order)");
    if (p.rank <= 0 || p.in <= 0 || p.out <= 0) fail(where + ": empty LoRA matrices");
    p.alpha = alpha != 0 ? alpha : static_cast<double>(p.rank);
    p.a = to_f32(h.a->view, path + ": tensor '" + h.a->name + "'");
    p.b = to_f32(h.b->view, path + ": tensor '" + h.b->name + "'");
    if (a.rank == 0) a.rank = p.rank;
    a.pairs.push_back(std::move(p));
  }
  if (a.alpha == 0) a.alpha = static_cast<double>(a.rank);
  sort_pairs(a);
  // Short target names, as PEFT's target_modules would list them.
  for (const LoraPair& p : a.pairs) {
    const std::string shortname = p.target.substr(p.target.rfind('.') + 1);
    if (std::find(a.target_modules.begin(), a.target_modules.end(), shortname) == a.target_modules.end())
      a.target_modules.push_back(shortname);
  }
  return a;
}

void check_pairs(const LoraAdapter& adapter, const std::string& where) {
  for (const LoraPair& p : adapter.pairs) {
    if (p.rank <= 0 || p.in <= 0 || p.out <= 0)
      fail(where + ": pair '" + p.target + "': rank, in and out must be positive");
    if (p.a.size() != static_cast<size_t>(p.rank * p.in) || p.b.size() != static_cast<size_t>(p.out * p.rank))
      fail(where + ": pair '" + p.target + "': A/B sizes do not match [rank, in] / [out, rank]");
  }
}

}  // namespace

LoraAdapter read_lora_adapter(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return read_peft(path);
  if (!fs::exists(path, ec)) fail(path + ": no such file or folder");
  const std::string name = fs::path(path).filename().string();
  if (name == kConfigName || ends_with(name, ".safetensors")) {
    const fs::path dir = fs::path(path).parent_path();
    return read_peft(dir.empty() ? std::string(".") : dir.string());
  }
  char magic[4] = {0, 0, 0, 0};
  {
    std::ifstream f(path, std::ios::binary);
    f.read(magic, 4);
  }
  if (std::memcmp(magic, "GGUF", 4) == 0) return read_gguf_lora(path);
  fail(path + ": not a LoRA adapter (expected a PEFT folder with " + kConfigName + " and " + kWeightsName +
       ", or a GGUF LoRA file)");
}

void write_peft_adapter(const LoraAdapter& adapter, const std::string& dir) {
  check_pairs(adapter, dir);
  if (adapter.rank <= 0) fail(dir + ": adapter rank must be positive");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(dir + ": cannot create folder: " + ec.message());

  std::vector<SafetensorsF32> tensors;
  for (const LoraPair& p : adapter.pairs) {
    tensors.push_back({kPeftPrefix + p.target + ".lora_A.weight", {p.rank, p.in}, p.a.data()});
    tensors.push_back({kPeftPrefix + p.target + ".lora_B.weight", {p.out, p.rank}, p.b.data()});
  }
  write_safetensors_f32((fs::path(dir) / kWeightsName).string(), tensors);

  // The fields peft's LoraConfig has had since 0.9 (older and newer peft both load them); pairs
  // whose rank or alpha differ from r / lora_alpha are listed by their full module name.
  json rank_pattern = json::object(), alpha_pattern = json::object();
  std::vector<std::string> targets = adapter.target_modules;
  for (const LoraPair& p : adapter.pairs) {
    if (p.rank != adapter.rank) rank_pattern[p.target] = p.rank;
    if (p.alpha != adapter.alpha) alpha_pattern[p.target] = p.alpha;
    const std::string shortname = p.target.substr(p.target.rfind('.') + 1);
    if (adapter.target_modules.empty() && std::find(targets.begin(), targets.end(), shortname) == targets.end())
      targets.push_back(shortname);
  }
  json cfg = json::object();
  cfg["alpha_pattern"] = alpha_pattern;
  cfg["auto_mapping"] = nullptr;
  cfg["base_model_name_or_path"] = adapter.base_model.empty() ? json(nullptr) : json(adapter.base_model);
  cfg["bias"] = "none";
  cfg["fan_in_fan_out"] = false;
  cfg["inference_mode"] = true;
  cfg["init_lora_weights"] = true;
  cfg["layers_pattern"] = nullptr;
  cfg["layers_to_transform"] = nullptr;
  cfg["lora_alpha"] = adapter.alpha;
  cfg["lora_dropout"] = adapter.dropout;
  cfg["modules_to_save"] = nullptr;
  cfg["peft_type"] = "LORA";
  cfg["r"] = adapter.rank;
  cfg["rank_pattern"] = rank_pattern;
  cfg["revision"] = nullptr;
  cfg["target_modules"] = targets;
  cfg["task_type"] = "CAUSAL_LM";
  cfg["use_dora"] = false;
  cfg["use_rslora"] = adapter.use_rslora;
  const std::string cfg_path = (fs::path(dir) / kConfigName).string();
  const std::string tmp = cfg_path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) fail(tmp + ": cannot open for writing");
    f << cfg.dump(2) << "\n";
    if (!f) fail(tmp + ": write failed");
  }
  fs::rename(tmp, cfg_path, ec);
  if (ec) fail(cfg_path + ": cannot rename " + tmp + " into place: " + ec.message());
}

void write_gguf_lora_adapter(const LoraAdapter& adapter, const std::string& arch, const std::string& path) {
  check_pairs(adapter, path);
  if (adapter.pairs.empty()) fail(path + ": the adapter has no LoRA pairs");
  // One alpha for the whole file; llama.cpp scales each pair by alpha / its rank.
  const double alpha = adapter.alpha > 0 ? adapter.alpha : static_cast<double>(adapter.rank);
  GgufWriter w;
  w.set("general.architecture", GgufType::STRING, arch);
  w.set("general.type", GgufType::STRING, "adapter");
  w.set("adapter.type", GgufType::STRING, "lora");
  w.set("adapter.lora.alpha", GgufType::F32, alpha);
  for (const LoraPair& p : adapter.pairs) {
    const std::string base = hf_to_gguf_name(arch, p.target + ".weight");
    if (base.empty()) fail(path + ": pair '" + p.target + "' has no GGUF name for architecture '" + arch + "'");
    const double ratio = adapter.scale_of(p) / (alpha / static_cast<double>(p.rank));
    std::vector<uint8_t> a_bytes(p.a.size() * 4), b_bytes(p.b.size() * 4);
    std::memcpy(a_bytes.data(), p.a.data(), a_bytes.size());
    if (ratio == 1.0) {
      std::memcpy(b_bytes.data(), p.b.data(), b_bytes.size());
    } else {
      for (size_t i = 0; i < p.b.size(); ++i) {
        const float v = static_cast<float>(p.b[i] * ratio);
        std::memcpy(b_bytes.data() + 4 * i, &v, 4);
      }
    }
    // PyTorch order [rank, in] / [out, rank] = ggml ne [in, rank] / [rank, out], as llama.cpp checks.
    w.add_tensor(base + ".lora_a", DType::F32, {p.rank, p.in}, std::move(a_bytes));
    w.add_tensor(base + ".lora_b", DType::F32, {p.out, p.rank}, std::move(b_bytes));
  }
  w.write(path);
}

}  // namespace exaone
