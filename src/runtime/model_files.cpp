#include "runtime/model_files.h"

#include <cstring>
#include <fstream>
#include <unordered_set>

#include "util/error.h"
#include "util/mapped_file.h"

namespace exaone {

namespace {

bool has_suffix(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// The string array under `key`, or Error naming it.
std::vector<std::string> string_array(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.find(key);
  if (!v) fail(f.path + ": missing metadata key '" + key + "'");
  if (v->type != GgufType::ARRAY || v->elem_type != GgufType::STRING)
    fail(f.path + ": metadata key '" + key + "': expected an array of strings");
  std::vector<std::string> out;
  out.reserve(v->value.size());
  for (const auto& e : v->value) out.push_back(e.get<std::string>());
  return out;
}

bool is_integer_type(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16:
    case GgufType::U32: case GgufType::I32: case GgufType::U64: case GgufType::I64: return true;
    default: return false;
  }
}

// Optional token id under `key`, checked against the vocabulary size.
std::optional<int> token_id(const GgufFile& f, const std::string& key, size_t n_tokens) {
  auto v = f.opt_int(key);
  if (!v) return std::nullopt;
  if (*v < 0 || *v >= static_cast<int64_t>(n_tokens))
    fail(f.path + ": metadata key '" + key + "': token id " + std::to_string(*v) + " is outside the " +
         std::to_string(n_tokens) + " tokens");
  return static_cast<int>(*v);
}

GgufFile parse_file(const std::string& path, MappedFile& keep) {
  keep = MappedFile(path);
  return parse_gguf(keep.data(), keep.size(), path);
}

}  // namespace

bool is_gguf_path(const std::string& path) {
  if (has_suffix(path, ".gguf")) return true;
  std::ifstream is(path, std::ios::binary);
  char magic[4] = {};
  return is && is.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

TokenizerParts gguf_tokenizer_parts(const GgufFile& f) {
  if (!f.find("tokenizer.ggml.model"))
    fail(f.path + ": no tokenizer metadata (missing key 'tokenizer.ggml.model')");
  const std::string model = f.get_string("tokenizer.ggml.model");
  if (model != "gpt2")
    fail(f.path + ": metadata key 'tokenizer.ggml.model': '" + model + "' is not supported (gpt2 byte-level BPE)");
  TokenizerParts p;
  p.tokens = string_array(f, "tokenizer.ggml.tokens");
  if (p.tokens.empty()) fail(f.path + ": metadata key 'tokenizer.ggml.tokens' is empty");
  if (p.tokens.size() > static_cast<size_t>(INT32_MAX))
    fail(f.path + ": metadata key 'tokenizer.ggml.tokens': too many tokens");
  const size_t n = p.tokens.size();

  if (const GgufValue* tt = f.find("tokenizer.ggml.token_type")) {
    const std::string key = "tokenizer.ggml.token_type";
    if (tt->type != GgufType::ARRAY || !is_integer_type(tt->elem_type))
      fail(f.path + ": metadata key '" + key + "': expected an array of integers");
    if (tt->value.size() != n)
      fail(f.path + ": metadata key '" + key + "' has " + std::to_string(tt->value.size()) + " entries for " +
           std::to_string(n) + " tokens");
    p.token_types.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const int64_t t = tt->value[i].get<int64_t>();
      if (t < 1 || t > 6)
        fail(f.path + ": metadata key '" + key + "'[" + std::to_string(i) + "]: token type " + std::to_string(t) +
             " is not one of 1..6");
      if ((t == 3 || t == 4) && p.tokens[i].empty())
        fail(f.path + ": metadata key 'tokenizer.ggml.tokens'[" + std::to_string(i) + "]: empty added token");
      p.token_types.push_back(static_cast<int>(t));
    }
  }

  if (f.find("tokenizer.ggml.merges")) {
    p.merges = string_array(f, "tokenizer.ggml.merges");
    std::unordered_set<std::string> vocab(p.tokens.begin(), p.tokens.end());
    for (size_t i = 0; i < p.merges.size(); ++i) {
      const std::string& m = p.merges[i];
      const std::string where = f.path + ": metadata key 'tokenizer.ggml.merges'[" + std::to_string(i) + "]";
      const size_t sp = m.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 == m.size() || m.find(' ', sp + 1) != std::string::npos)
        fail(where + ": expected \"left right\", got \"" + m + "\"");
      const std::string a = m.substr(0, sp), b = m.substr(sp + 1);
      for (const std::string& t : {a, b, a + b})
        if (!vocab.count(t)) fail(where + ": token '" + t + "' is not in tokenizer.ggml.tokens");
    }
  }

  if (const GgufValue* pre = f.find("tokenizer.ggml.pre")) {
    (void)pre;
    p.pre = f.get_string("tokenizer.ggml.pre");
    if (p.pre != "exaone" && p.pre != "exaone4" && p.pre != "exaone-moe" && p.pre != "gpt2" && p.pre != "default")
      fail(f.path + ": metadata key 'tokenizer.ggml.pre': '" + p.pre +
           "' is not supported (exaone, exaone4, exaone-moe, gpt2, default)");
  } else {
    p.pre = "default";  // llama.cpp's default pre-tokenizer for gpt2 vocabularies without the key
  }
  p.bos_id = token_id(f, "tokenizer.ggml.bos_token_id", n);
  p.eos_id = token_id(f, "tokenizer.ggml.eos_token_id", n);
  token_id(f, "tokenizer.ggml.padding_token_id", n);
  token_id(f, "tokenizer.ggml.unknown_token_id", n);
  token_id(f, "tokenizer.ggml.eot_token_id", n);
  return p;
}

Tokenizer load_tokenizer(const std::string& path) {
  if (!is_gguf_path(path)) return Tokenizer::from_model_path(path);
  MappedFile m;
  const GgufFile f = parse_file(path, m);
  const TokenizerParts parts = gguf_tokenizer_parts(f);
  try {
    return Tokenizer::from_parts(parts);
  } catch (const Error& e) {
    fail(path + ": " + e.what());
  }
}

std::string load_chat_template_text(const std::string& path) {
  if (!is_gguf_path(path)) return chat::load_chat_template(path);
  MappedFile m;
  const GgufFile f = parse_file(path, m);
  return f.find("tokenizer.chat_template") ? f.get_string("tokenizer.chat_template") : "";
}

chat::Format load_chat_format(const std::string& path) {
  if (!is_gguf_path(path)) return chat::detect_model_format(path);
  MappedFile m;
  const GgufFile f = parse_file(path, m);
  std::string arch = f.find("general.architecture") ? f.get_string("general.architecture") : "";
  if (arch == "exaone-moe") arch = "exaone_moe";  // config.json's model_type spelling
  const std::string tmpl = f.find("tokenizer.chat_template") ? f.get_string("tokenizer.chat_template") : "";
  try {
    return chat::detect_format(arch, tmpl);
  } catch (const Error& e) {
    fail(path + ": " + e.what());
  }
}

}  // namespace exaone
