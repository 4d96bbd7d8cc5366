#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <map>
#include <unordered_set>

#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"
#include "util/error.h"
#include <nlohmann/json.hpp>

#include "util/json_file.h"
#include "util/paths.h"

namespace exaone {

using tok::BpeModel;
using tok::BpeOptions;
using tok::PreTokenizer;
using tok::Regex;
using tok::SplitBehavior;
using tok::TokenMap;

namespace {

// The K-EXAONE Split pattern as its tokenizer.json declares it (spec section 5.2); used for GGUF pre "exaone-moe".
constexpr const char* kKExaoneRegex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+)";

// Byte trie over added-token contents, searched leftmost-longest like HF's aho-corasick (MatchKind::LeftmostLongest).
class AddedTrie {
 public:
  void add(std::string_view content, int token_index) {
    if (content.empty()) return;
    int node = 0;
    if (nodes_.empty()) nodes_.emplace_back();
    first_byte_[static_cast<unsigned char>(content[0])] = true;
    for (unsigned char c : content) {
      int child = -1;
      for (auto& [byte, idx] : nodes_[node].children)
        if (byte == c) child = idx;
      if (child < 0) {
        child = static_cast<int>(nodes_.size());
        nodes_[node].children.emplace_back(c, child);
        nodes_.emplace_back();
      }
      node = child;
    }
    if (nodes_[node].token < 0) nodes_[node].token = token_index;  // first pattern wins on duplicates
  }
  bool empty() const { return nodes_.empty(); }

  // Finds the leftmost match at or after `from`, longest among those starting there.
  bool find(std::string_view text, size_t from, size_t& start, size_t& end, int& token) const {
    if (nodes_.empty()) return false;
    for (size_t pos = from; pos < text.size(); ++pos) {
      if (!first_byte_[static_cast<unsigned char>(text[pos])]) continue;
      int node = 0, best = -1;
      size_t best_end = 0;
      for (size_t i = pos; i < text.size(); ++i) {
        int child = -1;
        for (auto& [byte, idx] : nodes_[node].children)
          if (byte == static_cast<unsigned char>(text[i])) child = idx;
        if (child < 0) break;
        node = child;
        if (nodes_[node].token >= 0) {
          best = nodes_[node].token;
          best_end = i + 1;
        }
      }
      if (best >= 0) {
        start = pos;
        end = best_end;
        token = best;
        return true;
      }
    }
    return false;
  }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int>> children;
    int token = -1;
  };
  std::vector<Node> nodes_;
  bool first_byte_[256] = {};
};

enum class DecoderKind { ByteLevel, Join };

// Tokenizer files are read with nlohmann::json (std::map objects): the project's ordered_json has linear-time
// key insertion, which makes a 100k-entry vocabulary take seconds to parse.
using tjson = nlohmann::json;

tjson parse_tjson(const std::string& text, const std::string& where) {
  try {
    return tjson::parse(text);
  } catch (const tjson::parse_error& e) {
    fail(where + ": invalid JSON at byte " + std::to_string(e.byte));
  } catch (const tjson::exception& e) {  // e.g. a number too large for a double
    fail(where + ": invalid JSON: " + e.what());
  }
}

tjson read_tjson(const std::string& path) { return parse_tjson(read_text_file(path), path); }

std::optional<std::string> jstring(const tjson& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) fail(where + ": field '" + key + "': expected string, got " + it->type_name());
  return it->get<std::string>();
}

std::optional<bool> jbool(const tjson& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) fail(where + ": field '" + key + "': expected boolean, got " + it->type_name());
  return it->get<bool>();
}

std::optional<double> jnumber(const tjson& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) fail(where + ": field '" + key + "': expected number, got " + it->type_name());
  return it->get<double>();
}

bool get_bool(const tjson& j, const char* key, bool def, const std::string& where) {
  return jbool(j, key, where).value_or(def);
}

}  // namespace

struct Tokenizer::Impl {
  std::unique_ptr<BpeModel> model;
  PreTokenizer pre;
  bool nfc = false;
  DecoderKind decoder = DecoderKind::ByteLevel;

  std::vector<AddedTokenSpec> added;  // unique by id, HF order (special first, then the others)
  AddedTrie raw_trie, normalized_trie;
  std::shared_ptr<const Regex> word_char;  // Rust regex \w, for single_word

  TokenMap token_to_id;                // added tokens override the model vocabulary
  std::vector<std::string> id_token;   // id -> token text
  std::vector<std::string> id_bytes;   // id -> decoder output bytes
  std::vector<uint8_t> id_flags;       // bit 0: has a token, bit 1: special
  std::optional<int> bos, eos;

  void finish();
  template <class Emit>
  void split_added(std::string_view text, const AddedTrie& trie, Emit&& emit) const;
  void encode_into(std::string_view text, std::vector<int>& out) const;
  void check_id(int id, size_t position) const;
};

// ---------------------------------------------------------------------------------------------------------------
// Added tokens (HF AddedVocabulary::find_matches).

template <class Emit>
void Tokenizer::Impl::split_added(std::string_view s, const AddedTrie& trie, Emit&& emit) const {
  auto starts_with_word = [&](size_t pos) {
    if (pos >= s.size()) return false;
    size_t len = unicode::valid_sequence_length(s, pos);
    return word_char->full_match(s.substr(pos, len));
  };
  auto ends_with_word = [&](size_t pos) {
    if (pos == 0) return false;
    size_t b = pos - 1;
    while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
    return word_char->full_match(s.substr(b, pos - b));
  };
  size_t start_offset = 0, search = 0;
  size_t mstart, mend;
  int token;
  while (trie.find(s, search, mstart, mend, token)) {
    search = mend;
    const AddedTokenSpec& t = added[token];
    size_t start = mstart, stop = mend;
    if (t.single_word) {
      bool start_space = start == 0 || !ends_with_word(start);
      bool stop_space = stop == s.size() || !starts_with_word(stop);
      if (!start_space || !stop_space) continue;
    }
    if (t.lstrip) {
      size_t b = start;  // start of the whitespace run ending at `start`
      while (b > 0) {
        size_t c = b - 1;
        while (c > 0 && (static_cast<unsigned char>(s[c]) & 0xC0) == 0x80) --c;
        size_t len;
        if (!unicode::is_whitespace(unicode::decode_at(s, c, len))) break;
        b = c;
      }
      start = std::max(b, start_offset);
    }
    if (t.rstrip) {
      while (stop < s.size()) {
        size_t len;
        if (!unicode::is_whitespace(unicode::decode_at(s, stop, len))) break;
        stop += len;
      }
    }
    if (start_offset < start) emit(s.substr(start_offset, start - start_offset), -1);
    emit(std::string_view{}, t.id);
    start_offset = stop;
  }
  if (start_offset < s.size()) emit(s.substr(start_offset), -1);
}

void Tokenizer::Impl::encode_into(std::string_view text, std::vector<int>& out) const {
  thread_local std::vector<std::string_view> pieces;
  tok::PieceArena arena;
  const bool maps_bytes = pre.model_maps_bytes();
  auto tokenize_plain = [&](std::string_view seg) {
    if (seg.empty()) return;
    pieces.clear();
    if (pre.empty())
      pieces.push_back(seg);
    else
      pre.split(seg, pieces, arena);
    for (std::string_view p : pieces) model->tokenize(p, maps_bytes, out);
    arena.clear();
  };
  split_added(text, raw_trie, [&](std::string_view seg, int id) {
    if (id >= 0) {
      out.push_back(id);
      return;
    }
    std::string normalized;
    if (nfc && !unicode::quick_is_nfc(seg)) {
      normalized = unicode::nfc(seg);
      seg = normalized;
    }
    if (normalized_trie.empty()) {
      tokenize_plain(seg);
      return;
    }
    split_added(seg, normalized_trie, [&](std::string_view seg2, int id2) {
      if (id2 >= 0)
        out.push_back(id2);
      else
        tokenize_plain(seg2);
    });
  });
}

void Tokenizer::Impl::check_id(int id, size_t position) const {
  if (id < 0 || static_cast<size_t>(id) >= id_flags.size() || !(id_flags[id] & 1))
    fail("token id " + std::to_string(id) + " at position " + std::to_string(position) +
         " is not in the vocabulary (size " + std::to_string(id_flags.size()) + ")");
}

// Builds the id tables, the added-token tries and the special flags once the parts are known.
void Tokenizer::Impl::finish() {
  int max_id = -1;
  for (const auto& [text, id] : model->vocab()) max_id = std::max(max_id, id);
  for (const auto& t : added) max_id = std::max(max_id, t.id);
  id_token.assign(max_id + 1, std::string());
  id_flags.assign(max_id + 1, 0);
  for (const auto& [text, id] : model->vocab()) {
    id_token[id] = text;
    id_flags[id] |= 1;
  }
  token_to_id = model->vocab();
  std::unordered_set<std::string> special_strings;
  for (const auto& t : added) {
    id_token[t.id] = t.content;
    id_flags[t.id] |= 1;
    token_to_id[t.content] = t.id;
    if (t.special) special_strings.insert(t.content);
  }
  for (size_t id = 0; id < id_token.size(); ++id)
    if ((id_flags[id] & 1) && special_strings.count(id_token[id])) id_flags[id] |= 2;

  id_bytes.assign(id_token.size(), std::string());
  for (size_t id = 0; id < id_token.size(); ++id) {
    const std::string& t = id_token[id];
    if (decoder == DecoderKind::Join) {
      id_bytes[id] = t;
      continue;
    }
    // ByteLevel decoder: every character back to its byte, or the raw text when one is outside the alphabet.
    std::string bytes;
    bool all_mapped = true;
    for (size_t i = 0; i < t.size();) {
      size_t len = unicode::valid_sequence_length(t, i);
      if (len == 0) {
        all_mapped = false;
        break;
      }
      size_t l2;
      int b = unicode::unicode_to_byte(unicode::decode_at(t, i, l2));
      if (b < 0) {
        all_mapped = false;
        break;
      }
      bytes.push_back(static_cast<char>(b));
      i += len;
    }
    id_bytes[id] = all_mapped ? bytes : t;
  }

  for (size_t i = 0; i < added.size(); ++i) {
    const AddedTokenSpec& t = added[i];
    if (!t.normalized) {
      raw_trie.add(t.content, static_cast<int>(i));
    } else {
      normalized_trie.add(nfc && unicode::is_valid_utf8(t.content) ? unicode::nfc(t.content) : t.content,
                          static_cast<int>(i));
    }
  }
  static const std::shared_ptr<const Regex> kWordChar = std::make_shared<Regex>(
      R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}])", false, "single_word");
  word_char = kWordChar;
}

// ---------------------------------------------------------------------------------------------------------------
// Loading.

namespace {

std::string token_name(const tjson& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return {};
}

void add_pre_tokenizer(PreTokenizer& pre, const tjson& j, const std::string& where) {
  if (j.is_null()) return;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    fail(where + ": pre_tokenizer: expected an object with a 'type'");
  std::string type = j["type"].get<std::string>();
  if (type == "Sequence") {
    if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array())
      fail(where + ": pre_tokenizer Sequence: field 'pretokenizers': expected array");
    for (const auto& p : j["pretokenizers"]) add_pre_tokenizer(pre, p, where);
  } else if (type == "ByteLevel") {
    pre.add_byte_level(get_bool(j, "add_prefix_space", true, where + ": ByteLevel"),
                       get_bool(j, "use_regex", true, where + ": ByteLevel"));
  } else if (type == "Digits") {
    bool individual = get_bool(j, "individual_digits", false, where + ": Digits");
    static const auto digit = std::make_shared<Regex>(R"(\p{N})", false, "Digits");
    pre.add_split(digit, individual ? SplitBehavior::Isolated : SplitBehavior::Contiguous, false);
  } else if (type == "Split") {
    const std::string w = where + ": pre_tokenizer Split";
    if (!j.contains("pattern") || !j["pattern"].is_object()) fail(w + ": field 'pattern': expected object");
    const tjson& pat = j["pattern"];
    std::shared_ptr<const Regex> re;
    if (pat.contains("String") && pat["String"].is_string())
      re = std::make_shared<Regex>(pat["String"].get<std::string>(), true, w);
    else if (pat.contains("Regex") && pat["Regex"].is_string())
      re = std::make_shared<Regex>(pat["Regex"].get<std::string>(), false, w);
    else
      fail(w + ": field 'pattern': expected {\"String\": ...} or {\"Regex\": ...}");
    static const std::map<std::string, SplitBehavior> behaviors = {
        {"Removed", SplitBehavior::Removed},
        {"Isolated", SplitBehavior::Isolated},
        {"MergedWithPrevious", SplitBehavior::MergedWithPrevious},
        {"MergedWithNext", SplitBehavior::MergedWithNext},
        {"Contiguous", SplitBehavior::Contiguous}};
    std::string behavior = jstring(j, "behavior", w).value_or("");
    auto it = behaviors.find(behavior);
    if (it == behaviors.end()) fail(w + ": field 'behavior': unknown value '" + behavior + "'");
    pre.add_split(re, it->second, get_bool(j, "invert", false, w));
  } else if (type == "Whitespace") {
    static const auto word = std::make_shared<Regex>(R"(\w+|[^\w\s]+)", false, "Whitespace");
    pre.add_split(word, SplitBehavior::Removed, true);
  } else if (type == "WhitespaceSplit") {
    static const auto space = std::make_shared<Regex>(R"(\s)", false, "WhitespaceSplit");
    pre.add_split(space, SplitBehavior::Removed, false);
  } else if (type == "Punctuation") {
    static const auto punct = std::make_shared<Regex>(R"([\p{P}!-/:-@\[-`{-~])", false, "Punctuation");
    std::string behavior = jstring(j, "behavior", where).value_or("Isolated");
    SplitBehavior b = behavior == "Removed"              ? SplitBehavior::Removed
                      : behavior == "MergedWithPrevious" ? SplitBehavior::MergedWithPrevious
                      : behavior == "MergedWithNext"     ? SplitBehavior::MergedWithNext
                      : behavior == "Contiguous"         ? SplitBehavior::Contiguous
                                                         : SplitBehavior::Isolated;
    pre.add_split(punct, b, false);
  } else {
    fail(where + ": pre_tokenizer type '" + type +
         "' is not supported (Sequence, ByteLevel, Digits, Split, Whitespace, WhitespaceSplit, Punctuation)");
  }
}

bool parse_normalizer(const tjson& j, const std::string& where) {
  if (j.is_null()) return false;
  std::string type = j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>() : "";
  if (type == "NFC") return true;
  if (type == "Sequence" && j.contains("normalizers") && j["normalizers"].is_array()) {
    bool any = false;
    for (const auto& n : j["normalizers"]) any = parse_normalizer(n, where) || any;
    return any;
  }
  fail(where + ": normalizer '" + (type.empty() ? j.dump() : type) + "' is not supported (only none or NFC)");
}

DecoderKind parse_decoder(const tjson& j, const std::string& where) {
  if (j.is_null()) return DecoderKind::Join;
  std::string type = j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>() : "";
  if (type == "ByteLevel") return DecoderKind::ByteLevel;
  if (type == "Sequence" && j.contains("decoders") && j["decoders"].is_array() && j["decoders"].size() == 1)
    return parse_decoder(j["decoders"][0], where);
  fail(where + ": decoder '" + (type.empty() ? j.dump() : type) + "' is not supported (only ByteLevel)");
}

TokenMap parse_vocab(const tjson& v, const std::string& where) {
  if (!v.is_object()) fail(where + ": vocab: expected an object of token -> id");
  TokenMap vocab;
  vocab.reserve(v.size());
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() > 0x7fffffff)
      fail(where + ": vocab: token '" + it.key() + "': expected a non-negative integer id");
    vocab[it.key()] = static_cast<int>(it.value().get<int64_t>());
  }
  return vocab;
}

std::vector<std::pair<std::string, std::string>> parse_merges(const tjson& m, const std::string& where) {
  if (!m.is_array()) fail(where + ": merges: expected an array");
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(m.size());
  for (size_t i = 0; i < m.size(); ++i) {
    const tjson& e = m[i];
    if (e.is_string()) {
      const std::string& s = e.get_ref<const std::string&>();
      size_t sp = s.find(' ');
      if (sp == std::string::npos) fail(where + ": merges[" + std::to_string(i) + "]: expected \"left right\"");
      merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
    } else {
      fail(where + ": merges[" + std::to_string(i) + "]: expected \"left right\" or [\"left\", \"right\"]");
    }
  }
  return merges;
}

BpeOptions parse_bpe_options(const tjson& m, const std::string& where) {
  BpeOptions o;
  o.unk_token = jstring(m, "unk_token", where);
  o.continuing_subword_prefix = jstring(m, "continuing_subword_prefix", where).value_or("");
  o.end_of_word_suffix = jstring(m, "end_of_word_suffix", where).value_or("");
  o.fuse_unk = get_bool(m, "fuse_unk", false, where);
  o.byte_fallback = get_bool(m, "byte_fallback", false, where);
  o.ignore_merges = get_bool(m, "ignore_merges", false, where);
  if (auto d = jnumber(m, "dropout", where); d && *d != 0.0)
    fail(where + ": model.dropout " + std::to_string(*d) + " is not supported (deterministic BPE only)");
  return o;
}

AddedTokenSpec parse_added(const tjson& t, const std::string& where) {
  AddedTokenSpec a;
  auto content = jstring(t, "content", where);
  if (!content || content->empty()) fail(where + ": missing 'content'");
  a.content = *content;
  a.single_word = get_bool(t, "single_word", false, where);
  a.lstrip = get_bool(t, "lstrip", false, where);
  a.rstrip = get_bool(t, "rstrip", false, where);
  a.special = get_bool(t, "special", false, where);
  a.normalized = get_bool(t, "normalized", !a.special, where);
  return a;
}

// HF AddedVocabulary::add_tokens: ids come from the vocabulary when the content is there, otherwise they continue
// after the model vocabulary; specials are matched before the others (same order as HF's tries).
std::vector<AddedTokenSpec> assign_added_ids(const std::vector<AddedTokenSpec>& tokens, const TokenMap& vocab) {
  std::map<std::string, int> added_map;
  std::map<int, AddedTokenSpec> by_id;
  std::vector<std::string> specials, classics;
  std::unordered_set<std::string> special_set;
  for (const auto& t : tokens)
    if (t.special && special_set.insert(t.content).second) specials.push_back(t.content);
  int max_added = -1;
  for (const auto& t : tokens) {
    int id;
    if (auto it = added_map.find(t.content); it != added_map.end()) {
      id = it->second;
    } else if (auto vt = vocab.find(t.content); vt != vocab.end()) {
      id = vt->second;
    } else {
      int vsize = static_cast<int>(vocab.size());
      id = max_added < 0 ? vsize : (max_added >= vsize || vsize == 0 ? max_added + 1 : vsize);
    }
    added_map[t.content] = id;
    max_added = std::max(max_added, id);
    by_id[id] = t;
    by_id[id].id = id;
    if (!special_set.count(t.content)) classics.push_back(t.content);
  }
  std::vector<AddedTokenSpec> out;
  std::unordered_set<std::string> seen;
  for (const auto* list : {&specials, &classics})
    for (const auto& content : *list)
      if (seen.insert(content).second) out.push_back(by_id[added_map[content]]);
  return out;
}

// BOS/EOS from the files next to the tokenizer, in order of authority.
void read_bos_eos(Tokenizer::Impl& impl, const std::string& dir) {
  auto by_name = [&](const tjson& v) -> std::optional<int> {
    std::string name = token_name(v);
    if (name.empty()) return std::nullopt;
    auto it = impl.token_to_id.find(name);
    if (it == impl.token_to_id.end()) return std::nullopt;
    return it->second;
  };
  auto by_id = [&](const tjson& v) -> std::optional<int> {
    const tjson& x = v.is_array() && !v.empty() ? v[0] : v;
    if (x.is_number_integer() && x.get<int64_t>() >= 0 && x.get<int64_t>() < static_cast<int64_t>(impl.id_flags.size()))
      return static_cast<int>(x.get<int64_t>());
    return std::nullopt;
  };
  for (const char* file : {"tokenizer_config.json", "special_tokens_map.json"}) {
    std::string path = path_join(dir, file);
    if (!file_exists(path)) continue;
    tjson j = read_tjson(path);
    if (!j.is_object()) continue;
    if (!impl.bos && j.contains("bos_token")) impl.bos = by_name(j["bos_token"]);
    if (!impl.eos && j.contains("eos_token")) impl.eos = by_name(j["eos_token"]);
  }
  for (const char* file : {"config.json", "generation_config.json"}) {
    std::string path = path_join(dir, file);
    if (!file_exists(path)) continue;
    tjson j = read_tjson(path);
    if (!j.is_object()) continue;
    if (!impl.bos && j.contains("bos_token_id")) impl.bos = by_id(j["bos_token_id"]);
    if (!impl.eos && j.contains("eos_token_id")) impl.eos = by_id(j["eos_token_id"]);
  }
}

std::shared_ptr<Tokenizer::Impl> impl_from_json(const tjson& j, const std::string& where) {
  if (!j.is_object()) fail(where + ": expected a JSON object");
  if (!j.contains("model") || !j["model"].is_object()) fail(where + ": missing object 'model'");
  const tjson& m = j["model"];
  std::string type = jstring(m, "type", where + ": model").value_or(m.contains("merges") ? "BPE" : "");
  if (type != "BPE")
    fail(where + ": model type '" + type + "' is not supported (only BPE)");
  if (!m.contains("vocab")) fail(where + ": model: missing 'vocab'");
  if (!m.contains("merges")) fail(where + ": model: missing 'merges'");
  auto impl = std::make_shared<Tokenizer::Impl>();
  TokenMap vocab = parse_vocab(m["vocab"], where + ": model");
  auto merges = parse_merges(m["merges"], where + ": model");
  BpeOptions options = parse_bpe_options(m, where + ": model");

  std::vector<AddedTokenSpec> added;
  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    if (!j["added_tokens"].is_array()) fail(where + ": added_tokens: expected an array");
    for (size_t i = 0; i < j["added_tokens"].size(); ++i)
      added.push_back(parse_added(j["added_tokens"][i], where + ": added_tokens[" + std::to_string(i) + "]"));
  }
  impl->added = assign_added_ids(added, vocab);
  impl->nfc = parse_normalizer(j.value("normalizer", tjson()), where);
  add_pre_tokenizer(impl->pre, j.value("pre_tokenizer", tjson()), where);
  impl->decoder = parse_decoder(j.value("decoder", tjson()), where);
  impl->model = std::make_unique<BpeModel>(std::move(vocab), merges, std::move(options), where);
  impl->finish();
  return impl;
}

std::shared_ptr<Tokenizer::Impl> impl_from_vocab_merges(const std::string& dir) {
  const std::string vocab_path = path_join(dir, "vocab.json");
  const std::string merges_path = path_join(dir, "merges.txt");
  TokenMap vocab = parse_vocab(read_tjson(vocab_path), vocab_path);
  std::vector<std::pair<std::string, std::string>> merges;
  std::string text = read_text_file(merges_path);
  size_t line_no = 0;
  for (size_t i = 0; i < text.size();) {
    size_t e = text.find('\n', i);
    if (e == std::string::npos) e = text.size();
    std::string line = text.substr(i, e - i);
    i = e + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    size_t sp = line.find(' ');
    if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
      fail(merges_path + ": line " + std::to_string(line_no) + ": expected \"left right\"");
    merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }

  // Added tokens: tokenizer_config.json's added_tokens_decoder (explicit ids), else the named special tokens.
  auto impl = std::make_shared<Tokenizer::Impl>();
  bool add_prefix_space = false;
  const std::string cfg_path = path_join(dir, "tokenizer_config.json");
  tjson cfg = file_exists(cfg_path) ? read_tjson(cfg_path) : tjson::object();
  if (cfg.is_object()) add_prefix_space = get_bool(cfg, "add_prefix_space", false, cfg_path);
  std::vector<AddedTokenSpec> added;
  if (cfg.is_object() && cfg.contains("added_tokens_decoder") && cfg["added_tokens_decoder"].is_object()) {
    for (auto it = cfg["added_tokens_decoder"].begin(); it != cfg["added_tokens_decoder"].end(); ++it) {
      std::string w = cfg_path + ": added_tokens_decoder." + it.key();
      AddedTokenSpec a = parse_added(it.value(), w);
      try {
        size_t used = 0;
        a.id = std::stoi(it.key(), &used);
        if (used != it.key().size() || a.id < 0) throw std::invalid_argument("id");
      } catch (const std::exception&) {
        fail(w + ": key is not a token id");
      }
      added.push_back(a);
    }
  } else {
    const std::string map_path = path_join(dir, "special_tokens_map.json");
    tjson map = file_exists(map_path) ? read_tjson(map_path) : tjson::object();
    std::vector<tjson> names;
    if (map.is_object())
      for (auto it = map.begin(); it != map.end(); ++it) {
        if (it.value().is_array())
          for (const auto& v : it.value()) names.push_back(v);
        else
          names.push_back(it.value());
      }
    for (const tjson& v : names) {
      std::string name = token_name(v);
      auto vt = vocab.find(name);
      if (name.empty() || vt == vocab.end()) continue;
      AddedTokenSpec a;
      a.content = name;
      a.id = vt->second;
      a.special = true;
      added.push_back(a);
    }
  }
  // Specials first, then the others (HF trie order); ids as given.
  std::stable_sort(added.begin(), added.end(), [](const auto& a, const auto& b) { return a.special > b.special; });
  impl->added = added;
  impl->pre.add_byte_level(add_prefix_space, true);
  impl->decoder = DecoderKind::ByteLevel;
  impl->model = std::make_unique<BpeModel>(std::move(vocab), merges, BpeOptions{}, merges_path);
  impl->finish();
  return impl;
}

bool is_directory(const std::string& path) { return file_exists(path_join(path, ".")); }

}  // namespace

Tokenizer Tokenizer::from_json_text(const std::string& json_text, const std::string& where) {
  return Tokenizer(impl_from_json(parse_tjson(json_text, where), where));
}

Tokenizer Tokenizer::from_model_path(const std::string& path) {
  if (!file_exists(path)) fail(path + ": no such file or directory");
  std::shared_ptr<Impl> impl;
  std::string dir;
  if (is_directory(path)) {
    dir = path;
    std::string tj = path_join(path, "tokenizer.json");
    if (file_exists(tj)) {
      impl = impl_from_json(read_tjson(tj), tj);
    } else if (file_exists(path_join(path, "vocab.json")) && file_exists(path_join(path, "merges.txt"))) {
      impl = impl_from_vocab_merges(path);
    } else {
      fail(path + ": no tokenizer.json (or vocab.json + merges.txt) in this folder");
    }
  } else {
    if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0)
      fail(path + ": a GGUF file; its tokenizer is built from tokenizer.ggml.* metadata (Tokenizer::from_parts)");
    size_t slash = path.find_last_of('/');
    dir = slash == std::string::npos ? "." : path.substr(0, slash);
    impl = impl_from_json(read_tjson(path), path);
  }
  read_bos_eos(*impl, dir);
  return Tokenizer(impl);
}

Tokenizer Tokenizer::from_parts(const TokenizerParts& parts) {
  const std::string where = "tokenizer parts";
  if (parts.tokens.empty()) fail(where + ": no tokens");
  if (!parts.token_types.empty() && parts.token_types.size() != parts.tokens.size())
    fail(where + ": " + std::to_string(parts.token_types.size()) + " token types for " +
         std::to_string(parts.tokens.size()) + " tokens");
  auto impl = std::make_shared<Impl>();
  TokenMap vocab;
  vocab.reserve(parts.tokens.size());
  for (size_t id = 0; id < parts.tokens.size(); ++id) vocab.emplace(parts.tokens[id], static_cast<int>(id));
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(parts.merges.size());
  for (size_t i = 0; i < parts.merges.size(); ++i) {
    size_t sp = parts.merges[i].find(' ');
    if (sp == std::string::npos) fail(where + ": merge " + std::to_string(i) + ": expected \"left right\"");
    merges.emplace_back(parts.merges[i].substr(0, sp), parts.merges[i].substr(sp + 1));
  }
  std::vector<AddedTokenSpec> specials, others;
  for (size_t id = 0; id < parts.token_types.size(); ++id) {
    int type = parts.token_types[id];
    if (type != 3 && type != 4) continue;
    AddedTokenSpec a;
    a.content = parts.tokens[id];
    a.id = static_cast<int>(id);
    a.special = type == 3;
    if (a.content.empty()) continue;
    (a.special ? specials : others).push_back(a);
  }
  impl->added = specials;
  impl->added.insert(impl->added.end(), others.begin(), others.end());

  if (parts.pre == "exaone") {
    auto digit = std::make_shared<Regex>(R"(\p{N})", false, "Digits");
    impl->pre.add_split(digit, SplitBehavior::Isolated, false);
    impl->pre.add_byte_level(false, true);
  } else if (parts.pre == "exaone4" || parts.pre == "gpt2" || parts.pre == "default") {
    impl->pre.add_byte_level(false, true);
  } else if (parts.pre == "exaone-moe") {
    impl->pre.add_split(std::make_shared<Regex>(kKExaoneRegex, false, "exaone-moe"), SplitBehavior::Isolated, false);
    impl->pre.add_byte_level(false, false);
  } else {
    fail(where + ": pre-tokenizer '" + parts.pre + "' is not supported (exaone, exaone4, gpt2, exaone-moe)");
  }
  impl->decoder = DecoderKind::ByteLevel;
  impl->model = std::make_unique<BpeModel>(std::move(vocab), merges, BpeOptions{}, where);
  impl->finish();
  auto valid = [&](std::optional<int> id) -> std::optional<int> {
    if (id && (*id < 0 || *id >= static_cast<int>(impl->id_flags.size())))
      fail(where + ": special token id " + std::to_string(*id) + " is out of range");
    return id;
  };
  impl->bos = valid(parts.bos_id);
  impl->eos = valid(parts.eos_id);
  return Tokenizer(impl);
}

// ---------------------------------------------------------------------------------------------------------------

std::vector<int> Tokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int> out;
  out.reserve(text.size() / 3 + 4);
  if (add_bos) {
    if (!impl_->bos) fail("tokenizer: this model declares no BOS token (tokenizer_config.json bos_token)");
    out.push_back(*impl_->bos);
  }
  if (text.empty()) return out;
  if (unicode::is_valid_utf8(text)) {
    impl_->encode_into(text, out);
  } else {
    std::string cleaned = unicode::to_valid_utf8(text);
    impl_->encode_into(cleaned, out);
  }
  return out;
}

std::string Tokenizer::decode(std::span<const int> ids, bool skip_special) const {
  std::string bytes;
  bool first = true;
  for (size_t i = 0; i < ids.size(); ++i) {
    int id = ids[i];
    impl_->check_id(id, i);
    if (skip_special && (impl_->id_flags[id] & 2)) continue;
    if (impl_->decoder == DecoderKind::Join && !first) bytes.push_back(' ');
    first = false;
    bytes += impl_->id_bytes[id];
  }
  return unicode::is_valid_utf8(bytes) ? bytes : unicode::to_valid_utf8(bytes);
}

std::optional<int> Tokenizer::token_id(std::string_view token) const {
  auto it = impl_->token_to_id.find(token);
  if (it == impl_->token_to_id.end()) return std::nullopt;
  return it->second;
}

std::string Tokenizer::token_text(int id) const {
  impl_->check_id(id, 0);
  return impl_->id_token[id];
}

bool Tokenizer::is_special(int id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->id_flags.size() && (impl_->id_flags[id] & 2);
}

int Tokenizer::vocab_size() const { return static_cast<int>(impl_->id_flags.size()); }
std::optional<int> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<int> Tokenizer::eos_id() const { return impl_->eos; }
const std::vector<AddedTokenSpec>& Tokenizer::added_tokens() const { return impl_->added; }

std::string_view Tokenizer::token_bytes(int id, bool skip_special) const {
  impl_->check_id(id, 0);
  if (skip_special && (impl_->id_flags[id] & 2)) return {};
  return impl_->id_bytes[id];
}

std::string_view Tokenizer::token_separator() const { return impl_->decoder == DecoderKind::Join ? " " : ""; }

// ---------------------------------------------------------------------------------------------------------------

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(tokenizer), skip_special_(skip_special) {}

std::string StreamingDecoder::push(int id) {
  if (skip_special_ && tokenizer_.is_special(id)) {
    tokenizer_.token_bytes(id, true);  // still validates the id
    return {};
  }
  std::string_view bytes = tokenizer_.token_bytes(id, skip_special_);
  if (!first_) pending_.append(tokenizer_.token_separator());
  first_ = false;
  pending_.append(bytes);
  std::string out;
  size_t used = unicode::append_valid_prefix(pending_, out);
  pending_.erase(0, used);
  return out;
}

std::string StreamingDecoder::flush() {
  std::string out = unicode::to_valid_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace exaone
