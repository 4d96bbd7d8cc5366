#include "loaders/gguf.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "util/error.h"

namespace exaone {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian uint32
constexpr uint32_t kMaxDims = 4;          // GGML_MAX_DIMS
constexpr uint64_t kMaxStringBytes = 1ull << 30;

// Bounds-checked little-endian cursor over the file image.
class Reader {
 public:
  Reader(const uint8_t* d, size_t n, const std::string& path) : d_(d), n_(n), path_(path) {}
  size_t pos() const { return pos_; }
  size_t left() const { return n_ - pos_; }

  template <class T>
  T read(const std::string& what) {
    if (left() < sizeof(T))
      fail(path_ + ": truncated at byte " + std::to_string(pos_) + " while reading " + what);
    T v;
    std::memcpy(&v, d_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const std::string& what) {
    const uint64_t len = read<uint64_t>(what + " length");
    if (len > left() || len > kMaxStringBytes)
      fail(path_ + ": " + what + ": string length " + std::to_string(len) + " at byte " + std::to_string(pos_ - 8) +
           " exceeds the file");
    std::string s(reinterpret_cast<const char*>(d_ + pos_), len);
    pos_ += len;
    return s;
  }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t pos_ = 0;
  const std::string& path_;
};

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    case GgufType::STRING: return 8;  // at least its length field
    default: return 0;
  }
}

bool valid_type(uint32_t t) { return t <= 12; }

json read_scalar(Reader& r, GgufType t, const std::string& what) {
  switch (t) {
    case GgufType::U8: return r.read<uint8_t>(what);
    case GgufType::I8: return r.read<int8_t>(what);
    case GgufType::U16: return r.read<uint16_t>(what);
    case GgufType::I16: return r.read<int16_t>(what);
    case GgufType::U32: return r.read<uint32_t>(what);
    case GgufType::I32: return r.read<int32_t>(what);
    case GgufType::F32: return r.read<float>(what);
    case GgufType::U64: return r.read<uint64_t>(what);
    case GgufType::I64: return r.read<int64_t>(what);
    case GgufType::F64: return r.read<double>(what);
    case GgufType::BOOL: return r.read<uint8_t>(what) != 0;
    case GgufType::STRING: return r.read_string(what);
    default: break;
  }
  return nullptr;
}

void put_bytes(std::vector<uint8_t>& out, const void* p, size_t n) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  out.insert(out.end(), b, b + n);
}
template <class T>
void put(std::vector<uint8_t>& out, T v) {
  put_bytes(out, &v, sizeof(T));
}
void put_string(std::vector<uint8_t>& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  put_bytes(out, s.data(), s.size());
}

void put_scalar(std::vector<uint8_t>& out, GgufType t, const json& v, const std::string& key) {
  try {
    switch (t) {
      case GgufType::U8: put<uint8_t>(out, v.get<uint8_t>()); return;
      case GgufType::I8: put<int8_t>(out, v.get<int8_t>()); return;
      case GgufType::U16: put<uint16_t>(out, v.get<uint16_t>()); return;
      case GgufType::I16: put<int16_t>(out, v.get<int16_t>()); return;
      case GgufType::U32: put<uint32_t>(out, v.get<uint32_t>()); return;
      case GgufType::I32: put<int32_t>(out, v.get<int32_t>()); return;
      case GgufType::F32: put<float>(out, v.get<float>()); return;
      case GgufType::U64: put<uint64_t>(out, v.get<uint64_t>()); return;
      case GgufType::I64: put<int64_t>(out, v.get<int64_t>()); return;
      case GgufType::F64: put<double>(out, v.get<double>()); return;
      case GgufType::BOOL: put<uint8_t>(out, v.get<bool>() ? 1 : 0); return;
      case GgufType::STRING: put_string(out, v.get<std::string>()); return;
      default: break;
    }
  } catch (const json::exception&) {
  }
  fail("gguf writer: key '" + key + "': value " + v.dump() + " does not fit type " + gguf_type_name(t));
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

const char* gguf_type_name(GgufType t) {
  static const char* names[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                                "bool",  "string", "array", "uint64", "int64", "float64"};
  const auto i = static_cast<uint32_t>(t);
  return i <= 12 ? names[i] : "?";
}

uint32_t ggml_type_of(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 8;
    case DType::Q4_K: return 12;
    case DType::Q6_K: return 14;
    case DType::BF16: return 30;
    case DType::Q4_1: return 3;
    case DType::Q5_0: return 6;
    case DType::Q5_1: return 7;
    case DType::Q2_K: return 10;
    case DType::Q3_K: return 11;
    case DType::Q5_K: return 13;
    case DType::IQ4_NL: return 20;
    case DType::IQ4_XS: return 23;
  }
  return 0;
}

std::optional<DType> dtype_of_ggml(uint32_t g) {
  switch (g) {
    case 0: return DType::F32;
    case 1: return DType::F16;
    case 2: return DType::Q4_0;
    case 8: return DType::Q8_0;
    case 12: return DType::Q4_K;
    case 14: return DType::Q6_K;
    case 30: return DType::BF16;
    case 3: return DType::Q4_1;
    case 6: return DType::Q5_0;
    case 7: return DType::Q5_1;
    case 10: return DType::Q2_K;
    case 11: return DType::Q3_K;
    case 13: return DType::Q5_K;
    case 20: return DType::IQ4_NL;
    case 23: return DType::IQ4_XS;
    default: return std::nullopt;
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv.find(key);
  return it == kv.end() ? nullptr : &it->second;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) fail(path + ": missing metadata key '" + key + "'");
  if (v->type != GgufType::STRING) fail(path + ": metadata key '" + key + "': expected a string");
  return v->value.get<std::string>();
}

std::optional<int64_t> GgufFile::opt_int(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type == GgufType::ARRAY || v->type == GgufType::STRING || v->type == GgufType::BOOL ||
      v->type == GgufType::F32 || v->type == GgufType::F64)
    fail(path + ": metadata key '" + key + "': expected an integer, got " + gguf_type_name(v->type));
  if (v->type == GgufType::U64 && v->value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    fail(path + ": metadata key '" + key + "': value out of range");
  return v->value.get<int64_t>();
}

int64_t GgufFile::get_int(const std::string& key) const {
  auto v = opt_int(key);
  if (!v) fail(path + ": missing metadata key '" + key + "'");
  return *v;
}

std::optional<double> GgufFile::opt_float(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!v->value.is_number() || v->type == GgufType::BOOL)
    fail(path + ": metadata key '" + key + "': expected a number, got " + gguf_type_name(v->type));
  return v->value.get<double>();
}

double GgufFile::get_float(const std::string& key) const {
  auto v = opt_float(key);
  if (!v) fail(path + ": missing metadata key '" + key + "'");
  return *v;
}

GgufFile parse_gguf(const uint8_t* data, size_t size, const std::string& path) {
  GgufFile f;
  f.path = path;
  Reader r(data, size, path);
  if (r.read<uint32_t>("magic") != kMagic) fail(path + ": not a GGUF file (bad magic)");
  f.version = r.read<uint32_t>("version");
  if (f.version != 2 && f.version != 3)
    fail(path + ": unsupported GGUF version " + std::to_string(f.version) + " (supported: 2, 3)");
  const uint64_t n_tensors = r.read<uint64_t>("tensor count");
  const uint64_t n_kv = r.read<uint64_t>("metadata count");
  // Each KV needs >= 8+4+1 bytes and each tensor info >= 8+4+8+4+8: reject counts the file cannot hold.
  if (n_kv > r.left() / 13) fail(path + ": metadata count " + std::to_string(n_kv) + " exceeds the file size");
  if (n_tensors > r.left() / 32) fail(path + ": tensor count " + std::to_string(n_tensors) + " exceeds the file size");

  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string item = "metadata entry " + std::to_string(i);
    std::string key = r.read_string(item + " key");
    const std::string where = "metadata key '" + key + "'";
    const uint32_t t = r.read<uint32_t>(where + " type");
    if (!valid_type(t)) fail(path + ": " + where + ": unknown value type " + std::to_string(t));
    GgufValue v;
    v.type = static_cast<GgufType>(t);
    if (v.type == GgufType::ARRAY) {
      const uint32_t et = r.read<uint32_t>(where + " array type");
      if (!valid_type(et) || et == static_cast<uint32_t>(GgufType::ARRAY))
        fail(path + ": " + where + ": unsupported array element type " + std::to_string(et));
      v.elem_type = static_cast<GgufType>(et);
      const uint64_t n = r.read<uint64_t>(where + " array length");
      if (n > r.left() / scalar_size(v.elem_type))
        fail(path + ": " + where + ": array length " + std::to_string(n) + " exceeds the file");
      v.value = json::array();
      for (uint64_t k = 0; k < n; ++k) v.value.push_back(read_scalar(r, v.elem_type, where));
    } else {
      v.value = read_scalar(r, v.type, where);
    }
    if (f.kv.count(key)) fail(path + ": duplicate " + where);
    f.kv_order.push_back(key);
    f.kv.emplace(std::move(key), std::move(v));
  }

  if (const GgufValue* a = f.find("general.alignment")) {
    if (a->type != GgufType::U32) fail(path + ": metadata key 'general.alignment': expected uint32");
    f.alignment = a->value.get<uint32_t>();
    if (f.alignment == 0 || (f.alignment & (f.alignment - 1)))
      fail(path + ": metadata key 'general.alignment': " + std::to_string(f.alignment) + " is not a power of two");
  }

  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = r.read_string("tensor info " + std::to_string(i) + " name");
    const std::string where = path + ": tensor '" + t.name + "'";
    const uint32_t nd = r.read<uint32_t>("tensor '" + t.name + "' dimension count");
    if (nd > kMaxDims) fail(where + ": " + std::to_string(nd) + " dimensions (at most 4)");
    unsigned __int128 numel = 1;
    for (uint32_t d = 0; d < nd; ++d) {
      const uint64_t ne = r.read<uint64_t>("tensor '" + t.name + "' dimensions");
      if (ne > (1ull << 62)) fail(where + ": dimension " + std::to_string(d) + " is too large");
      t.ne.push_back(static_cast<int64_t>(ne));
      numel *= ne;
      if (numel > (static_cast<unsigned __int128>(1) << 62)) fail(where + ": shape is too large");
    }
    t.ggml_type = r.read<uint32_t>("tensor '" + t.name + "' type");
    auto dt = dtype_of_ggml(t.ggml_type);
    if (!dt)
      fail(where + ": unsupported ggml type " + std::to_string(t.ggml_type) +
           " (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS)");
    t.offset = r.read<uint64_t>("tensor '" + t.name + "' offset");
    if (t.offset % f.alignment != 0)
      fail(where + ": data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
           std::to_string(f.alignment));
    const int64_t be = dtype_block_elems(*dt);
    const int64_t ne0 = t.ne.empty() ? 1 : t.ne[0];
    if (ne0 % be != 0)
      fail(where + ": row length " + std::to_string(ne0) + " is not a multiple of the " + dtype_name(*dt) +
           " block size " + std::to_string(be));
    t.view.name = t.name;
    t.view.dtype = *dt;
    t.view.file = path;
    t.view.shape.assign(t.ne.rbegin(), t.ne.rend());
    t.view.nbytes = static_cast<size_t>(numel / be * dtype_block_bytes(*dt));
    for (const auto& o : f.tensors)
      if (o.name == t.name) fail(where + ": duplicate tensor name");
    f.tensors.push_back(std::move(t));
  }

  f.data_offset = align_up(r.pos(), f.alignment);
  if (f.data_offset > size && !f.tensors.empty())
    fail(path + ": data section at byte " + std::to_string(f.data_offset) + " lies past the end of the file");
  const uint64_t data_size = f.data_offset > size ? 0 : size - f.data_offset;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto& t : f.tensors) {
    if (t.offset > data_size || t.view.nbytes > data_size - t.offset)
      fail(path + ": tensor '" + t.name + "': data [" + std::to_string(t.offset) + ", +" +
           std::to_string(t.view.nbytes) + ") lies outside the data section (" + std::to_string(data_size) +
           " bytes)");
    t.view.data = data + f.data_offset + t.offset;
    if (t.view.nbytes) ranges.emplace_back(t.offset, t.offset + t.view.nbytes);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      fail(path + ": tensor data ranges overlap at data offset " + std::to_string(ranges[i].first));
  return f;
}

// ---- name mapping (spec §4.3) ----

namespace {

struct NamePair {
  const char* hf;    // suffix after the layer prefix (or the whole name for globals)
  const char* gguf;
};

const std::vector<NamePair>& layer_names(const std::string& arch) {
  static const std::vector<NamePair> v4{
      {"self_attn.q_proj", "attn_q"},          {"self_attn.k_proj", "attn_k"},
      {"self_attn.v_proj", "attn_v"},          {"self_attn.o_proj", "attn_output"},
      {"self_attn.q_norm", "attn_q_norm"},     {"self_attn.k_norm", "attn_k_norm"},
      {"post_attention_layernorm", "post_attention_norm"},
      {"mlp.gate_proj", "ffn_gate"},           {"mlp.up_proj", "ffn_up"},
      {"mlp.down_proj", "ffn_down"},           {"post_feedforward_layernorm", "post_ffw_norm"}};
  static const std::vector<NamePair> v3{
      {"attn.attention.q_proj", "attn_q"},     {"attn.attention.k_proj", "attn_k"},
      {"attn.attention.v_proj", "attn_v"},     {"attn.attention.out_proj", "attn_output"},
      {"ln_1", "attn_norm"},                   {"ln_2", "ffn_norm"},
      {"mlp.c_fc_0", "ffn_gate"},              {"mlp.c_fc_1", "ffn_up"},
      {"mlp.c_proj", "ffn_down"}};
  // K-EXAONE: pre-norm (attn_norm / ffn_norm as llama.cpp's exaone-moe graph), dense or MoE MLP. The
  // stacked expert tensors get internal names (HF stores them per expert, or gate and up fused).
  static const std::vector<NamePair> moe{
      {"self_attn.q_proj", "attn_q"},          {"self_attn.k_proj", "attn_k"},
      {"self_attn.v_proj", "attn_v"},          {"self_attn.o_proj", "attn_output"},
      {"self_attn.q_norm", "attn_q_norm"},     {"self_attn.k_norm", "attn_k_norm"},
      {"input_layernorm", "attn_norm"},        {"post_attention_layernorm", "ffn_norm"},
      {"mlp.gate_proj", "ffn_gate"},           {"mlp.up_proj", "ffn_up"},
      {"mlp.down_proj", "ffn_down"},           {"mlp.gate", "ffn_gate_inp"},
      {"mlp.experts.gate_exps", "ffn_gate_exps"}, {"mlp.experts.up_exps", "ffn_up_exps"},
      {"mlp.experts.down_exps", "ffn_down_exps"},
      {"mlp.shared_experts.gate_proj", "ffn_gate_shexp"}, {"mlp.shared_experts.up_proj", "ffn_up_shexp"},
      {"mlp.shared_experts.down_proj", "ffn_down_shexp"}};
  static const std::vector<NamePair> none;
  return arch == "exaone4" ? v4 : arch == "exaone" ? v3 : arch == "exaone-moe" ? moe : none;
}

const std::vector<NamePair>& global_names(const std::string& arch) {
  static const std::vector<NamePair> v4{
      {"model.embed_tokens", "token_embd"}, {"model.norm", "output_norm"}, {"lm_head", "output"}};
  static const std::vector<NamePair> v3{
      {"transformer.wte", "token_embd"}, {"transformer.ln_f", "output_norm"}, {"lm_head", "output"}};
  static const std::vector<NamePair> none;
  return arch == "exaone4" || arch == "exaone-moe" ? v4 : arch == "exaone" ? v3 : none;
}

const char* hf_layer_prefix(const std::string& arch) { return arch == "exaone" ? "transformer.h." : "model.layers."; }

// The router's correction bias is the one ".bias" tensor: blk.N.exp_probs_b.bias.
constexpr const char* kHfBias = "mlp.gate.e_score_correction_bias";
constexpr const char* kHfBiasReleased = "mlp.e_score_correction_bias";
constexpr const char* kGgufBias = "exp_probs_b.bias";

// Splits "<prefix><N>.<rest>" into N and rest.
bool split_layer(const std::string& s, const std::string& prefix, std::string& n, std::string& rest) {
  if (s.compare(0, prefix.size(), prefix) != 0) return false;
  size_t i = prefix.size(), j = i;
  while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
  if (j == i || j >= s.size() || s[j] != '.' || j - i > 6) return false;
  n = s.substr(i, j - i);
  rest = s.substr(j + 1);
  return true;
}

}  // namespace

std::string gguf_to_hf_name(const std::string& arch, const std::string& g) {
  if (arch == "exaone-moe") {
    std::string n, rest;
    if (split_layer(g, "blk.", n, rest) && rest == kGgufBias) return "model.layers." + n + "." + kHfBias;
  }
  const std::string suffix = ".weight";
  if (g.size() <= suffix.size() || g.compare(g.size() - suffix.size(), suffix.size(), suffix) != 0) return "";
  const std::string base = g.substr(0, g.size() - suffix.size());
  for (const auto& p : global_names(arch))
    if (base == p.gguf) return std::string(p.hf) + suffix;
  std::string n, rest;
  if (!split_layer(base, "blk.", n, rest)) return "";
  for (const auto& p : layer_names(arch))
    if (rest == p.gguf) return hf_layer_prefix(arch) + n + "." + p.hf + suffix;
  return "";
}

std::string hf_to_gguf_name(const std::string& arch, const std::string& h) {
  if (arch == "exaone-moe") {
    std::string n, rest;
    if (split_layer(h, "model.layers.", n, rest) && (rest == kHfBias || rest == kHfBiasReleased))
      return "blk." + n + "." + kGgufBias;
  }
  const std::string suffix = ".weight";
  if (h.size() <= suffix.size() || h.compare(h.size() - suffix.size(), suffix.size(), suffix) != 0) return "";
  const std::string base = h.substr(0, h.size() - suffix.size());
  for (const auto& p : global_names(arch))
    if (base == p.hf) return std::string(p.gguf) + suffix;
  std::string n, rest;
  if (layer_names(arch).empty() || !split_layer(base, hf_layer_prefix(arch), n, rest)) return "";
  for (const auto& p : layer_names(arch))
    if (rest == p.hf) return "blk." + n + "." + p.gguf + suffix;
  return "";
}

namespace {

// NextN head tensors of llama.cpp (blk.<n_main>.nextn.*) and the mtp.* names they come from.
const std::vector<NamePair>& nextn_names() {
  static const std::vector<NamePair> v{{"mtp.fc", "nextn.eh_proj"},
                                       {"mtp.pre_fc_norm_embedding", "nextn.enorm"},
                                       {"mtp.pre_fc_norm_hidden", "nextn.hnorm"},
                                       {"mtp.norm", "nextn.shared_head_norm"}};
  return v;
}

}  // namespace

std::string hf_mtp_to_gguf_name(const std::string& arch, const std::string& h, int64_t n_main) {
  if (arch != "exaone-moe") return "";
  const std::string blk = "blk." + std::to_string(n_main) + ".";
  for (const auto& p : nextn_names())
    if (h == std::string(p.hf) + ".weight") return blk + p.gguf + ".weight";
  const std::string pre = "mtp.layers.0.";
  if (h.compare(0, pre.size(), pre) != 0) return "";
  const std::string g = hf_to_gguf_name(arch, "model.layers.0." + h.substr(pre.size()));
  return g.empty() ? "" : blk + g.substr(std::string("blk.0.").size());
}

std::string gguf_to_hf_mtp_name(const std::string& arch, const std::string& g, int64_t n_main) {
  if (arch != "exaone-moe") return "";
  const std::string blk = "blk." + std::to_string(n_main) + ".";
  if (g.compare(0, blk.size(), blk) != 0) return "";
  for (const auto& p : nextn_names())
    if (g == blk + p.gguf + ".weight") return std::string(p.hf) + ".weight";
  const std::string h = gguf_to_hf_name(arch, "blk.0." + g.substr(blk.size()));
  const std::string pre = "model.layers.0.";
  return h.compare(0, pre.size(), pre) == 0 ? "mtp.layers.0." + h.substr(pre.size()) : "";
}

GgufFile load_gguf_checkpoint(const std::string& path, WeightStore& store) {
  const MappedFile& m = store.add_file(MappedFile(path));
  GgufFile f = parse_gguf(m.data(), m.size(), path);
  const std::string arch = f.get_string("general.architecture");
  if (arch != "exaone4" && arch != "exaone" && arch != "exaone-moe")
    fail(path + ": metadata key 'general.architecture': unsupported architecture '" + arch +
         "' (supported: exaone4, exaone, exaone-moe)");
  // A complete NextN head after the main layers is bound as the MTP layer (mtp.*); an incomplete
  // one, like any further NextN block, stays unbound as before.
  int64_t n_main = -1;
  if (auto nextn = f.opt_int(arch + ".nextn_predict_layers"); nextn && *nextn > 0) {
    const int64_t main = f.opt_int(arch + ".block_count").value_or(0) - *nextn;
    bool complete = main >= 0;
    for (const auto& p : nextn_names())
      complete = complete && f.find_tensor("blk." + std::to_string(main) + "." + p.gguf + ".weight");
    if (complete && !gguf_to_hf_mtp_name(arch, "blk." + std::to_string(main) + ".attn_q.weight", main).empty())
      n_main = main;
  }
  for (const auto& t : f.tensors) {
    std::string hf = n_main >= 0 ? gguf_to_hf_mtp_name(arch, t.name, n_main) : "";
    if (hf.empty()) hf = gguf_to_hf_name(arch, t.name);
    if (hf.empty()) continue;  // rope_freqs, NextN layers...: not bound by name
    TensorView v = t.view;
    v.name = hf;
    store.add(std::move(v));
  }
  return f;
}

// ---- writer ----

void GgufWriter::set(const std::string& key, GgufType type, json value) {
  if (type == GgufType::ARRAY) fail("gguf writer: key '" + key + "': use set_array");
  if (key == "general.alignment") alignment_ = value.get<uint32_t>();
  for (auto& [k, v] : kv_)
    if (k == key) {
      v = GgufValue{type, GgufType::U32, std::move(value)};
      return;
    }
  kv_.emplace_back(key, GgufValue{type, GgufType::U32, std::move(value)});
}

void GgufWriter::set_array(const std::string& key, GgufType elem_type, json values) {
  if (!values.is_array()) fail("gguf writer: key '" + key + "': expected an array value");
  for (auto& [k, v] : kv_)
    if (k == key) {
      v = GgufValue{GgufType::ARRAY, elem_type, std::move(values)};
      return;
    }
  kv_.emplace_back(key, GgufValue{GgufType::ARRAY, elem_type, std::move(values)});
}

void GgufWriter::add_tensor(const std::string& name, DType dtype, std::vector<int64_t> shape,
                            std::vector<uint8_t> bytes) {
  int64_t numel = 1;
  for (auto d : shape) numel *= d;
  const int64_t cols = shape.empty() ? 1 : shape.back();
  if (cols % dtype_block_elems(dtype) != 0)
    fail("gguf writer: tensor '" + name + "': row length " + std::to_string(cols) + " does not fit " +
         dtype_name(dtype) + " blocks");
  if (bytes.size() != dtype_bytes_for(dtype, numel))
    fail("gguf writer: tensor '" + name + "': " + std::to_string(bytes.size()) + " bytes for " +
         std::to_string(numel) + " " + dtype_name(dtype) + " elements");
  tensors_.push_back({name, dtype, std::move(shape), std::move(bytes)});
}

std::vector<uint8_t> GgufWriter::serialize() const {
  std::vector<uint8_t> out;
  put<uint32_t>(out, kMagic);
  put<uint32_t>(out, 3);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, kv_.size());
  for (const auto& [key, v] : kv_) {
    put_string(out, key);
    put<uint32_t>(out, static_cast<uint32_t>(v.type));
    if (v.type == GgufType::ARRAY) {
      put<uint32_t>(out, static_cast<uint32_t>(v.elem_type));
      put<uint64_t>(out, v.value.size());
      for (const auto& e : v.value) put_scalar(out, v.elem_type, e, key);
    } else {
      put_scalar(out, v.type, v.value, key);
    }
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_string(out, t.name);
    put<uint32_t>(out, static_cast<uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) put<uint64_t>(out, static_cast<uint64_t>(*it));
    put<uint32_t>(out, ggml_type_of(t.dtype));
    put<uint64_t>(out, offset);
    offset = align_up(offset + t.bytes.size(), alignment_);
  }
  out.resize(align_up(out.size(), alignment_), 0);
  for (const auto& t : tensors_) {
    put_bytes(out, t.bytes.data(), t.bytes.size());
    out.resize(align_up(out.size(), alignment_), 0);
  }
  return out;
}

void GgufWriter::write(const std::string& path) const {
  const std::vector<uint8_t> bytes = serialize();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream os(tmp, std::ios::binary | std::ios::trunc);
    if (!os) fail(path + ": cannot create file");
    os.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!os) fail(path + ": write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) fail(path + ": cannot rename temporary file: " + ec.message());
}

}  // namespace exaone
