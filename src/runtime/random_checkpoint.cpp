#include "runtime/random_checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "util/error.h"
#include "util/half.h"
#include "util/json_file.h"
#include "util/paths.h"

namespace exaone {

namespace {

struct Shape {
  const char* name;
  const char* what;
  bool moe;  // K-EXAONE (exaone_moe: pre-norm, routed experts, MTP layer) instead of EXAONE 4.0
  int64_t hidden, layers, heads, kv_heads, head_dim, ffn, vocab, max_position;
  bool tied;
  int64_t sliding_window;  // 0: none (all global, RoPE everywhere); else 3 sliding + 1 global NoPE
  bool llama3_rope;
  // K-EXAONE only.
  int64_t experts = 0, experts_used = 0, moe_ffn = 0, shared = 0, dense_first = 0;
};

const std::vector<Shape>& shapes() {
  static const std::vector<Shape> s = {
      {"1.2b", "EXAONE-4.0-1.2B (spec 1.1)", false, 2048, 30, 32, 8, 64, 4096, 102400, 65536, true, 0, true},
      {"32b-mini", "the EXAONE-4.0-32B layer shape, one hybrid period (3 sliding + 1 global), untied", false, 5120, 4,
       40, 8, 128, 27392, 102400, 131072, false, 4096, true},
      {"tiny", "the shape of models/exaone4-tiny (tests)", false, 128, 4, 4, 2, 32, 256, 2304, 2048, true, 8, false},
      // K-EXAONE's structure at 3.1B total / 0.76B active parameters (0.52B besides the embedding table, of
      // which a token reads one row): 12 layers (3 hybrid periods, window 128, first dense), 8:1 GQA with
      // head_dim 128, 128 routed experts of which 8 run + 1 shared, its vocabulary, untied, one MTP layer.
      {"kexaone-mini", "K-EXAONE's structure at 3.1B total / 0.76B active parameters (0.52B without the embedding)", true, 1536, 12, 16, 2, 128,
       4608, 153600, 262144, false, 128, false, 128, 8, 384, 1, 1},
      // The same structure in miniature (tests): 8 experts, top 2 + 1 shared, window 4.
      {"kexaone-tiny", "K-EXAONE's structure in miniature (tests)", true, 64, 4, 4, 2, 16, 128, 512, 4096, false, 4,
       false, 8, 2, 32, 1, 1},
  };
  return s;
}

const Shape& shape_named(const std::string& name) {
  std::string names;
  for (const Shape& s : shapes()) {
    if (name == s.name) return s;
    names += names.empty() ? s.name : std::string(", ") + s.name;
  }
  fail("make-model: --shape must be one of " + names + ", got '" + name + "'");
}

bool sliding(const Shape& s, int64_t l) { return s.sliding_window > 0 && l % 4 != 3; }

json config_for(const Shape& s, const std::string& torch_dtype) {
  json layer_types = json::array();
  for (int64_t l = 0; l < s.layers; ++l) layer_types.push_back(sliding(s, l) ? "sliding_attention" : "full_attention");
  json rope = nullptr;
  if (s.llama3_rope)
    rope = {{"rope_type", "llama3"}, {"factor", 16.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
            {"original_max_position_embeddings", 8192}};
  json c = {{"architectures", {s.moe ? "ExaoneMoEForCausalLM" : "Exaone4ForCausalLM"}},
            {"model_type", s.moe ? "exaone_moe" : "exaone4"},
            {"vocab_size", s.vocab},
            {"hidden_size", s.hidden},
            {"intermediate_size", s.ffn},
            {"num_hidden_layers", s.layers},
            {"num_attention_heads", s.heads},
            {"num_key_value_heads", s.kv_heads},
            {"head_dim", s.head_dim},
            {"hidden_act", "silu"},
            {"max_position_embeddings", s.max_position},
            {"initializer_range", 0.02},
            {"rms_norm_eps", 1e-5},
            {"attention_dropout", 0.0},
            {"use_cache", true},
            {"bos_token_id", 1},
            {"eos_token_id", s.moe ? 53 : 361},
            {"pad_token_id", 0},
            {"tie_word_embeddings", s.tied},
            {"sliding_window", s.sliding_window > 0 ? json(s.sliding_window) : json(nullptr)},
            {"layer_types", layer_types},
            {"rope_theta", 1000000.0},
            {"rope_scaling", rope},
            {"torch_dtype", torch_dtype}};
  if (s.moe) {
    // As the released config spells them (spec 3.1).
    c["moe_intermediate_size"] = s.moe_ffn;
    c["num_experts"] = s.experts;
    c["num_experts_per_tok"] = s.experts_used;
    c["num_shared_experts"] = s.shared;
    c["n_group"] = 1;
    c["topk_group"] = 1;
    c["norm_topk_prob"] = true;
    c["routed_scaling_factor"] = 2.5;
    c["first_k_dense_replace"] = s.dense_first;
    c["num_nextn_predict_layers"] = 1;
    c["mtp_layer_types"] = {"full_attention"};
  } else {
    c["sliding_window_pattern"] = s.sliding_window > 0 ? json("LLLG") : json(nullptr);
  }
  return c;
}

enum class Kind { Matrix, Norm, Bias };

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  Kind kind = Kind::Matrix;
  bool f32 = false;  // stored F32 whatever the checkpoint dtype (K-EXAONE's correction bias)
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

// The layer's attention tensors; `pre_norm`: K-EXAONE's input_layernorm / post_attention_layernorm
// (before the blocks) instead of EXAONE 4.0's norms on the block outputs.
void attention_tensors(const Shape& s, const std::string& p, std::vector<TensorSpec>& t) {
  const int64_t H = s.hidden, q = s.heads * s.head_dim, kv = s.kv_heads * s.head_dim;
  if (s.moe) t.push_back({p + "input_layernorm.weight", {H}, Kind::Norm});
  t.push_back({p + "self_attn.q_proj.weight", {q, H}});
  t.push_back({p + "self_attn.k_proj.weight", {kv, H}});
  t.push_back({p + "self_attn.v_proj.weight", {kv, H}});
  t.push_back({p + "self_attn.o_proj.weight", {H, q}});
  t.push_back({p + "self_attn.q_norm.weight", {s.head_dim}, Kind::Norm});
  t.push_back({p + "self_attn.k_norm.weight", {s.head_dim}, Kind::Norm});
  t.push_back({p + "post_attention_layernorm.weight", {H}, Kind::Norm});
}

void dense_mlp(const Shape& s, const std::string& p, std::vector<TensorSpec>& t) {
  t.push_back({p + "mlp.gate_proj.weight", {s.ffn, s.hidden}});
  t.push_back({p + "mlp.up_proj.weight", {s.ffn, s.hidden}});
  t.push_back({p + "mlp.down_proj.weight", {s.hidden, s.ffn}});
}

std::vector<TensorSpec> tensors_for(const Shape& s) {
  const int64_t H = s.hidden;
  std::vector<TensorSpec> t;
  t.push_back({"model.embed_tokens.weight", {s.vocab, H}});
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    attention_tensors(s, p, t);
    if (!s.moe) {
      dense_mlp(s, p, t);
      t.push_back({p + "post_feedforward_layernorm.weight", {H}, Kind::Norm});
    } else if (l < s.dense_first) {
      dense_mlp(s, p, t);
    } else {
      // Per-expert names and the bias beside the router, as released.
      t.push_back({p + "mlp.gate.weight", {s.experts, H}});
      t.push_back({p + "mlp.e_score_correction_bias", {s.experts}, Kind::Bias, true});
      for (int64_t e = 0; e < s.experts; ++e) {
        const std::string x = p + "mlp.experts." + std::to_string(e) + ".";
        t.push_back({x + "gate_proj.weight", {s.moe_ffn, H}});
        t.push_back({x + "up_proj.weight", {s.moe_ffn, H}});
        t.push_back({x + "down_proj.weight", {H, s.moe_ffn}});
      }
      const int64_t si = s.moe_ffn * s.shared;
      t.push_back({p + "mlp.shared_experts.gate_proj.weight", {si, H}});
      t.push_back({p + "mlp.shared_experts.up_proj.weight", {si, H}});
      t.push_back({p + "mlp.shared_experts.down_proj.weight", {H, si}});
    }
  }
  t.push_back({"model.norm.weight", {H}, Kind::Norm});
  if (!s.tied) t.push_back({"lm_head.weight", {s.vocab, H}});
  if (s.moe) {  // the MTP layer: fc over [embedding | hidden], a pre-norm layer with a dense MLP, its norm
    t.push_back({"mtp.fc.weight", {H, 2 * H}});
    t.push_back({"mtp.pre_fc_norm_embedding.weight", {H}, Kind::Norm});
    t.push_back({"mtp.pre_fc_norm_hidden.weight", {H}, Kind::Norm});
    t.push_back({"mtp.norm.weight", {H}, Kind::Norm});
    attention_tensors(s, "mtp.layers.0.", t);
    dense_mlp(s, "mtp.layers.0.", t);
  }
  return t;
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Element i of a tensor: a counter-based draw, so the file does not depend on the thread count.
// Matrices: uniform with std 0.02 (the config's initializer_range); norms: 1 +/- 0.1; biases +/- 0.01.
float random_weight(uint64_t key, int64_t i, Kind kind) {
  const uint64_t r = splitmix64(key + static_cast<uint64_t>(i) * 0xd1b54a32d192ed03ull);
  const float u = static_cast<float>(static_cast<double>(r >> 11) * 0x1.0p-53 * 2.0 - 1.0);  // [-1, 1)
  switch (kind) {
    case Kind::Norm: return 1.0f + 0.1f * u;
    case Kind::Bias: return 0.01f * u;
    default: return 0.0346410162f * u;  // 0.02 * sqrt(3)
  }
}

struct Storage {
  std::string st_dtype, torch_dtype;
  int elem_bytes = 2;
};

Storage storage_of(const TensorSpec& t, const Storage& model) {
  return t.f32 ? Storage{"F32", "float32", 4} : model;
}

// Writes one safetensors file holding `specs`, in order (written under a temporary name, then renamed).
void write_safetensors(const std::string& path, const std::vector<const TensorSpec*>& specs,
                       const std::vector<uint64_t>& keys, const Storage& model) {
  json header = json::object();
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const TensorSpec* t : specs) {
    const Storage st = storage_of(*t, model);
    const uint64_t bytes = static_cast<uint64_t>(t->numel()) * st.elem_bytes;
    header[t->name] = {{"dtype", st.st_dtype}, {"shape", t->shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  const std::string tmp = path + ".tmp";
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) fail("make-model: cannot create " + tmp);
  const uint64_t len = text.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  constexpr int64_t kBlock = int64_t{1} << 22;
  std::vector<uint8_t> buf(static_cast<size_t>(kBlock) * 4);
  for (size_t k = 0; k < specs.size(); ++k) {
    const TensorSpec& t = *specs[k];
    const Storage st = storage_of(t, model);
    const int64_t n = t.numel();
    for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
      const int64_t len_b = std::min(kBlock, n - b0);
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < len_b; ++i) {
        const float v = random_weight(keys[k], b0 + i, t.kind);
        if (st.elem_bytes == 4) {
          std::memcpy(buf.data() + 4 * i, &v, 4);
        } else {
          const uint16_t h = st.st_dtype == "BF16" ? f32_to_bf16(v) : f32_to_f16(v);
          std::memcpy(buf.data() + 2 * i, &h, 2);
        }
      }
      out.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(len_b * st.elem_bytes));
    }
  }
  out.close();
  if (!out) fail("make-model: writing " + tmp + " failed (disk full?)");
  std::filesystem::rename(tmp, path);
}

void write_json(const std::string& path, const json& j) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) fail("make-model: cannot create " + path);
  out << j.dump(2) << "\n";
  out.close();
  if (!out) fail("make-model: writing " + path + " failed");
}

}  // namespace

std::vector<std::string> random_checkpoint_shapes() {
  std::vector<std::string> out;
  for (const Shape& s : shapes()) out.push_back(std::string(s.name) + ": " + s.what);
  return out;
}

RandomCheckpointResult write_random_checkpoint(const RandomCheckpointOptions& o) {
  namespace fs = std::filesystem;
  const Shape& s = shape_named(o.shape);
  Storage model;
  if (o.dtype == "bf16") model = {"BF16", "bfloat16", 2};
  else if (o.dtype == "f16") model = {"F16", "float16", 2};
  else if (o.dtype == "f32") model = {"F32", "float32", 4};
  else fail("make-model: --dtype must be bf16, f16 or f32, got '" + o.dtype + "'");
  if (o.out.empty()) fail("make-model: give an output folder");
  if (fs::exists(path_join(o.out, "config.json")) && !o.force)
    fail("make-model: " + path_join(o.out, "config.json") + " exists (use --force to overwrite)");
  if (o.max_shard_bytes < 1) fail("make-model: --max-shard-bytes must be positive");
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) fail("make-model: cannot create directory " + o.out + ": " + ec.message());

  const std::vector<TensorSpec> specs = tensors_for(s);
  RandomCheckpointResult r;
  // Shards of at most max_shard_bytes, tensors kept whole and in order.
  std::vector<std::vector<size_t>> shards(1);
  uint64_t in_shard = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const uint64_t bytes = static_cast<uint64_t>(specs[i].numel()) * storage_of(specs[i], model).elem_bytes;
    if (in_shard > 0 && in_shard + bytes > o.max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(i);
    in_shard += bytes;
    r.bytes += bytes;
    if (specs[i].name.compare(0, 4, "mtp.") != 0) r.parameters += specs[i].numel();
  }
  const int64_t moe_layers = s.moe ? s.layers - s.dense_first : 0;
  r.active_parameters = r.parameters - moe_layers * (s.experts - s.experts_used) * 3 * s.hidden * s.moe_ffn;
  // Remove files of an earlier run with another shard count (they would be loaded too).
  for (const auto& e : fs::directory_iterator(o.out))
    if (e.path().extension() == ".safetensors" || e.path().filename() == "model.safetensors.index.json")
      fs::remove(e.path());

  json weight_map = json::object();
  r.shards = shards.size();
  for (size_t k = 0; k < r.shards; ++k) {
    char name[64];
    if (r.shards == 1) std::snprintf(name, sizeof name, "model.safetensors");
    else std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", k + 1, r.shards);
    std::vector<const TensorSpec*> in;
    std::vector<uint64_t> keys;
    for (size_t i : shards[k]) {
      in.push_back(&specs[i]);
      keys.push_back(splitmix64(o.seed ^ splitmix64(i + 1)));
      weight_map[specs[i].name] = name;
    }
    std::fprintf(stderr, "writing %s (%zu tensors)\n", path_join(o.out, name).c_str(), in.size());
    write_safetensors(path_join(o.out, name), in, keys, model);
  }
  if (r.shards > 1)
    write_json(path_join(o.out, "model.safetensors.index.json"),
               {{"metadata", {{"total_size", r.bytes}}}, {"weight_map", weight_map}});
  write_json(path_join(o.out, "config.json"), config_for(s, model.torch_dtype));
  write_json(path_join(o.out, "generation_config.json"),
             {{"bos_token_id", 1}, {"eos_token_id", s.moe ? 53 : 361}, {"pad_token_id", 0}});
  return r;
}

}  // namespace exaone
